"""Environments of the registered ids: a DSRL task whose `get_dataset()` is ours.

`gym.make("OfflineBallRun-Generated-MaxCost15-v0")` gives the DSRL OfflineBallRun-v0
environment (same simulator, same normalized-score constants) whose `get_dataset()`
returns the poisoned data with its `forget_mask`. Nothing is downloaded.

- Generated ids: the clean base file must have been built with `osrl-unlearn
  collect`; the attacker's own episodes are collected in the simulator, and the
  poisoned file built, on first use, and kept beside it.
- Official ids (`OfflineBallRun-MaxCost15-v0`): built from DSRL's own file of the task,
  where DSRL keeps it (its folder, its file name), which the user has fetched. The
  attacker's episodes are a held-out share of DSRL's episodes (`OFFICIAL_HELD_OUT_SHARE`,
  drawn with `POISON_SEED`), removed from the kept data D_k, so what is injected is
  behaviour D_k does not contain. The official file is only read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import numpy as np

import gymnasium as gym

from osrl_unlearn.data import datasets
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.attacks import ATTACK_REVISION, poison
from osrl_unlearn.data.collect import check_behaviour_revision, collect_to_file
from osrl_unlearn.data.registration import POISON_SEED, Variant, parse_variant_id, variant_id
from osrl_unlearn.data.tasks import DEFAULT_COST_LIMIT, make_env

# The attacker's own behaviour: its own seed (the clean data uses 0) and mostly unsafe
# settings, so that the poison is behaviour the clean data never contradicts.
ATTACKER_SEED = 1_000
ATTACKER_UNSAFE_FRACTION = 0.7
# Over DSRL's official data, the attacker's episodes: this share of DSRL's own episodes,
# held out of D_k (enough for the registered ratios without cycling: 30% poison needs
# 0.3 / 0.7 of D_k's transitions, the held-out share's own size).
OFFICIAL_HELD_OUT_SHARE = 0.3
POISONED_SUFFIX = ".poisoned.hdf5"  # poisoned variants of official data, in our data folder


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
    path = attacker_dataset_path(task)
    if not path.exists():
        collect_to_file(task, episodes, path, seed=ATTACKER_SEED,
                        unsafe_fraction=ATTACKER_UNSAFE_FRACTION)
    return check_behaviour_revision(path, task)


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
    if base_path == base_dataset_path(task):
        check_behaviour_revision(base_path, task)
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


def official_dataset_path(task: str) -> Path:
    """Where DSRL keeps its official file of `task`: DSRL's folder, DSRL's file name."""
    from osrl_unlearn.data.tasks import import_dsrl

    import_dsrl()
    from dsrl.infos import DATASET_URLS
    from dsrl.offline_env import filepath_from_url

    key = task[len("Offline"):task.rindex("-v")].replace("Gymnasium", "").replace("Metadrive-", "")
    return Path(filepath_from_url(DATASET_URLS[key]))


def read_official(path: Path) -> datasets.Dataset:
    """DSRL's keys of an official file, one value per transition (as DSRL's loader shapes them)."""
    data, _ = datasets.read_hdf5(path)
    return {key: (data[key].reshape(len(data[key])) if data[key].ndim == 2 and
                  data[key].shape[1] == 1 and key not in ("observations", "next_observations",
                                                           "actions") else data[key])
            for key in datasets.DSRL_KEYS}


def hold_out_episodes(data: datasets.Dataset, share: float, seed: int
                      ) -> Tuple[datasets.Dataset, datasets.Dataset]:
    """Split whole episodes at random: (kept, held out), `share` of the episodes held out."""
    bounds = datasets.episode_bounds(data)
    rng = np.random.default_rng(seed)
    held = rng.choice(len(bounds), size=max(1, round(share * len(bounds))), replace=False)
    held_mask = datasets.episodes_mask(data, held)
    if held_mask.all():
        raise UserInputError("the official file has too few episodes to hold some out")
    return datasets.split_keep_forget(data, held_mask)


def build_official_poisoned_dataset(task: str, attack: str, ratio: float, copies: bool = False,
                                    seed: int = POISON_SEED) -> Path:
    """Poison DSRL's official data of `task` into our data folder; the official file is only read.

    D_k is the official data without a held-out share of its episodes; the poison is those
    held-out episodes relabelled by the attack (or, with `copies`, relabelled copies of
    D_k's own). Reused if it was built from the same official file with the same attack.
    """
    official = official_dataset_path(task)
    if not official.exists():
        raise UserInputError(
            f"DSRL's official data for {task} is not at {official}, and this project does "
            f"not download it unless asked. Fetch it with DSRL's own loader: python -c "
            f"\"import dsrl, gymnasium as gym; gym.make('{task}').get_dataset()\" (setup "
            f"points dsrl at DSRL's current host), or put the file there; DSRL_DATASET_DIR "
            f"sets the folder"
        )
    dataset_id = variant_id(task, attack, ratio, copies, generated=False)
    out = datasets.data_dir() / f"{dataset_id}{POISONED_SUFFIX}"
    record = {
        "attack_revision": ATTACK_REVISION, "attack": attack, "ratio": ratio, "seed": seed,
        "base": "DSRL's official data", "base_file": str(official),
        "base_sha256": datasets.file_checksum(official),
        "held_out_share": OFFICIAL_HELD_OUT_SHARE,
        "injected": ("copies of the kept data's episodes" if copies else
                     "held-out episodes of DSRL's official data, removed from the kept data"),
    }
    if out.exists():
        existing = datasets.read_attributes(out).get("attack_record", {})
        kept = {k: v for k, v in record.items() if k != "base_file"}
        if {k: existing.get(k) for k in kept} == kept:
            return out
        raise UserInputError(f"{out} exists but was built differently ({existing}); move it "
                             f"away to rebuild it from the current official file")
    keep, held_out = hold_out_episodes(read_official(official), OFFICIAL_HELD_OUT_SHARE, seed)
    poisoned, _ = poison(keep, attack, ratio, seed, DEFAULT_COST_LIMIT,
                         None if copies else held_out)
    return datasets.write_hdf5(poisoned, out, attributes={"attack_record": record})


def load_variant_dataset(dataset_id: str) -> datasets.Dataset:
    """The data behind a registered id; poisoned data carries `forget_mask`."""
    variant = parse_variant_id(dataset_id)
    if not variant.generated:
        path = build_official_poisoned_dataset(variant.task, variant.attack, variant.ratio,
                                               variant.copies)
    elif variant.attack is None:
        path = base_dataset_path(variant.task)
        if not path.exists():
            raise UserInputError(
                f"generated dataset for {variant.task} not found at {path}; build it with: "
                f"osrl-unlearn collect --task {variant.task} --episodes 200 --out {path}"
            )
        check_behaviour_revision(path, variant.task)
    else:
        path = build_poisoned_dataset(variant.task, variant.attack, variant.ratio,
                                      copies=variant.copies, any_donors=True)
    data, _ = datasets.read_hdf5(path)
    return data


class VariantDatasetEnv(gym.Wrapper):
    """A DSRL offline env whose dataset is one of this project's variants."""

    def __init__(self, env: gym.Env, dataset_id: str):
        super().__init__(env)
        self.dataset_id = dataset_id

    def get_dataset(self, h5path: Optional[str] = None) -> datasets.Dataset:
        """The variant's data, or the data of an explicit HDF5 file if one is given."""
        if h5path is not None:
            return datasets.read_hdf5(Path(h5path))[0]
        return load_variant_dataset(self.dataset_id)


def make_variant_env(dataset_id: str) -> VariantDatasetEnv:
    """Entry point of the registered ids (see `osrl_unlearn.data.registration`)."""
    variant: Variant = parse_variant_id(dataset_id)
    return VariantDatasetEnv(make_env(variant.task), dataset_id)
