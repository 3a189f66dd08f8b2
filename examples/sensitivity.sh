#!/usr/bin/env bash
# Safe-RULE's sensitivity on one poisoned agent: unlearning steps (1,000 / 2,500 /
# 5,000 / 10,000), reward reference percentile (30 against 50), adaptive against fixed
# forget weight, retention tolerance (0.5 / 1 / 2). Runs one after another, reuses
# finished runs, then evaluates each (model_best.pt, chosen offline) on 20 episodes and
# writes the table to OUT.
# Usage: examples/sensitivity.sh [SOURCE_RUN] [FORGET_ID] [OUT]
set -euo pipefail
SOURCE=${1:-logs/poison-matters/OfflineBallRun-Generated-MaxCost15-v0-cost-10/bcql-MaxCost15}
FORGET=${2:-OfflineBallRun-Generated-MaxCost15-v0}
OUT=${3:-results/sensitivity/table.md}
export WANDB_MODE=disabled
CLI=.venv/bin/osrl-unlearn

declare -A VARIANTS=(
  [steps1000]="--unlearning.steps 1000"
  [steps2500]="--unlearning.steps 2500"
  [steps5000]="--unlearning.steps 5000"
  [steps10000]="--unlearning.steps 10000"
  [p50]="--unlearning.steps 5000 --unlearning.reward_percentile 50"
  [fixed1]="--unlearning.steps 5000 --unlearning.adaptive_forget_weight false --unlearning.forget_weight 1"
  [fixed10]="--unlearning.steps 5000 --unlearning.adaptive_forget_weight false --unlearning.forget_weight 10"
  [tol05]="--unlearning.steps 5000 --unlearning.retention_tolerance 0.5"
  [tol2]="--unlearning.steps 5000 --unlearning.retention_tolerance 2"
)
NAMES=(steps1000 steps2500 steps5000 steps10000 p50 fixed1 fixed10 tol05 tol2)
for name in "${NAMES[@]}"; do
  out="$SOURCE-sens-$name"
  [ -f "$out/unlearn_summary.json" ] || \
    $CLI unlearn --path "$SOURCE" --forget "$FORGET" --out "$out" ${VARIANTS[$name]}
  [ -f "$out/eval_model_best.json" ] || $CLI eval --path "$out" --episodes 20
done
$CLI compare "${NAMES[@]/#/$SOURCE-sens-}" --out "$OUT"
