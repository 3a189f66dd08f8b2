"""Where would Safe-RULE's runs end if the early stop counted from the first save that
retains D_k and has forgotten some of D_f, instead of from model_best's latest save?

With `forget_share_band`, a later save inside the band replaces model_best because it
is later, not better; the early stop counts saves since model_best last changed, so a
run whose saves all stay in the band never stops (the 100,000-step BCQ-L ran its whole
budget). Replayed here over runs that kept and scored every save (`keep_saves`, then
`osrl-unlearn saves`; each run's config.yaml and saves.json are kept in runs/ here):
the stop as it is (`replay_offline_choice`) and the stop counted
from the first save at model_best's (retains, steady) level that has forgotten some of
D_f, model_best chosen as now. Writes first-entry.md beside this file.

    python results/early-stop/first_entry.py results/early-stop/runs/*
"""

import functools
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

import yaml

from osrl_unlearn.data.registration import base_task
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import OfflineChoice, replay_offline_choice

STOP_AFTER_SAVES = 2  # the grids' early stop
RETRAINING = [Path("results/algorithms/results.jsonl"), Path("results/scale/results.jsonl")]


class StopFromFirstForgetting(OfflineChoice):
    """OfflineChoice whose early stop counts from the first save that made model_best at
    its current (retains, steady) level with some of D_f forgotten."""

    def __init__(self, ucfg: UnlearnConfig):
        super().__init__(ucfg)
        self.entered: Optional[Tuple[int, tuple]] = None  # (step, level)

    def offer(self, step, forget_satisfied, retention_ratio, policy_shift) -> bool:
        chosen = super().offer(step, forget_satisfied, retention_ratio, policy_shift)
        level = tuple(self.best_rank[:2])
        if chosen and self.found_forgetting and (self.entered is None or self.entered[1] != level):
            self.entered = (step, level)
        return chosen

    def stop(self, step: int) -> bool:
        return bool(self.cfg.stop_after_saves) and self.found_forgetting and \
            step - self.entered[0] >= self.cfg.stop_after_saves * self.cfg.save_every


@functools.lru_cache(maxsize=None)
def retraining_rows() -> tuple:
    return tuple(json.loads(line) for path in RETRAINING for line in path.read_text().splitlines())


def retraining_reward(task: str, algorithm: str, seed: int, steps: int) -> Optional[float]:
    for row in retraining_rows():
        if (row["method"], row["status"], row["task"], row["algorithm"], row["seed"]) == (
                "retrain", "ok", task, algorithm, seed) and row.get("forget_recall", 1.0) == 1.0 \
                and row.get("train_steps") == steps:
            return row["normalized_reward"]
    return None


Rule = Tuple[str, Callable[[UnlearnConfig], UnlearnConfig], type]  # label, settings, choice


def replay_table(runs, rules: Sequence[Rule], out: Path) -> None:
    """One line per run: retraining's reward, then for each rule the save it makes
    model_best and the step it stops at, with that save's score in the simulator."""
    header = "| run | retraining's reward | " + " | ".join(
        f"{label}: model_best, stop | reward / cost" for label, _, _ in rules) + " |"
    lines = [header, "| --- " * (2 + 2 * len(rules)) + "|"]
    for run in map(Path, runs):
        config = yaml.safe_load((run / "config.yaml").read_text())
        ucfg = UnlearnConfig(**{key: value for key, value in config["unlearning"].items()
                                if key in UnlearnConfig.__dataclass_fields__})
        ucfg = replace(ucfg, stop_after_saves=STOP_AFTER_SAVES)
        saves = json.loads((run / "saves.json").read_text())
        by_step = {save["step"]: save for save in saves}
        # an unlearning run's config.yaml holds its source's training config
        reference = retraining_reward(base_task(config["task"]),
                                      Path(config["source_run"]).name.split("-seed")[0],
                                      ucfg.seed, config["update_steps"])
        cells = [run.name, "-" if reference is None else f"{reference:.3f}"]
        for _, settings, choice_class in rules:
            best, stop = replay_offline_choice(saves, settings(ucfg), choice_class)
            save = by_step[best]
            cells += [f"{best:,}, {stop:,}",
                      f"{save['normalized_reward']:.3f} / {save['normalized_cost']:.2f}"
                      + ("" if save["safe"] else " **unsafe**")]
        lines.append("| " + " | ".join(cells) + " |")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def without_plateau(ucfg: UnlearnConfig) -> UnlearnConfig:
    """The stop of this study's time, before the plateau count (48df86f)."""
    return replace(ucfg, forget_plateau=0.0)


def main(runs) -> None:
    replay_table(runs, [("now", without_plateau, OfflineChoice),
                        ("from first forgetting", without_plateau, StopFromFirstForgetting)],
                 Path(__file__).parent / "first-entry.md")


if __name__ == "__main__":
    main(sys.argv[1:])
