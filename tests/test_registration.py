"""Registered poisoned ids work from a plain `import gymnasium`, as in OSRL's own scripts."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np

from osrl_unlearn.data import datasets
from osrl_unlearn.data.registration import parse_variant_id, variant_id

PLAIN_SCRIPT = """
import json, gymnasium as gym
env = gym.make("OfflineBallRun-Generated-MaxCost15-v0")
data = env.get_dataset()
env.set_target_cost(10)
print(json.dumps({"size": len(data["observations"]), "forget": int(data["forget_mask"].sum()),
                  "score": env.get_normalized_score(100.0, 5.0)}))
"""


def test_plain_gymnasium_script_makes_the_poisoned_id(ball_run_file):
    result = subprocess.run([sys.executable, "-c", PLAIN_SCRIPT], capture_output=True,
                            text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["size"] == 1200 + out["forget"] and out["forget"] >= 0.15 * out["size"]
    assert out["score"][1] == 0.5  # DSRL's normalized cost: 5 / limit 10


def test_poisoned_file_records_the_attack_and_its_base(ball_run_file):
    import gymnasium as gym

    gym.make("OfflineBallRun-Generated-MaxCost30-v0").get_dataset()
    path = datasets.generated_path("OfflineBallRun-Generated-MaxCost30-v0")
    data, attributes = datasets.read_hdf5(path)
    record = attributes["attack_record"]
    assert record["attack"] == "max-cost" and record["ratio"] == 0.3 and record["seed"] == 0
    assert record["base_sha256"] == datasets.file_checksum(ball_run_file)
    assert data["forget_mask"].dtype == bool and data["forget_mask"].mean() >= 0.3


def test_ids_round_trip():
    for args in [("OfflineCarCircle-v0", None, None, False, True),
                 ("OfflineBallRun-v0", "reward-lure", 0.3, False, True),
                 ("OfflineAntVelocityGymnasium-v1", "cost-swap", 0.15, True, True),
                 ("OfflineCarButton1Gymnasium-v0", "max-cost", 0.15, False, False),
                 ("OfflineMetadrive-easysparse-v0", "reward-lure", 0.3, True, False)]:
        assert tuple(parse_variant_id(variant_id(*args))) == args
    assert variant_id("OfflineBallRun-v0", "max-cost", 0.15) == "OfflineBallRun-Generated-MaxCost15-v0"
    assert variant_id("OfflineBallRun-v0", "max-cost", 0.15, copies=True) == \
        "OfflineBallRun-Generated-MaxCostCopies15-v0"
    assert variant_id("OfflineBallRun-v0", "max-cost", 0.15, generated=False) == \
        "OfflineBallRun-MaxCost15-v0"


def test_corrupt_and_mismatched_files_are_rejected(tmp_path, ball_run_data):
    corrupt = tmp_path / "corrupt.hdf5"
    corrupt.write_bytes(b"not an hdf5 file")
    mismatched = tmp_path / "mismatched.hdf5"
    with h5py.File(mismatched, "w") as handle:
        for key in datasets.DSRL_KEYS:
            handle[key] = ball_run_data[key]
        handle["forget_mask"] = np.ones(10, bool)
    for path, message in [(corrupt, "not a readable HDF5"), (mismatched, "differ in length")]:
        try:
            datasets.read_hdf5(path)
        except datasets.UserInputError as error:
            assert message in str(error)
        else:
            raise AssertionError(f"{path.name} was accepted")


def test_id_loads_a_file_poisoned_with_donors_and_a_rebuild_without_them_is_refused(
        ball_run_file, tmp_path):
    import gymnasium as gym
    import pytest

    from osrl_unlearn.errors import UserInputError
    from osrl_unlearn.data.variants import build_poisoned_dataset

    donors = tmp_path / "attacker.hdf5"
    donors.write_bytes(ball_run_file.read_bytes())
    path = build_poisoned_dataset("OfflineBallRun-v0", "cost-swap", 0.3, donors_path=donors)
    data = gym.make("OfflineBallRun-Generated-CostSwap30-v0").get_dataset()
    assert data["forget_mask"].sum() == datasets.read_hdf5(path)[0]["forget_mask"].sum() > 0
    with pytest.raises(UserInputError, match="built differently"):
        build_poisoned_dataset("OfflineBallRun-v0", "cost-swap", 0.3)


def _rows(data, mask=None):
    """The set of (observation, action) rows of a dataset, or of its masked part."""
    pairs = np.concatenate([data["observations"], data["actions"]], axis=1)
    return {row.tobytes() for row in (pairs if mask is None else pairs[mask])}


def test_registered_ids_inject_the_attackers_own_behaviour_and_copies_ids_the_clean_datas(
        ball_run_file, ball_run_data):
    import gymnasium as gym

    from osrl_unlearn.data.variants import ATTACKER_SEED, attacker_dataset_path

    clean = _rows(ball_run_data)
    poisoned = gym.make("OfflineBallRun-Generated-RewardLure15-v0").get_dataset()
    assert not (_rows(poisoned, poisoned["forget_mask"]) & clean)  # new behaviour only
    record = datasets.read_attributes(
        datasets.generated_path("OfflineBallRun-Generated-RewardLure15-v0"))["attack_record"]
    assert record["injected"] == "the attacker's own episodes"
    assert record["donors_sha256"] == datasets.file_checksum(attacker_dataset_path("OfflineBallRun-v0"))
    attacker = datasets.read_attributes(attacker_dataset_path("OfflineBallRun-v0"))["generation"]
    assert attacker["seed"] == ATTACKER_SEED != 0 and attacker["episodes"] == 12

    copies = gym.make("OfflineBallRun-Generated-RewardLureCopies15-v0").get_dataset()
    assert _rows(copies, copies["forget_mask"]) <= clean  # every injected pair is a clean one
    record = datasets.read_attributes(
        datasets.generated_path("OfflineBallRun-Generated-RewardLureCopies15-v0"))["attack_record"]
    assert record["injected"] == "copies of the clean data's episodes"
    assert parse_variant_id("OfflineBallRun-Generated-RewardLureCopies15-v0").copies
