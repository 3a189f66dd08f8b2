#!/usr/bin/env bash
# Is CPQ's and BEAR-L's unlearning stable? (issue 9, item 4)
# Trains CPQ (OSRL's, and repaired) and BEAR-L on the poisoned BallRun data, then unlearns
# each with Safe-RULE three ways: with the state training left beside the checkpoint
# (optimizers, multipliers), as a run of unmodified OSRL with its multipliers restarted
# from their initial values (what unlearning did before it carried them), and as one
# with them re-estimated on D_k first. Every run goes all its steps (no early stop) so
# its drift shows; examples/stability_table.py tabulates the logs.
# Usage: examples/stability.sh [TRAIN_STEPS] [UNLEARN_STEPS]
set -euo pipefail
STEPS=${1:-10000}
UNLEARN_STEPS=${2:-5000}
export WANDB_MODE=disabled
DATASET=OfflineBallRun-Generated-MaxCost15-v0
LOGDIR=${LOGDIR:-logs/stability}
GROUP=$LOGDIR/$DATASET-cost-10
PY=.venv/bin/python
CLI=.venv/bin/osrl-unlearn

train() {  # name script [flags...]
  local name=$1 script=$2; shift 2
  [ -f "$GROUP/$name/checkpoint/model.pt" ] || $PY "examples/$script" --task $DATASET \
    --update_steps "$STEPS" --threads 1 --logdir "$LOGDIR" --name "$name" "$@"
}
train cpq-osrl train_cpq.py --ood_penalty_gradient false
train cpq-repaired train_cpq.py
train bearl train_bearl.py

for name in cpq-osrl cpq-repaired bearl; do
  [ -f "$GROUP/$name/eval_model.json" ] || $CLI eval --path "$GROUP/$name" --episodes 10 --last
  # the same run as unmodified OSRL leaves it: config and checkpoints, no training state
  bare=$GROUP/$name-osrl-checkpoint
  if [ ! -d "$bare" ]; then
    mkdir -p "$bare/checkpoint"
    cp "$GROUP/$name/config.yaml" "$bare/"
    cp "$GROUP/$name/checkpoint/model.pt" "$GROUP/$name/checkpoint/model_best.pt" "$bare/checkpoint/"
  fi
  for variant in carried restarted re-estimated; do
    case $variant in
      carried) source=$GROUP/$name; warmup=200 ;;
      restarted) source=$bare; warmup=0 ;;
      re-estimated) source=$bare; warmup=200 ;;
    esac
    out=$GROUP/$name-safe-rule-$variant
    [ -f "$out/unlearn_summary.json" ] || $CLI unlearn --path "$source" --forget $DATASET \
      --unlearning.method safe-rule --unlearning.steps "$UNLEARN_STEPS" \
      --unlearning.stop_after_saves 0 --unlearning.multiplier_warmup $warmup --out "$out"
    [ -f "$out/eval_model_best.json" ] || $CLI eval --path "$out" --episodes 10
  done
done
mkdir -p results/stability
$PY examples/stability_table.py "$GROUP" > results/stability/report.md
