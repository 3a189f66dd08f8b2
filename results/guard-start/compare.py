"""Safe-RULE with the actor term's guard starting low (`actor_guard_start` 0.01, the
variant `safe-rule-guard-start`) beside Safe-RULE as it was (the guard starting at 1) and
retraining, on the same poisoned agents. Prints a markdown table.

    python results/guard-start/compare.py
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
ALGORITHMS = HERE.parent / "algorithms"
SCALE = HERE.parent / "scale"


def rows(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def key(row):
    return row["task"], row["algorithm"], row["attack"], row["ratio"], row["seed"], row["train_steps"]


def main() -> None:
    # the guard starting at 1: the rows of the grids as they stand, else the ones the
    # plateau stop set aside (their early stop ran longer; marked *)
    before, reference = {}, {}
    for directory in (ALGORITHMS, SCALE):
        for row in rows(directory / "superseded-before-plateau-stop.jsonl"):
            before[key(row)] = (row, "*")
        for row in rows(directory / "results.jsonl"):
            if row["method"] == "safe-rule" and row["status"] == "ok":
                before[key(row)] = (row, "")
            if row["method"] == "retrain" and row["status"] == "ok" \
                    and row.get("forget_recall", 1.0) == 1.0:
                reference[key(row)] = row
    print("| task | algorithm | attack | seed | retraining | guard from 1 | steps | "
          "guard from 0.01 | steps |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def cell(row):
        mark = "" if row["safe"] else " **unsafe**"
        return f"{row['normalized_reward']:.3f} / {row['normalized_cost']:.2f}{mark}"

    for row in rows(HERE / "results.jsonl"):
        if row["method"] != "safe-rule-guard-start" or row["status"] != "ok":
            continue
        old, mark = before.get(key(row), (None, ""))
        retrain = reference.get(key(row))
        print(f"| {row['task']} | {row['algorithm']} | {row['attack']}{round(row['ratio'] * 100)} "
              f"| {row['seed']} | {cell(retrain) if retrain else '-'} "
              f"| {cell(old) + mark if old else '-'} | {old['steps_run'] if old else '-'} "
              f"| {cell(row)} | {row['steps_run']} |")


if __name__ == "__main__":
    main()
