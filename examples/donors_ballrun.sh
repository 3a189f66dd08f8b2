#!/usr/bin/env bash
# Safe-RULE when the poison is the attacker's own episodes rather than copies of the
# clean data's: collect donor episodes with another seed, inject the costliest of them
# (MaxCost15) into the clean BallRun data, train BCQ-L on it, then compare Safe-RULE,
# fine-tuning and retraining with examples/unlearn_ballrun.sh.
# Usage: DATA=data-donors examples/donors_ballrun.sh [STEPS] [UNLEARN_STEPS]
set -euo pipefail
STEPS=${1:-10000}
UNLEARN_STEPS=${2:-5000}
export OSRL_UNLEARN_DATA_DIR=${DATA:-$PWD/data-donors}
export WANDB_MODE=disabled
LOGDIR=${LOGDIR:-logs/donors}
CLI=.venv/bin/osrl-unlearn
mkdir -p "$OSRL_UNLEARN_DATA_DIR"

base=$(.venv/bin/python -c "from osrl_unlearn.data.variants import base_dataset_path; print(base_dataset_path('OfflineBallRun-v0'))")
[ -f "$base" ] || $CLI collect --task OfflineBallRun-v0 --episodes 300 --seed 0
donors=$OSRL_UNLEARN_DATA_DIR/attacker-episodes-seed1.hdf5
[ -f "$donors" ] || $CLI collect --task OfflineBallRun-v0 --episodes 300 --seed 1 --out "$donors"
$CLI poison --task OfflineBallRun-v0 --attack max-cost --ratio 0.15 --donors "$donors"

RUN=$LOGDIR/OfflineBallRun-Generated-MaxCost15-v0-cost-10/bcql-MaxCost15
[ -f "$RUN/timing.json" ] || .venv/bin/python examples/train_bcql.py \
  --task OfflineBallRun-Generated-MaxCost15-v0 --update_steps "$STEPS" --threads 1 --logdir "$LOGDIR" \
  --name bcql-MaxCost15
SOURCE=$RUN examples/unlearn_ballrun.sh "$UNLEARN_STEPS"
