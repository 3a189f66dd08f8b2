#!/usr/bin/env bash
# Build the generated dataset of every supported task and keep its summary and
# reward-cost picture under results/datasets/. Usage: examples/collect_all.sh [EPISODES]
set -euo pipefail
EPISODES=${1:-300}
OUT=results/datasets
mkdir -p "$OUT"
for task in OfflineBallRun-v0 OfflineCarRun-v0 OfflineBallCircle-v0 OfflineCarCircle-v0 \
            OfflineAntVelocityGymnasium-v1; do
  episodes=$EPISODES
  [ "$task" = OfflineAntVelocityGymnasium-v1 ] && episodes=$((EPISODES / 3))  # 1,000-step episodes
  file=$(.venv/bin/python -c "from osrl_unlearn.data.variants import base_dataset_path; print(base_dataset_path('$task'))")
  [ -f "$file" ] || .venv/bin/osrl-unlearn collect --task "$task" --episodes "$episodes" --seed 0 >/dev/null
  .venv/bin/python - "$task" "$file" "$OUT" <<'PY'
import json, sys
from pathlib import Path
from osrl_unlearn.data.collect import summarise
from osrl_unlearn.data.datasets import read_hdf5
from osrl_unlearn.data.plots import plot_dataset
task, file, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
data = read_hdf5(file)[0]  # the file may have been collected by the bench, without a picture
summary = {"task": task, **summarise(data, 10.0)}
(out / f"{task}.json").write_text(json.dumps(summary, indent=2))
plot_dataset(data, 10.0, f"{task} (generated)", out / f"{task}.png")
print(json.dumps(summary))
PY
done
