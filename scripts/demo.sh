#!/usr/bin/env bash
# The main job, small enough for a laptop (about five minutes on 2 cores):
#   check the stack -> build a generated BallRun dataset in the simulator -> poison it
#   (MaxCost15) -> train OSRL's BCQ-L on the poisoned data -> unlearn the poison with
#   Safe-RULE (and fine-tuning, for comparison) -> evaluate all three in the simulator.
# Everything goes under demo/ (generated data: not DSRL's official datasets). Running it
# again reuses what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export OSRL_UNLEARN_DATA_DIR=${OSRL_UNLEARN_DATA_DIR:-$PWD/demo/data}
export WANDB_MODE=${WANDB_MODE:-disabled}
CLI=.venv/bin/osrl-unlearn
TASK=OfflineBallRun-v0
POISONED=OfflineBallRun-MaxCost15-v0
RUN=demo/logs/$POISONED-cost-10/bcql
STEPS=${DEMO_UNLEARN_STEPS:-1000}

$CLI doctor
base=$(.venv/bin/python -c "from osrl_unlearn.data.variants import base_dataset_path; print(base_dataset_path('$TASK'))")
[ -f "$base" ] && echo "reusing $base" || $CLI collect --task $TASK --episodes 200 --seed 0
$CLI poison --task $TASK --attack max-cost --ratio 0.15
echo "reward-cost pictures: $OSRL_UNLEARN_DATA_DIR/*.png"

[ -f "$RUN/checkpoint/model.pt" ] || .venv/bin/python examples/train_bcql.py --task $POISONED \
  --update_steps 3000 --eval_every 1000 --logdir demo/logs --name bcql
for method in safe-rule finetune; do
  resume=""
  [ -f "$RUN-$method/checkpoint/unlearn_state.pt" ] && resume="--resume true"
  $CLI unlearn --path "$RUN" --forget $POISONED --unlearning.method $method --unlearning.steps "$STEPS" $resume
done

echo "== DSRL normalized reward and cost over 10 episodes (safe: cost <= 1)"
echo "   (a 3,000-step agent and 1,000 unlearning steps: these numbers are noisy; the"
echo "    10,000-step comparison is in README.md, Results)"
$CLI eval --path "$RUN" --last --episodes 10
for method in safe-rule finetune; do
  $CLI eval --path "$RUN-$method" --episodes 10
done
