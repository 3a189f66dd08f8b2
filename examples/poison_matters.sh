#!/usr/bin/env bash
# Does the poison matter? Train BCQ-L on clean and on MaxCost15 data of one Bullet
# task and evaluate both in the simulator. Usage: examples/poison_matters.sh [TASK] [STEPS]
set -euo pipefail
TASK=${1:-OfflineBallRun-v0}
STEPS=${2:-10000}
BASE=${TASK%-v*}
LOGDIR=${LOGDIR:-logs/poison-matters}
export WANDB_MODE=disabled
PY=.venv/bin/python

data=$($PY -c "from osrl_unlearn.data.variants import base_dataset_path; print(base_dataset_path('$TASK'))")
[ -f "$data" ] || .venv/bin/osrl-unlearn collect --task "$TASK" --episodes 300
.venv/bin/osrl-unlearn poison --task "$TASK" --attack max-cost --ratio 0.15

for variant in Generated Generated-MaxCost15; do
  $PY examples/train_bcql.py --task "${BASE}-${variant}-v0" --update_steps "$STEPS" \
    --threads 1 --logdir "$LOGDIR" --name "bcql-${variant#Generated-}" &
done
wait
for variant in Generated Generated-MaxCost15; do
  .venv/bin/osrl-unlearn eval --path "$LOGDIR/${BASE}-${variant}-v0-cost-10/bcql-${variant#Generated-}" --episodes 20 --last
done
