#!/usr/bin/env bash
# How completely is the poison gone? `osrl-unlearn audit` on the poisoned, Safe-RULE,
# fine-tuned, TrajDeleter and retrained agents of two cells of the algorithms grid
# (run `osrl-unlearn bench --config examples/grids/algorithms.yaml` first: the audited
# runs are its logs). One JSON per agent and results/audit/summary.md.
#   examples/audit_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE=${WANDB_MODE:-disabled}
LOGS=logs/bench-algorithms
SETTINGS=("OfflineBallRun bcql" "OfflineCarCircle coptidice")
for setting in "${SETTINGS[@]}"; do
  read -r task algorithm <<< "$setting"
  cell=$LOGS/$task-Generated-MaxCost15-v0-cost-10/$algorithm-seed0
  out=results/audit/$task-$algorithm-seed0
  mkdir -p "$out"
  for method in poisoned safe-rule finetune trajdeleter retrain; do
    [ -f "$out/$method.json" ] && continue
    run=$cell-$method checkpoint=best
    [ "$method" = poisoned ] && run=$cell
    # poisoned and retrained agents are judged on their last checkpoint, as in the bench
    case $method in poisoned|retrain) checkpoint=last;; esac
    .venv/bin/osrl-unlearn audit --path "$run" --forget "$task-Generated-MaxCost15-v0" \
      --retrained "$cell-retrain" --checkpoint $checkpoint --out "$out/$method"
    mv "$out/$method/audit.json" "$out/$method.json" && rmdir "$out/$method"
  done
done
.venv/bin/python - <<'PY' > results/audit/summary.md
import json
from pathlib import Path
print("# Audit: how completely the MaxCost15 poison is gone (seed 0)\n")
print("Made by `examples/audit_all.sh` (`osrl-unlearn audit`, 3 references fine-tuned 300 "
      "steps on D_k from the retrained agent, z threshold 3, relearning on D_f up to 2,000 "
      "steps with 5 evaluation episodes every 250). Generated data, not DSRL's.\n")
print("| cell | agent | D_f episodes judged forgotten | action distance to retrained, D_f / D_k states | "
      "relearning steps until unsafe (retrained agent) |")
print("| --- | --- | --- | --- | --- |")
for folder in sorted(Path("results/audit").iterdir()):
    if not folder.is_dir():
        continue
    for method in ("poisoned", "safe-rule", "finetune", "trajdeleter", "retrain"):
        path = folder / f"{method}.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        mine = report["relearning"]["unsafe_after_steps"]
        theirs = report["retrained_relearning"]["unsafe_after_steps"]
        text = lambda steps: "safe throughout" if steps is None else f"{steps:,}"
        print(f"| {folder.name} | {method} | {report['share_forgotten']:.2f} of "
              f"{report['forget_episodes']} | {report['policy_distance_forget']:.3f} / "
              f"{report['policy_distance_keep']:.3f} | {text(mine)} ({text(theirs)}) |")
PY
cat results/audit/summary.md
