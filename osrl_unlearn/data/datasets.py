"""DSRL-format datasets on disk: where generated files live, reading, writing, checking, splitting.

A dataset is a dict of numpy arrays with DSRL's keys (see `DSRL_KEYS`). A poisoned
dataset carries one more array, `forget_mask` (True for poisoned transitions), and
its HDF5 file records the attack as file attributes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import h5py
import numpy as np

from osrl_unlearn.errors import UserInputError

Dataset = Dict[str, np.ndarray]

DSRL_KEYS = (
    "observations", "next_observations", "actions", "rewards", "costs", "terminals",
    "timeouts"
)
DSRL_DTYPES = {
    "observations": np.float32,
    "next_observations": np.float32,
    "actions": np.float32,
    "rewards": np.float32,
    "costs": np.float32,
    "terminals": np.bool_,
    "timeouts": np.bool_,
}
FORGET_MASK_KEY = "forget_mask"
GENERATED_SUFFIX = ".generated.hdf5"


def data_dir() -> Path:
    """Folder of the project's generated datasets.

    `OSRL_UNLEARN_DATA_DIR` if set, else a `osrl-unlearn-generated` folder inside
    DSRL's own dataset folder (`DSRL_DATASET_DIR`, default ~/.dsrl/datasets). Files
    here are never named like DSRL's official downloads.
    """
    explicit = os.environ.get("OSRL_UNLEARN_DATA_DIR")
    if explicit:
        return Path(explicit)
    dsrl_dir = os.environ.get("DSRL_DATASET_DIR", os.path.expanduser("~/.dsrl/datasets"))
    return Path(dsrl_dir) / "osrl-unlearn-generated"


def generated_path(dataset_id: str) -> Path:
    """Where the generated dataset of a task or poisoned id is expected."""
    return data_dir() / f"{dataset_id}{GENERATED_SUFFIX}"


def file_checksum(path: Path) -> str:
    """SHA-256 of a file, to tie a poisoned dataset to the exact base file it came from."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validate(data: Dataset) -> None:
    """Raise UserInputError unless `data` has DSRL's keys with one row per transition."""
    missing = [key for key in DSRL_KEYS if key not in data]
    if missing:
        raise UserInputError(f"dataset is missing DSRL keys: {', '.join(missing)}")
    size = len(data["observations"])
    wrong = {key: len(data[key]) for key in data if len(data[key]) != size}
    if wrong:
        raise UserInputError(
            f"dataset arrays differ in length: observations has {size} rows, "
            + ", ".join(f"{key} has {length}" for key, length in wrong.items())
        )
    if size == 0:
        raise UserInputError("dataset is empty")


def write_hdf5(
    data: Dataset,
    path: Path,
    attributes: Optional[dict] = None,
    overwrite: bool = False
) -> Path:
    """Write a dataset in DSRL's layout (plus `forget_mask` if present).

    Refuses to replace an existing file unless `overwrite` is set: datasets are
    expensive to rebuild and may be someone's only copy.
    """
    validate(data)
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserInputError(f"{path} already exists; choose another --out or delete it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")  # concurrent writers
    with h5py.File(partial, "w") as handle:
        for key in DSRL_KEYS:
            handle.create_dataset(key, data=np.asarray(data[key], dtype=DSRL_DTYPES[key]))
        if FORGET_MASK_KEY in data:
            handle.create_dataset(FORGET_MASK_KEY, data=np.asarray(data[FORGET_MASK_KEY], bool))
        for name, value in (attributes or {}).items():
            handle.attrs[name] = json.dumps(value)
    partial.replace(path)
    return path


def read_hdf5(path: Path) -> Tuple[Dataset, dict]:
    """Read a dataset written by `write_hdf5` (or any DSRL file) and its attributes."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"dataset file not found: {path}")
    try:
        with h5py.File(path, "r") as handle:
            data = {key: handle[key][()] for key in handle.keys()}
            attributes = _attributes(handle)
    except (OSError, ValueError, KeyError) as error:
        raise UserInputError(f"{path} is not a readable HDF5 dataset ({error})") from None
    validate(data)
    if FORGET_MASK_KEY in data:
        check_mask(data, data[FORGET_MASK_KEY])
    return data, attributes


def _attributes(handle: h5py.File) -> dict:
    return {name: json.loads(value) for name, value in handle.attrs.items()}


def read_attributes(path: Path) -> dict:
    """Only the attributes of a dataset file (its generation or attack record)."""
    try:
        with h5py.File(path, "r") as handle:
            return _attributes(handle)
    except (OSError, ValueError) as error:
        raise UserInputError(f"{path} is not a readable HDF5 dataset ({error})") from None


def check_mask(data: Dataset, mask: np.ndarray) -> np.ndarray:
    """Return `mask` as a boolean array after checking it has one entry per transition."""
    mask = np.asarray(mask)
    size = len(data["observations"])
    if mask.ndim != 1 or len(mask) != size:
        raise UserInputError(
            f"forget mask has {mask.shape} entries but the dataset has {size} transitions"
        )
    return mask.astype(bool)


def split_keep_forget(data: Dataset, mask: Optional[np.ndarray] = None) -> Tuple[Dataset, Dataset]:
    """Split a dataset into the part to keep (D_k) and the part to forget (D_f).

    The mask defaults to the dataset's own `forget_mask`. Both parts are needed by
    unlearning, so an empty forget set or an empty keep set is an error.
    """
    if mask is None:
        if FORGET_MASK_KEY not in data:
            raise UserInputError("dataset has no forget_mask; pass a mask explicitly")
        mask = data[FORGET_MASK_KEY]
    mask = check_mask(data, mask)
    if not mask.any():
        raise UserInputError("the forget set is empty: nothing to unlearn")
    if mask.all():
        raise UserInputError("the forget set is the whole dataset: nothing would be kept")
    keep = {key: value[~mask] for key, value in data.items() if key != FORGET_MASK_KEY}
    forget = {key: value[mask] for key, value in data.items() if key != FORGET_MASK_KEY}
    return keep, forget


def episode_bounds(data: Dataset) -> np.ndarray:
    """(start, end) index pairs of the episodes, cut at terminals and timeouts."""
    ends = np.flatnonzero(np.logical_or(data["terminals"], data["timeouts"])) + 1
    if len(ends) == 0 or ends[-1] != len(data["observations"]):
        ends = np.append(ends, len(data["observations"]))
    starts = np.concatenate([[0], ends[:-1]])
    return np.stack([starts, ends], axis=1)


def read_episode_list(path: Path) -> List[int]:
    """Episode indices from a text file: one per line, or an inclusive range `a-b`.

    Blank lines and `#` comments are skipped; anything else is a clear error.
    """
    if not path.exists():
        raise UserInputError(f"episode list not found: {path}")
    episodes: List[int] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        first, _, last = text.partition("-")
        try:
            start, end = int(first), int(last or first)
        except ValueError:
            raise UserInputError(
                f"{path}, line {number}: {line.strip()!r} is neither an episode index nor a "
                "range a-b") from None
        if start < 0 or end < start:
            raise UserInputError(f"{path}, line {number}: {line.strip()!r} is not a range of "
                                 "episode indices from 0 up")
        episodes.extend(range(start, end + 1))
    if not episodes:
        raise UserInputError(f"{path} names no episode")
    return episodes


def episodes_mask(data: Dataset, episodes: Sequence[int]) -> np.ndarray:
    """The transitions of the given episodes (0-based, in file order) as a forget mask."""
    bounds = episode_bounds(data)
    outside = sorted({episode for episode in episodes if episode >= len(bounds)})
    if outside:
        raise UserInputError(
            f"episode {outside[0]} is out of range: the data has {len(bounds)} episodes "
            f"(0-{len(bounds) - 1})")
    mask = np.zeros(len(data["observations"]), dtype=bool)
    for start, end in bounds[sorted(set(episodes))]:
        mask[start:end] = True
    return mask


def marked_episodes(data: Dataset, mask: np.ndarray) -> np.ndarray:
    """Per episode: does a transition mask mark any of its transitions? [episodes] bool."""
    return np.array([mask[start:end].any() for start, end in episode_bounds(data)])


def imperfect_forget_mask(data: Dataset, mask: np.ndarray, recall: float, precision: float,
                          seed: int = 0) -> Tuple[np.ndarray, Dict[str, float]]:
    """The forget set of a defender who is not sure, at the level of episodes.

    Of the episodes `mask` marks (any transition marked), a share `recall` stays in the
    forget set and the rest is missed (it stays in the kept data); then clean episodes
    are added until a share `precision` of the forget set's episodes are poisoned.
    Returns the new mask and the recall and precision reached, per episode and per
    transition, measured against `mask`.
    """
    if not (0.0 < recall <= 1.0 and 0.0 < precision <= 1.0):
        raise UserInputError(f"recall and precision must be in (0, 1], got {recall}, {precision}")
    poisoned = marked_episodes(data, mask)
    rng = np.random.default_rng(seed)
    found = rng.permutation(np.flatnonzero(poisoned))[:max(1, round(recall * poisoned.sum()))]
    wanted = round(len(found) * (1.0 - precision) / precision)
    clean = np.flatnonzero(~poisoned)
    if wanted > len(clean):
        raise UserInputError(f"forget_precision {precision} needs {wanted} clean episodes in the "
                             f"forget set; the data has {len(clean)}")
    chosen = np.concatenate([found, rng.permutation(clean)[:wanted]])
    new_mask = episodes_mask(data, chosen)
    return new_mask, split_quality(data, new_mask, mask)


def split_quality(data: Dataset, forget_mask: np.ndarray, true_mask: np.ndarray
                  ) -> Dict[str, float]:
    """Recall and precision of a defender's forget mask against the true poisoned one,
    per episode and per transition."""
    forget_mask, true_mask = np.asarray(forget_mask, bool), np.asarray(true_mask, bool)
    chosen, poisoned = marked_episodes(data, forget_mask), marked_episodes(data, true_mask)
    hits = int((chosen & poisoned).sum())
    return {
        "episode_recall": hits / max(1, int(poisoned.sum())),
        "episode_precision": hits / max(1, int(chosen.sum())),
        "transition_recall": float((forget_mask & true_mask).sum() / max(1, true_mask.sum())),
        "transition_precision": float((forget_mask & true_mask).sum() / max(1, forget_mask.sum())),
    }


def episode_returns(data: Dataset) -> Tuple[np.ndarray, np.ndarray]:
    """Per-episode reward return and cost return."""
    bounds = episode_bounds(data)
    rewards = np.array([data["rewards"][s:e].sum() for s, e in bounds])
    costs = np.array([data["costs"][s:e].sum() for s, e in bounds])
    return rewards, costs
