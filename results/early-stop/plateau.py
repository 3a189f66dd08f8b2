"""Where do Safe-RULE's runs end with the early stop's plateau count (`forget_plateau`,
the default since 48df86f) and without it (`forget_plateau 0`, the stop before)?

Replayed over the runs that kept and scored every save (runs/, see README.md), so the
save each rule makes model_best has its simulator score. Writes plateau.md beside this file.

    python results/early-stop/plateau.py results/early-stop/runs/*
"""

import json
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from first_entry import STOP_AFTER_SAVES, retraining_reward
from osrl_unlearn.data.registration import base_task
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import replay_offline_choice


def main(runs) -> None:
    lines = ["| run | retraining's reward | without the plateau count: model_best, stop | "
             "reward / cost | with it (2%): model_best, stop | reward / cost |",
             "| --- | --- | --- | --- | --- | --- |"]
    for run in map(Path, runs):
        config = yaml.safe_load((run / "config.yaml").read_text())
        ucfg = UnlearnConfig(**{key: value for key, value in config["unlearning"].items()
                                if key in UnlearnConfig.__dataclass_fields__})
        ucfg = replace(ucfg, stop_after_saves=STOP_AFTER_SAVES,
                       forget_plateau=UnlearnConfig.forget_plateau)
        saves = json.loads((run / "saves.json").read_text())
        by_step = {save["step"]: save for save in saves}
        reference = retraining_reward(base_task(config["task"]),
                                      Path(config["source_run"]).name.split("-seed")[0],
                                      ucfg.seed, config["update_steps"])
        cells = [run.name, "-" if reference is None else f"{reference:.3f}"]
        for rule in (replace(ucfg, forget_plateau=0.0), ucfg):
            best, stop = replay_offline_choice(saves, rule)
            save = by_step[best]
            cells += [f"{best:,}, {stop:,}",
                      f"{save['normalized_reward']:.3f} / {save['normalized_cost']:.2f}"
                      + ("" if save["safe"] else " **unsafe**")]
        lines.append("| " + " | ".join(cells) + " |")
    (Path(__file__).parent / "plateau.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main(sys.argv[1:])
