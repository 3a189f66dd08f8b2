"""OSRL run directories: reading a run back, and the progress log of a new one.

Layout (OSRL's): `<logdir>/<group>/<name>/config.yaml`, `checkpoint/model.pt`,
`checkpoint/model_best.pt` ({"model_state": state_dict}), `progress.txt`; runs trained
here add `checkpoint/training_state.pt` and `training_state_best.pt` beside them.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import yaml

from osrl_unlearn.errors import UserInputError


def require_run(path: Path) -> Path:
    """`path` as a Path, or one clear error when it holds no OSRL run (no config.yaml)."""
    path = Path(path)
    if not (path / "config.yaml").exists():
        raise UserInputError(f"{path} is not an OSRL run: no config.yaml there")
    return path


def load_run(path: Path, best: bool = True, checkpoint_name: Optional[str] = None):
    """A run's config (as the adapter's dataclass), adapter, checkpoint and its path.

    Reads with OSRL's own `load_config_and_model`; falls back to model.pt when a run
    has no model_best.pt. `checkpoint_name` names another file of checkpoint/ (a save
    kept by `keep_saves`), read beside config.yaml as OSRL reads them.
    """
    from osrl.common.exp_util import load_config_and_model

    from osrl_unlearn.adapters import adapter_for_config

    path = require_run(path)
    if checkpoint_name is not None:
        checkpoint = path / "checkpoint" / checkpoint_name
        if not checkpoint.exists():
            raise UserInputError(f"{path} has no checkpoint/{checkpoint_name}")
        config = yaml.load((path / "config.yaml").read_text(), Loader=yaml.FullLoader)
        state = torch.load(checkpoint)
    else:
        checkpoint = path / "checkpoint" / ("model_best.pt" if best else "model.pt")
        if not checkpoint.exists():
            checkpoint = path / "checkpoint" / "model.pt"
            best = False
        if not checkpoint.exists():
            raise UserInputError(f"{path} has no checkpoint/model_best.pt or checkpoint/model.pt")
        config, state = load_config_and_model(str(path), best)
    adapter = adapter_for_config(config)
    fields = adapter.Config.__dataclass_fields__
    cfg = adapter.Config(**{key: value for key, value in config.items() if key in fields})
    return cfg, config, adapter, state, checkpoint


def load_weights(model: torch.nn.Module, state: dict, source: Path) -> None:
    """Load an OSRL checkpoint into `model`; a shape mismatch is a clear error."""
    try:
        model.load_state_dict(state["model_state"])
    except (RuntimeError, KeyError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserInputError(
            f"the checkpoint of {source} does not fit this task's observation/action sizes "
            f"or this algorithm ({first})"
        ) from None


class ProgressLog:
    """Tab-separated metrics per logged step, appended (a resumed run continues it).

    A metric first logged after the first row (the forget terms' own, when a save comes
    before the retention warm-up ends) widens the header; earlier rows read nan there.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.columns = None
        if self.path.exists():
            with open(self.path) as handle:
                header = handle.readline().strip()
            self.columns = header.split("\t") if header else None

    def write(self, step: int, metrics: Dict[str, float]) -> None:
        added = sorted(set(metrics) - set(self.columns or []))
        if self.columns is None or added:
            self._widen(added)
        row = [str(step)] + [f"{metrics.get(column, float('nan')):.6g}" for column in self.columns[1:]]
        with open(self.path, "a") as handle:
            handle.write("\t".join(row) + "\n")

    def _widen(self, added: List[str]) -> None:
        """Rewrite the log with `added` columns after the present ones."""
        rows = []
        if self.columns is not None:
            with open(self.path) as handle:
                rows = [line.rstrip("\n").split("\t") for line in handle.readlines()[1:]]
        self.columns = (self.columns or ["Steps"]) + added
        with open(self.path, "w") as handle:
            handle.write("\t".join(self.columns) + "\n")
            for row in rows:
                handle.write("\t".join(row + ["nan"] * len(added)) + "\n")


def close_logger(logger) -> None:
    """Close the files and the writer thread of fsrl's logger: a bench process makes one
    per run, and each left open kept its tensorboard writer's thread alive."""
    logger.summary_writer.close()
    text_log = getattr(logger, "output_file", None)  # set only when it logs progress.txt
    if text_log is not None:
        text_log.close()


def read_progress(path: Path) -> Dict[int, Dict[str, float]]:
    """A progress log's rows by step."""
    with open(path) as handle:
        header = handle.readline().strip().split("\t")
        rows = (dict(zip(header, map(float, line.split("\t")))) for line in handle if line.strip())
        return {int(row["Steps"]): row for row in rows}


# What OSRL's checkpoints leave out (they hold `model.state_dict()` only): the
# optimizer states and the Lagrange multipliers kept outside the modules (a PID
# controller, `log_alpha`, COptiDICE's `lmbda`/`tau`). Runs trained through this
# project keep them beside each checkpoint, so unlearning starts where training ended.
TRAINING_STATE = {"model.pt": "training_state.pt", "model_best.pt": "training_state_best.pt"}


def training_state(model, optimizers: Sequence[str], multipliers: Sequence[str]) -> dict:
    """The optimizer states and multipliers of `model`, as `torch.save` can keep them."""
    return {"optimizers": {name: getattr(model, name).state_dict() for name in optimizers},
            "multipliers": {name: copy.deepcopy(getattr(model, name)) for name in multipliers}}


def load_training_state(model, state: dict) -> None:
    """Put saved optimizer states and multipliers back into `model`.

    The optimizers keep the hyperparameters they were built with (the run's config,
    e.g. its learning rates); only their running state (Adam's moments) is restored.
    """
    for name, optimizer_state in state["optimizers"].items():
        optimizer = getattr(model, name)
        settings = [{key: value for key, value in group.items() if key != "params"}
                    for group in optimizer.param_groups]
        optimizer.load_state_dict(optimizer_state)
        for group, configured in zip(optimizer.param_groups, settings):
            group.update(configured)
    for name, value in state["multipliers"].items():
        if isinstance(getattr(model, name), torch.Tensor):
            getattr(model, name).data.copy_(value)  # an optimizer may hold this very tensor
        else:
            setattr(model, name, copy.deepcopy(value))


def random_state() -> dict:
    """The global generators' states (torch, numpy, python), as a resumable run saves them."""
    return {"torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate()}


def set_random_state(state: dict) -> None:
    """Put the global generators back where `random_state` found them."""
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])


def training_state_path(checkpoint: Path) -> Path:
    """Where the training state of an OSRL checkpoint file is kept (it may not exist)."""
    return checkpoint.with_name(TRAINING_STATE[checkpoint.name])
