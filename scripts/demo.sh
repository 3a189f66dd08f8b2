#!/usr/bin/env bash
# The main job, small: check the stack, build a generated BallRun dataset in the
# simulator, poison it (MaxCost15), and draw both datasets' reward-cost pictures.
# Everything goes under demo/ (generated data: not DSRL's official datasets).
set -euo pipefail
cd "$(dirname "$0")/.."
export OSRL_UNLEARN_DATA_DIR=${OSRL_UNLEARN_DATA_DIR:-$PWD/demo/data}
CLI=.venv/bin/osrl-unlearn
TASK=OfflineBallRun-v0

$CLI doctor
base=$(.venv/bin/python -c "from osrl_unlearn.variants import base_dataset_path; print(base_dataset_path('$TASK'))")
if [ -f "$base" ]; then
  echo "reusing $base"
else
  $CLI collect --task $TASK --episodes 200 --seed 0
fi
$CLI poison --task $TASK --attack max-cost --ratio 0.15
echo "pictures: $OSRL_UNLEARN_DATA_DIR/*.png"
