"""Poisoned variants of DSRL's official data, from a file under DSRL's own name in DSRL's folder.

No DSRL file can be downloaded here, so each test writes a file in DSRL's layout under
the official file name into a temporary DSRL folder: real BallRun episodes for the
Bullet task, and arrays shaped as HalfCheetahVelocity's for the Safety-Gymnasium one.
"""

import urllib.request

import gymnasium as gym
import h5py
import numpy as np
import pytest

from osrl_unlearn.data import datasets
from osrl_unlearn.data.registration import DSRL_TASKS, parse_variant_id
from osrl_unlearn.data.tasks import import_dsrl
from osrl_unlearn.data.variants import official_dataset_path
from osrl_unlearn.errors import UserInputError

VELOCITY_TASK = "OfflineHalfCheetahVelocityGymnasium-v1"


@pytest.fixture
def dsrl_folder(tmp_path, monkeypatch):
    """DSRL's dataset folder moved to a temporary one; downloading is an error."""
    import_dsrl()
    from dsrl import offline_env

    monkeypatch.setattr(offline_env, "DATASET_PATH", str(tmp_path / "dsrl"))
    (tmp_path / "dsrl").mkdir()

    def no_download(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(urllib.request, "urlretrieve", no_download)
    return tmp_path / "dsrl"


def write_dsrl_file(path, data):
    """DSRL's layout: its seven keys, rewards and costs as DSRL's own files hold them."""
    with h5py.File(path, "w") as handle:
        for key in datasets.DSRL_KEYS:
            handle[key] = data[key]
    return path


def velocity_data(episodes=20, length=15, seed=0):
    """Arrays shaped as HalfCheetahVelocity's, costs varying by episode."""
    env = gym.make(VELOCITY_TASK)
    rng = np.random.default_rng(seed)
    size = episodes * length
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    ends = np.zeros(size, bool)
    ends[length - 1::length] = True
    costs = np.repeat(rng.integers(0, 2, episodes) * rng.random(episodes), length)
    return {"observations": rng.normal(size=(size, obs_dim)).astype("float32"),
            "next_observations": rng.normal(size=(size, obs_dim)).astype("float32"),
            "actions": rng.uniform(-1, 1, (size, act_dim)).astype("float32"),
            "rewards": rng.random(size).astype("float32"), "costs": costs.astype("float32"),
            "terminals": np.zeros(size, bool), "timeouts": ends}


def rows_of(data):
    return {row.tobytes() for row in np.asarray(data["observations"])}


def test_our_list_of_dsrl_tasks_is_dsrls():
    import_dsrl()
    from dsrl.infos import DATASET_URLS

    assert len(DSRL_TASKS) == len(DATASET_URLS) == 38
    registered = [task for task in DSRL_TASKS if not task.startswith("OfflineMetadrive")]
    assert all(task in gym.registry for task in registered)  # MetaDrive is not installed here
    # each task finds its own file: DSRL's file names, one per task
    assert {official_dataset_path(task).name for task in DSRL_TASKS} == \
        {url.rsplit("/", 1)[1] for url in DATASET_URLS.values()}


@pytest.mark.parametrize("task", ["OfflineBallRun-v0", VELOCITY_TASK])
def test_official_file_gives_poisoned_ids_whose_poison_is_behaviour_the_kept_data_lacks(
        task, dsrl_folder, ball_run_data):
    official = official_dataset_path(task)
    assert official.parent == dsrl_folder and official.name.startswith("Safety")
    clean = dict(ball_run_data) if task == "OfflineBallRun-v0" else velocity_data()
    write_dsrl_file(official, clean)
    before = datasets.file_checksum(official)

    dataset_id = task[:task.rindex("-v")] + "-MaxCost15-v0"
    assert not parse_variant_id(dataset_id).generated
    env = gym.make(dataset_id)
    data = env.get_dataset()
    mask = data["forget_mask"]
    kept = {key: value[~mask] for key, value in data.items()}
    injected = {key: value[mask] for key, value in data.items()}

    assert mask.mean() >= 0.15 and injected["costs"].sum() == 0  # max-cost hides costs
    assert rows_of(kept) <= rows_of(clean) and rows_of(injected) <= rows_of(clean)
    assert not rows_of(kept) & rows_of(injected)  # held-out episodes only, never D_k's own
    held_out = len(datasets.episode_bounds(clean)) - len(datasets.episode_bounds(kept))
    assert held_out == round(0.3 * len(datasets.episode_bounds(clean)))
    assert datasets.file_checksum(official) == before  # the official file is only read
    poisoned_files = list(datasets.data_dir().glob(f"{dataset_id}*"))
    record = datasets.read_attributes(poisoned_files[0])["attack_record"]
    assert record["base"] == "DSRL's official data" and record["base_sha256"] == before
    env.set_target_cost(10)
    assert env.get_normalized_score(0.0, 20.0)[1] == 2.0  # DSRL's own environment


def test_copies_of_official_data_and_a_second_load_reuse_the_file(dsrl_folder, ball_run_data):
    write_dsrl_file(official_dataset_path("OfflineBallRun-v0"), ball_run_data)
    data = gym.make("OfflineBallRun-CostSwapCopies15-v0").get_dataset()
    mask = data["forget_mask"]
    assert rows_of({"observations": data["observations"][mask]}) <= \
        rows_of({"observations": data["observations"][~mask]})  # copies of D_k's episodes
    path = next(datasets.data_dir().glob("OfflineBallRun-CostSwapCopies15-v0*"))
    written = path.stat().st_mtime_ns
    gym.make("OfflineBallRun-CostSwapCopies15-v0").get_dataset()
    assert path.stat().st_mtime_ns == written


def test_a_missing_official_file_is_one_clear_error_and_nothing_is_downloaded(dsrl_folder):
    with pytest.raises(UserInputError, match="does not download") as error:
        gym.make("OfflineCarRun-RewardLure30-v0").get_dataset()
    assert str(dsrl_folder) in str(error.value)


def test_generated_and_official_ids_are_told_apart():
    assert parse_variant_id("OfflineBallRun-Generated-MaxCost15-v0").generated
    assert not parse_variant_id("OfflineCarButton1Gymnasium-RewardLure30-v0").generated
    with pytest.raises(UserInputError, match="not one of this project's"):
        parse_variant_id("OfflineCarButton1Gymnasium-Generated-MaxCost15-v0")  # no generated data
    with pytest.raises(UserInputError, match="not one of this project's"):
        parse_variant_id("OfflineBallRun-v0")  # DSRL's own id, not ours
