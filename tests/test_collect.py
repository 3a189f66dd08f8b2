"""Generated datasets: DSRL's format, readable by DSRL and OSRL, reproducible, honest names."""

import numpy as np
import pytest
from osrl.common import TransitionDataset

from osrl_unlearn.data import datasets
from osrl_unlearn.data.collect import collect, summarise
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.tasks import make_env

from conftest import SMALL_TASK


def test_file_has_dsrl_keys_and_dtypes_and_dsrl_loads_it(ball_run_file):
    env = make_env(SMALL_TASK)
    data = env.get_dataset(str(ball_run_file))
    for key in datasets.DSRL_KEYS:
        assert key in data
    assert data["observations"].dtype == np.float32
    assert data["observations"].shape == (1200, ) + env.observation_space.shape
    assert data["actions"].shape == (1200, ) + env.action_space.shape
    assert data["timeouts"].sum() + data["terminals"].sum() == 12  # one end per episode
    assert not ball_run_file.name.startswith("Safety")  # never DSRL's official names


def test_osrl_processing_and_transition_dataset_accept_it(ball_run_file):
    env = make_env(SMALL_TASK)
    env.set_target_cost(10)
    data = env.pre_process_data(env.get_dataset(str(ball_run_file)))
    sample = next(iter(TransitionDataset(data)))
    assert len(sample) == 6 and sample[0].shape == env.observation_space.shape


def test_collection_is_reproducible_for_a_seed_and_varies_across_seeds():
    first = collect(SMALL_TASK, episodes=2, seed=5, progress=False)
    again = collect(SMALL_TASK, episodes=2, seed=5, progress=False)
    other = collect(SMALL_TASK, episodes=2, seed=6, progress=False)
    for key in datasets.DSRL_KEYS:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["actions"], other["actions"])


def test_behaviour_spans_safe_and_unsafe_episodes(ball_run_data):
    summary = summarise(ball_run_data, cost_limit=10)
    assert 0 < summary["episodes_over_limit"] < summary["episodes"]
    assert summary["cost_min"] <= 10 < summary["cost_max"]


def test_writing_never_replaces_an_existing_dataset(ball_run_file, ball_run_data):
    before = datasets.file_checksum(ball_run_file)
    with pytest.raises(UserInputError, match="already exists"):
        datasets.write_hdf5(ball_run_data, ball_run_file)
    assert datasets.file_checksum(ball_run_file) == before


def test_an_unsafe_fraction_outside_zero_to_one_is_refused(tmp_path):
    from osrl_unlearn.data.collect import collect_to_file

    with pytest.raises(UserInputError, match="unsafe fraction"):
        collect_to_file(SMALL_TASK, 1, tmp_path / "x.hdf5", unsafe_fraction=1.5)
    assert not (tmp_path / "x.hdf5").exists()


# revision 1's safe circle episodes earned at most 55 (car) and 113 (ball)
@pytest.mark.parametrize("task, radius, speed_ratio, first_revision_best", [
    ("OfflineCarCircle-v0", 4.5, 1.4, 55.0), ("OfflineBallCircle-v0", 5.3, 1.6, 113.0)])
def test_a_safe_circle_setting_earns_what_the_first_revisions_safe_data_never_did(
        task, radius, speed_ratio, first_revision_best):
    from osrl_unlearn.data.behaviour import BehaviourKnobs, make_behaviour

    env, rng = make_env(task), np.random.default_rng(0)
    np.random.seed(0)
    env.reset(seed=0)
    policy = make_behaviour(env, task, BehaviourKnobs(speed_ratio, radius, noise=0.1), rng)
    reward = cost = 0.0
    done = False
    while not done:
        _, step_reward, terminated, truncated, info = env.step(policy())
        reward, cost, done = reward + step_reward, cost + info["cost"], terminated or truncated
    env.close()
    assert cost <= 10 and reward > first_revision_best


def test_data_of_an_older_behaviour_revision_is_refused(tmp_path):
    from osrl_unlearn.data.collect import check_behaviour_revision

    data = collect(SMALL_TASK, episodes=1, seed=0, progress=False)
    old = datasets.write_hdf5(data, tmp_path / "circle.hdf5",
                              attributes={"generation": {"task": "OfflineCarCircle-v0"}})
    with pytest.raises(UserInputError, match="behaviour revision 1 of OfflineCarCircle-v0; this "
                                             "version generates revision 2"):
        check_behaviour_revision(old, "OfflineCarCircle-v0")
    # a run task's behaviour has not changed: its files from before revisions still load
    assert check_behaviour_revision(old, "OfflineBallRun-v0") == old
