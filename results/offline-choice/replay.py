"""Replay the offline choice of model_best over Safe-RULE runs that kept and scored every
save (`--unlearning.keep_saves true`, then `osrl-unlearn saves`), for several settings of
`forget_share_band`, with the grid's early stop (two saves). Writes replay.md and
replay.jsonl here.

    python results/offline-choice/replay.py logs/study/*-safe-rule
"""

import json
import sys
from pathlib import Path

import yaml

from osrl_unlearn.data.registration import base_task
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import replay_offline_choice

BANDS = (0.0, 0.1, 0.2, 0.3, 0.5)
RETRAINING = Path("results/algorithms/results.jsonl")  # one clean agent per task, algorithm, seed
OUT = Path(__file__).parent


def retraining_scores() -> dict:
    scores = {}
    for line in RETRAINING.read_text().splitlines():
        row = json.loads(line)
        if row["method"] == "retrain" and row["status"] == "ok" and row.get("forget_recall", 1.0) == 1.0:
            scores.setdefault((row["task"], row["algorithm"], row["seed"]), (
                row["normalized_reward"], row["normalized_cost"]))
    return scores


def main(runs) -> None:
    retrained, rows = retraining_scores(), []
    for run in map(Path, runs):
        config = yaml.safe_load((run / "config.yaml").read_text())
        algorithm = Path(config["source_run"]).name.split("-seed")[0]
        seed = config["unlearning"]["seed"]
        key = (base_task(config["task"]), algorithm, seed)
        saves = json.loads((run / "saves.json").read_text())
        by_step = {save["step"]: save for save in saves}
        for band in BANDS:
            cfg = UnlearnConfig(stop_after_saves=2, forget_share_band=band)
            best, stopped = replay_offline_choice(saves, cfg)
            rows.append({"run": str(run), "task": key[0], "attack": config["task"], "algorithm": algorithm,
                         "seed": seed, "forget_share_band": band, "model_best": best,
                         "steps_run": stopped, "normalized_reward": by_step[best]["normalized_reward"],
                         "normalized_cost": by_step[best]["normalized_cost"],
                         "retraining": retrained.get(key)})
    (OUT / "replay.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    lines = ["| poisoned agent | retraining | " + " | ".join(f"band {band}" for band in BANDS) + " |",
             "| --- | --- | " + " | ".join("---" for _ in BANDS) + " |"]
    for run in dict.fromkeys(row["run"] for row in rows):
        mine = [row for row in rows if row["run"] == run]
        first = mine[0]
        reference = first["retraining"]
        cells = [f"{row['normalized_reward']:.3f} / {row['normalized_cost']:.2f} "
                 f"(step {row['model_best']} of {row['steps_run']})" for row in mine]
        lines.append(f"| {first['attack']} {first['algorithm']} seed {first['seed']} | "
                     + (f"{reference[0]:.3f} / {reference[1]:.2f}" if reference else "-")
                     + " | " + " | ".join(cells) + " |")
    (OUT / "replay.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
