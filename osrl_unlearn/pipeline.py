"""Training followed by the unlearning stage, as one OSRL-style run."""

import sys
from pathlib import Path
from typing import NoReturn, Union

from osrl_unlearn.adapters import get_adapter
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.training import train
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import unlearn


def exit_with_error(error: UserInputError) -> NoReturn:
    """End the process as the command line does on bad input: one line, exit code 2."""
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(2)


def train_and_unlearn(cfg, algorithm: str) -> Path:
    """Train `algorithm` with `cfg`; with `cfg.unlearn`, unlearn right after.

    Bad input ends the process with one error line, as on the command line.
    """
    try:
        run_dir = train(cfg, get_adapter(algorithm), resume=cfg.resume)
        print(f"trained run: {run_dir}")
        if cfg.unlearn:
            forget = cfg.unlearn_forget or cfg.task
            unlearned = unlearn(run_dir, forget, cfg.unlearning)
            print(f"unlearned run: {unlearned}")
            return unlearned
        return run_dir
    except UserInputError as error:
        exit_with_error(error)


def unlearn_after_training(run_dir: str, forget: str,
                           unlearning: Union[UnlearnConfig, dict]) -> Path:
    """The stage OSRL's own (patched) training scripts call on the run they just saved,
    with their `--unlearning.<field>` options (a dict there: the scripts `asdict` their config)."""
    if isinstance(unlearning, dict):
        unlearning = UnlearnConfig(**unlearning)
    try:
        unlearned = unlearn(Path(run_dir), forget, unlearning)
    except UserInputError as error:
        exit_with_error(error)
    print(f"unlearned run: {unlearned}")
    return unlearned
