"""Environments of the registered generated ids: a DSRL task whose `get_dataset()` is ours.

`gym.make("OfflineBallRun-MaxCost15-v0")` gives the DSRL OfflineBallRun-v0
environment (same simulator, same normalized-score constants) whose `get_dataset()`
returns the poisoned data with its `forget_mask`. Nothing is downloaded: the clean
base file must have been built with `osrl-unlearn collect`; the attacker's own
episodes are collected in the simulator, and the poisoned file built, on first use,
and kept beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import gymnasium as gym

from osrl_unlearn.data import datasets
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.attacks import ATTACK_REVISION, poison
from osrl_unlearn.data.registration import POISON_SEED, Variant, parse_variant_id, variant_id
from osrl_unlearn.data.tasks import DEFAULT_COST_LIMIT, make_env

# The attacker's own behaviour: its own seed (the clean data uses 0) and mostly unsafe
# settings, so that the poison is behaviour the clean data never contradicts.
ATTACKER_SEED = 1_000
ATTACKER_UNSAFE_FRACTION = 0.7


def base_dataset_path(task: str) -> Path:
    """Where the clean generated dataset of a DSRL task is expected."""
    return datasets.generated_path(variant_id(task))


def attacker_dataset_path(task: str) -> Path:
    """Where the attacker's own episodes of a task are kept (collected on first use)."""
    return datasets.generated_path(variant_id(task).replace("-Generated-", "-Attacker-"))


def ensure_attacker_episodes(task: str, episodes: int) -> Path:
    """The attacker's own episodes of `task`, collected in the simulator if missing.

    The attacker runs the same scripted controllers as the clean data's behaviour,
    with a seed of its own and mostly unsafe settings (`ATTACKER_UNSAFE_FRACTION`),
    so what it injects is behaviour the clean data does not contain.
    """
    from osrl_unlearn.data.collect import collect_to_file

    path = attacker_dataset_path(task)
    if not path.exists():
        collect_to_file(task, episodes, path, seed=ATTACKER_SEED,
                        unsafe_fraction=ATTACKER_UNSAFE_FRACTION)
    return path


def build_poisoned_dataset(
    task: str,
    attack: str,
    ratio: float,
    seed: int = POISON_SEED,
    base_path: Optional[Path] = None,
    out: Optional[Path] = None,
    donors_path: Optional[Path] = None,
    copies: bool = False,
    any_donors: bool = False,
) -> Path:
    """Poison the clean generated dataset of `task` and save it with its mask and record.

    The injected episodes are the attacker's own: those of `donors_path`, or by default
    the task's attacker episodes (`ensure_attacker_episodes`, as many as the clean data
    has). `copies` injects relabelled copies of the clean data's own episodes instead.
    An existing poisoned file is reused if it was built from the same files with the
    same attack; if it was not, it is left alone and an error says so. `any_donors`
    accepts an existing attacker-episode file whatever episodes it injected (loading a
    registered id does: the id cannot name a donors file).
    """
    if copies and donors_path:
        raise UserInputError("inject either copies of the clean episodes or a donors file, not both")
    base_path = Path(base_path or base_dataset_path(task))
    if not base_path.exists():
        raise UserInputError(
            f"base dataset for {task} not found at {base_path}; build it with: "
            f"osrl-unlearn collect --task {task} --episodes 200 --out {base_path}"
        )
    out = Path(out or datasets.generated_path(variant_id(task, attack, ratio, copies)))
    record = {
        "attack_revision": ATTACK_REVISION,
        "attack": attack,
        "ratio": ratio,
        "seed": seed,
        "injected": "copies of the clean data's episodes" if copies else "the attacker's own episodes",
        "base_file": str(base_path),
        "base_sha256": datasets.file_checksum(base_path),
    }
    if out.exists():
        existing = datasets.read_attributes(out).get("attack_record", {})
        ignored = ("base_file", "donors_file", "donors_sha256")
        kept = {k: v for k, v in record.items() if k not in ignored}
        if {k: existing.get(k) for k in kept} == kept and (
                copies or any_donors or _same_donors(existing, task, donors_path)):
            return out
        raise UserInputError(
            f"{out} exists but was built differently ({existing}); "
            "move it away to rebuild it from the current base file"
        )
    clean, _ = datasets.read_hdf5(base_path)
    donors = None
    if not copies:
        donors_path = Path(donors_path or ensure_attacker_episodes(
            task, len(datasets.episode_bounds(clean))))
        donors = datasets.read_hdf5(donors_path)[0]
        record.update(donors_file=str(donors_path), donors_sha256=datasets.file_checksum(donors_path))
    poisoned, _ = poison(clean, attack, ratio, seed, DEFAULT_COST_LIMIT, donors)
    return datasets.write_hdf5(poisoned, out, attributes={"attack_record": record})


def _same_donors(record: dict, task: str, donors_path: Optional[Path]) -> bool:
    """Was a poisoned file built from these attacker episodes (default: the task's own)?"""
    path = Path(donors_path) if donors_path else attacker_dataset_path(task)
    return path.exists() and record.get("donors_sha256") == datasets.file_checksum(path)


def load_variant_dataset(dataset_id: str) -> datasets.Dataset:
    """The data behind a registered id; poisoned data carries `forget_mask`."""
    variant = parse_variant_id(dataset_id)
    if variant.attack is None:
        path = base_dataset_path(variant.task)
        if not path.exists():
            raise UserInputError(
                f"generated dataset for {variant.task} not found at {path}; build it with: "
                f"osrl-unlearn collect --task {variant.task} --episodes 200 --out {path}"
            )
    else:
        path = build_poisoned_dataset(variant.task, variant.attack, variant.ratio,
                                      copies=variant.copies, any_donors=True)
    data, _ = datasets.read_hdf5(path)
    return data


class GeneratedDatasetEnv(gym.Wrapper):
    """A DSRL offline env whose dataset is one of this project's generated variants."""

    def __init__(self, env: gym.Env, dataset_id: str):
        super().__init__(env)
        self.dataset_id = dataset_id

    def get_dataset(self, h5path: Optional[str] = None) -> datasets.Dataset:
        """The variant's data, or the data of an explicit HDF5 file if one is given."""
        if h5path is not None:
            return datasets.read_hdf5(Path(h5path))[0]
        return load_variant_dataset(self.dataset_id)


def make_variant_env(dataset_id: str) -> GeneratedDatasetEnv:
    """Entry point of the registered ids (see `osrl_unlearn.data.registration`)."""
    variant: Variant = parse_variant_id(dataset_id)
    return GeneratedDatasetEnv(make_env(variant.task), dataset_id)
