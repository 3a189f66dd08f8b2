"""Tabulate examples/stability.sh's unlearning logs: multipliers and critic losses over the
steps of every `<agent>-safe-rule-<variant>` run in a group folder, and each run's
evaluation against its poisoned source's.

    python examples/stability_table.py logs/stability/<group> > results/stability/report.md
"""

import argparse
import csv
import json
from pathlib import Path
from typing import Dict, List

STEPS = (500, 1000, 2000, 3000, 4000, 5000)
COLUMNS = {  # progress.txt column -> its name in the table
    "loss/alpha_value": "alpha (OOD / MMD multiplier)",
    "multiplier/controller": "PID multiplier",
    "loss/critic_loss": "reward critic loss",
    "loss/cost_critic_loss": "cost critic loss",
    "unlearn/forget_weight": "forget weight",
    "forget_satisfied": "D_f constraints met",
    "retention_ratio": "retention ratio",
}


def read_progress(path: Path) -> Dict[int, Dict[str, float]]:
    with open(path) as handle:
        return {int(float(row["Steps"])): {key: float(value) for key, value in row.items()
                                         if value not in ("", None)}
                for row in csv.DictReader(handle, delimiter="\t")}


def evaluation(run: Path, checkpoint: str) -> str:
    path = run / f"eval_{checkpoint}.json"
    if not path.exists():
        return "not evaluated"
    result = json.loads(path.read_text())
    return f"{result['normalized_reward']:.2f} / {result['normalized_cost']:.2f}"


def run_table(run: Path) -> List[str]:
    progress = read_progress(run / "progress.txt")
    carried = json.loads((run / "carried_state.json").read_text())
    summary = json.loads((run / "unlearn_summary.json").read_text())
    columns = [column for column in COLUMNS if any(column in row for row in progress.values())]
    source = ("restarted at their initial values (no training_state.pt, no re-estimation)"
              if carried.get("warmup_steps") == 0 else carried["source"])
    lines = [f"### {run.name}", "",
             f"Multipliers at the start: {source}; "
             + ", ".join(f"{key} {value:.4g}" for key, value in carried.items()
                         if isinstance(value, float)) + ".",
             f"Offline choice: step {summary.get('best_step')}. Normalized reward / cost: "
             f"model_best {evaluation(run, 'model_best')}, last {evaluation(run, 'model')}.", "",
             "| step | " + " | ".join(COLUMNS[column] for column in columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    for step in STEPS:
        if step in progress:
            lines.append(f"| {step:,} | " + " | ".join(
                f"{progress[step][column]:.4g}" if column in progress[step] else "–"
                for column in columns) + " |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("group", type=Path)
    args = parser.parse_args()
    lines = ["# Stability of CPQ's and BEAR-L's unlearning", "",
             "Made by `examples/stability.sh` (then `python examples/stability_table.py "
             f"{args.group}`). Generated data, not DSRL's. Safe-RULE, every step run (no early "
             "stop); the metrics are means over the 500 steps before each save.", ""]
    agents = sorted({run.name.split("-safe-rule-")[0] for run in args.group.glob("*-safe-rule-*")})
    for agent in agents:
        source = args.group / agent
        lines += [f"## {agent}", "",
                  f"Poisoned agent, last checkpoint: {evaluation(source, 'model')}.", ""]
        for variant in ("carried", "restarted", "re-estimated"):
            run = args.group / f"{agent}-safe-rule-{variant}"
            if (run / "unlearn_summary.json").exists():
                lines += run_table(run)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
