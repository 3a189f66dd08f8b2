#!/usr/bin/env bash
# How completely is the poison gone? `osrl-unlearn audit` on the poisoned, Safe-RULE,
# fine-tuned, TrajDeleter and retrained agents (seed 0) of two cells where the attack
# bites (BallRun BCQ-L MaxCost15, CarRun COptiDICE RewardLure15), and, to calibrate the
# verdict, on the agents retrained on D_k with seeds 1 and 2: they never saw D_f either,
# so an audit that asks "was D_f forgotten" and not "is this the seed-0 agent" passes
# them. Needs the algorithms grid's runs (results/algorithms/results.jsonl names them).
#   examples/audit_all.sh   ->   results/audit/<cell>/<agent>.json, results/audit/summary.md
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE=${WANDB_MODE:-disabled}
run_of() {  # task algorithm attack seed method -> the run directory of that results row
  .venv/bin/python - "$@" <<'PY'
import json, sys
task, algorithm, attack, seed, method = sys.argv[1:]
runs = [row["run"] for row in map(json.loads, open("results/algorithms/results.jsonl"))
        if row["status"] == "ok" and (row["task"], row["algorithm"], row["attack"], str(row["seed"]),
                                      row["method"]) == (task, algorithm, attack, seed, method)]
print(runs[-1])
PY
}
SETTINGS=("OfflineBallRun bcql max-cost MaxCost15" "OfflineCarRun coptidice reward-lure RewardLure15")
for setting in "${SETTINGS[@]}"; do
  read -r task algorithm attack variant <<< "$setting"
  forget=$task-Generated-$variant-v0
  out=results/audit/$task-$algorithm-$variant-seed0
  mkdir -p "$out"
  retrained=$(run_of "$task-v0" "$algorithm" "$attack" 0 retrain)
  for agent in poisoned safe-rule finetune trajdeleter retrain retrain-seed1 retrain-seed2; do
    [ -f "$out/$agent.json" ] && continue
    # poisoned and retrained agents are judged on their last checkpoint, as in the bench
    case $agent in
      retrain-seed*) run=$(run_of "$task-v0" "$algorithm" "$attack" "${agent#retrain-seed}" retrain) checkpoint=last;;
      poisoned|retrain) run=$(run_of "$task-v0" "$algorithm" "$attack" 0 "$agent") checkpoint=last;;
      *) run=$(run_of "$task-v0" "$algorithm" "$attack" 0 "$agent") checkpoint=best;;
    esac
    .venv/bin/osrl-unlearn audit --path "$run" --forget "$forget" --retrained "$retrained" \
      --checkpoint $checkpoint --relearn-eval-every 50 --out "$out/$agent"
    mv "$out/$agent/audit.json" "$out/$agent.json" && rmdir "$out/$agent"
  done
done
.venv/bin/python - <<'PY' > results/audit/summary.md
import json
from pathlib import Path
print("# Audit: how completely the poison is gone (seed 0)\n")
print("Made by `examples/audit_all.sh` (`osrl-unlearn audit`, 3 references fine-tuned 300 "
      "steps on D_k from the seed-0 retrained agent, z threshold 3, relearning on D_f up to "
      "2,000 steps with 5 evaluation episodes every 50). `retrain-seed1/2`: agents retrained "
      "on D_k with other seeds, the verdict's calibration (they never saw D_f). "
      "Generated data, not DSRL's.\n")
print("| cell | agent | D_f episodes judged forgotten | action distance to retrained, D_f / D_k states | "
      "relearning steps until unsafe (retrained agent) |")
print("| --- | --- | --- | --- | --- |")
for folder in sorted(Path("results/audit").iterdir()):
    if not folder.is_dir():
        continue
    for agent in ("poisoned", "safe-rule", "finetune", "trajdeleter", "retrain", "retrain-seed1",
                  "retrain-seed2"):
        path = folder / f"{agent}.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        mine = report["relearning"]["unsafe_after_steps"]
        theirs = report["retrained_relearning"]["unsafe_after_steps"]
        text = lambda steps: "safe throughout" if steps is None else f"{steps:,}"
        print(f"| {folder.name} | {agent} | {report['share_forgotten']:.2f} of "
              f"{report['forget_episodes']} | {report['policy_distance_forget']:.3f} / "
              f"{report['policy_distance_keep']:.3f} | {text(mine)} ({text(theirs)}) |")
PY
cat results/audit/summary.md
