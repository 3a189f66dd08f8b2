#!/usr/bin/env bash
# Safe-RULE against fine-tuning and retraining on one poisoned BCQ-L agent, one after
# another on the same machine (so their wall times compare), then 20 evaluation
# episodes each for the best and the last checkpoint. Needs the poisoned run of
# examples/poison_matters.sh.
# Usage: examples/unlearn_ballrun.sh [STEPS]
set -euo pipefail
STEPS=${1:-5000}
export WANDB_MODE=disabled
SOURCE=${SOURCE:-logs/poison-matters/OfflineBallRun-Generated-MaxCost15-v0-cost-10/bcql-MaxCost15}
CLI=.venv/bin/osrl-unlearn

for method in safe-rule finetune retrain; do
  $CLI unlearn --path "$SOURCE" --forget OfflineBallRun-Generated-MaxCost15-v0 --unlearning.method $method --unlearning.steps "$STEPS"
done
$CLI eval --path "$SOURCE" --episodes 20 --last
for method in safe-rule finetune retrain; do
  $CLI eval --path "$SOURCE-$method" --episodes 20          # model_best.pt
  $CLI eval --path "$SOURCE-$method" --episodes 20 --last   # model.pt
done
