"""Bad input to `osrl-unlearn unlearn` gives one clear error line, never a traceback."""

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli

FORGET_ID = "OfflineBallRun-Generated-MaxCost15-v0"


def assert_one_error_line(result, message):
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_missing_run_path(tmp_path, data_dir):
    result = run_cli("unlearn", "--path", str(tmp_path / "nope"), "--forget", FORGET_ID)
    assert_one_error_line(result, "run not found")


def test_unknown_method(poisoned_runs):
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", FORGET_ID,
                     "--unlearning.method", "forget-everything")
    assert_one_error_line(result, "unknown method")


def test_negative_stop_after_saves(poisoned_runs):
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", FORGET_ID,
                     "--unlearning.stop_after_saves", "-1")
    assert_one_error_line(result, "--unlearning.stop_after_saves must be 0")


@pytest.mark.parametrize("name, value, message", [
    ("retention_every", "0", "must be at least 1"), ("save_every", "0", "must be at least 1"),
    ("steps", "0", "must be at least 1"),
    ("retention_tolerance", "-1", "must be above -1"),
    ("policy_shift_tolerance", "0", "must be above 0"),
    ("forget_share_band", "1", "must be in [0, 1)"),
    ("forget_plateau", "-0.1", "must be 0 (off) or more"),
])
def test_a_setting_out_of_range(poisoned_runs, name, value, message):
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", FORGET_ID,
                     f"--unlearning.{name}", value)
    assert_one_error_line(result, f"--unlearning.{name} {message}")


def test_checkpoint_of_another_algorithm(poisoned_runs, tmp_path):
    impostor = tmp_path / "impostor"
    shutil.copytree(poisoned_runs["bcql"], impostor)
    for name in ("model.pt", "model_best.pt"):
        shutil.copy(poisoned_runs["cpq"] / "checkpoint" / name, impostor / "checkpoint" / name)
    result = run_cli("unlearn", "--path", str(impostor), "--forget", FORGET_ID)
    assert_one_error_line(result, "does not fit")


def test_forget_set_of_another_task(poisoned_runs):
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget",
                     "OfflineCarCircle-Generated-MaxCost15-v0")
    assert_one_error_line(result, "is for task OfflineCarCircle-v0")


def test_forget_data_with_other_observation_sizes(poisoned_runs, tmp_path):
    from osrl_unlearn.data.collect import collect
    from osrl_unlearn.data.datasets import write_hdf5
    from osrl_unlearn.data.attacks import poison

    car, _ = poison(collect("OfflineCarCircle-v0", episodes=2, seed=0, progress=False),
                    "max-cost", 0.3)
    other = write_hdf5(car, tmp_path / "car-circle-poisoned.hdf5")
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", str(other))
    assert_one_error_line(result, "observations/actions have sizes")


@pytest.mark.parametrize("fill, message", [(False, "forget set is empty"),
                                           (True, "forget set is the whole dataset")])
def test_empty_or_total_forget_mask(poisoned_runs, tmp_path, fill, message):
    from osrl_unlearn.data.variants import load_variant_dataset

    size = len(load_variant_dataset(FORGET_ID)["observations"])
    mask = tmp_path / "mask.npy"
    np.save(mask, np.full(size, fill))
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", str(mask))
    assert_one_error_line(result, message)


def test_mask_of_the_wrong_length(poisoned_runs, tmp_path):
    mask = tmp_path / "short.npy"
    np.save(mask, np.ones(5, bool))
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", str(mask))
    assert_one_error_line(result, "forget mask has")


def test_forget_episodes_make_the_same_mask_as_the_poisoned_id(poisoned_runs, tmp_path):
    """A user who knows the bad episodes gets the forget set the poisoned id marks."""
    from osrl_unlearn.data.datasets import episode_bounds
    from osrl_unlearn.runs import load_run
    from osrl_unlearn.unlearning.stage import resolve_forget

    run_cfg = load_run(poisoned_runs["bcql"], best=False)[0]
    data, id_mask = resolve_forget(FORGET_ID, run_cfg)
    bad = [number for number, (start, end) in enumerate(episode_bounds(data))
           if id_mask[start:end].all()]
    assert 0 < len(bad) < len(episode_bounds(data))
    # a range, singles and a comment, as a user might write them
    listing = tmp_path / "bad-episodes.txt"
    listing.write_text(f"# injected\n{bad[0]}-{bad[1]}\n" + "\n".join(map(str, bad[2:])) + "\n")
    episodes_data, episodes_mask = resolve_forget(None, run_cfg, str(listing))
    assert len(episodes_data["observations"]) == len(data["observations"])
    assert np.array_equal(episodes_mask, id_mask)


@pytest.mark.parametrize("listing, message", [
    ("0\n100000\n", "episode 100000 is out of range"),
    ("3\nfive\n", "line 2: 'five' is neither an episode index nor a range"),
    ("# nothing\n", "names no episode"),
])
def test_bad_episode_list(poisoned_runs, tmp_path, listing, message):
    episodes = tmp_path / "episodes.txt"
    episodes.write_text(listing)
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]),
                     "--forget_episodes", str(episodes), "--out", str(tmp_path / "out"))
    assert_one_error_line(result, message)
    assert not (tmp_path / "out").exists()


def test_a_defender_who_is_not_sure_gets_the_recall_and_precision_asked_for(poisoned_runs,
                                                                             tmp_path):
    """Whole episodes are missed or added, every method takes the split, the run records it."""
    from osrl_unlearn.data.datasets import episode_bounds, imperfect_forget_mask
    from osrl_unlearn.runs import load_run
    from osrl_unlearn.unlearning.objective import UnlearnConfig
    from osrl_unlearn.unlearning.stage import resolve_forget, unlearn

    data, true_mask = resolve_forget(FORGET_ID, load_run(poisoned_runs["bcql"], best=False)[0])
    mask, split = imperfect_forget_mask(data, true_mask, recall=0.5, precision=0.5, seed=1)
    poisoned = sum(true_mask[start:end].any() for start, end in episode_bounds(data))
    found = max(1, round(0.5 * poisoned))  # whole episodes: the nearest count
    assert split["episode_recall"] == found / poisoned
    assert split["episode_precision"] == 0.5  # as many clean episodes as poisoned ones
    for start, end in episode_bounds(data):  # only whole episodes move
        assert mask[start:end].all() or not mask[start:end].any()
    assert (mask & ~true_mask).any() and (true_mask & ~mask).any()

    cfg = UnlearnConfig(method="finetune", steps=3, save_every=3, forget_recall=0.5,
                        forget_precision=0.8)
    out = unlearn(poisoned_runs["bcql"], FORGET_ID, cfg, out=str(tmp_path / "unsure"),
                  progress=False)
    summary = json.loads((out / "unlearn_summary.json").read_text())
    assert summary["forget_split"]["episode_recall"] == found / poisoned
    assert summary["forget_transitions"] < true_mask.sum()
    assert "forget_split" in (out / "config.yaml").read_text()


@pytest.mark.parametrize("option, value", [("forget_recall", "0"), ("forget_precision", "1.5")])
def test_recall_or_precision_out_of_range_is_one_error_line(poisoned_runs, tmp_path, option, value):
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", FORGET_ID,
                     f"--unlearning.{option}", value, "--out", str(tmp_path / "x"))
    assert_one_error_line(result, f"--unlearning.{option} must be in (0, 1]")
