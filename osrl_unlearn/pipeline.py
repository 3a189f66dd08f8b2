"""Stages run one after the other: training followed by unlearning (OSRL-style, with
`--unlearn`), and the whole defence: detection, unlearning, evaluation."""

import json
import sys
from pathlib import Path
from typing import NoReturn, Optional, Union

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


def defend(run: Path, dataset: str, out: Path, share: float = 0.15, neighbours: int = 10,
           episodes: int = 10, unlearning: Optional[UnlearnConfig] = None) -> dict:
    """Detect the poisoned episodes of `dataset` (the data `run` was trained on), unlearn
    them from `run`, and evaluate the result; written under `out` (detection/,
    unlearned/), summarised in `out/defence.json`."""
    from osrl_unlearn.data.detection import detect
    from osrl_unlearn.data.variants import load_variant_dataset
    from osrl_unlearn.evaluation import evaluate_run

    report = detect(load_variant_dataset(dataset), out / "detection", share, neighbours, dataset)
    unlearned = unlearn(run, str(out / "detection" / "forget_mask.npy"),
                        unlearning or UnlearnConfig(), out=str(out / "unlearned"))
    summary = {"detection": report, "run": str(unlearned),
               "evaluation": evaluate_run(unlearned, episodes)}
    (out / "defence.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
