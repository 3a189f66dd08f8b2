"""Bad input to `osrl-unlearn unlearn` gives one clear error line, never a traceback."""

import shutil

import numpy as np
import pytest

from conftest import run_cli

FORGET_ID = "OfflineBallRun-MaxCost15-v0"


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
                     "--method", "forget-everything")
    assert_one_error_line(result, "unknown method")


def test_negative_stop_after_saves(poisoned_runs):
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", FORGET_ID,
                     "--stop-after-saves", "-1")
    assert_one_error_line(result, "--stop-after-saves must be 0")


def test_checkpoint_of_another_algorithm(poisoned_runs, tmp_path):
    impostor = tmp_path / "impostor"
    shutil.copytree(poisoned_runs["bcql"], impostor)
    for name in ("model.pt", "model_best.pt"):
        shutil.copy(poisoned_runs["cpq"] / "checkpoint" / name, impostor / "checkpoint" / name)
    result = run_cli("unlearn", "--path", str(impostor), "--forget", FORGET_ID)
    assert_one_error_line(result, "does not fit")


def test_forget_set_of_another_task(poisoned_runs):
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget",
                     "OfflineCarCircle-MaxCost15-v0")
    assert_one_error_line(result, "is for task OfflineCarCircle-v0")


def test_forget_data_with_other_observation_sizes(poisoned_runs, tmp_path):
    from osrl_unlearn.collect import collect
    from osrl_unlearn.datasets import write_hdf5
    from osrl_unlearn.poison import poison

    car, _ = poison(collect("OfflineCarCircle-v0", episodes=2, seed=0, progress=False),
                    "max-cost", 0.3)
    other = write_hdf5(car, tmp_path / "car-circle-poisoned.hdf5")
    result = run_cli("unlearn", "--path", str(poisoned_runs["bcql"]), "--forget", str(other))
    assert_one_error_line(result, "observations/actions have sizes")


@pytest.mark.parametrize("fill, message", [(False, "forget set is empty"),
                                           (True, "forget set is the whole dataset")])
def test_empty_or_total_forget_mask(poisoned_runs, tmp_path, fill, message):
    from osrl_unlearn.variants import load_variant_dataset

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
