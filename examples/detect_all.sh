#!/usr/bin/env bash
# The poison detector on every poisoned dataset of the algorithms grid and the bite grid:
# ROC AUC, precision and recall (the 15% most suspicious episodes flagged) of the
# label-disagreement score against the return-outlier baseline.
#   examples/detect_all.sh   ->   results/detect/<id>/detection.json, results/detect/summary.md
set -euo pipefail
cd "$(dirname "$0")/.."
IDS=(OfflineBallRun-Generated-MaxCost15-v0 OfflineBallRun-Generated-RewardLure15-v0 OfflineBallRun-Generated-CostSwap15-v0
     OfflineCarCircle-Generated-MaxCost15-v0)
for id in "${IDS[@]}"; do
  .venv/bin/osrl-unlearn detect --dataset "$id" --out "results/detect/$id" >/dev/null
  rm -f "results/detect/$id/forget_mask.npy"  # a mask is for unlearning; the table needs none
done
.venv/bin/python - "${IDS[@]}" <<'PY' > results/detect/summary.md
import json, sys
print("# Poison detection on the generated datasets (15% of episodes flagged)\n")
print("Made by `examples/detect_all.sh`. Per dataset id: ROC AUC / precision / recall.\n")
print("| dataset | label disagreement | return outliers (baseline) |")
print("| --- | --- | --- |")
for dataset in sys.argv[1:]:
    quality = json.load(open(f"results/detect/{dataset}/detection.json"))["quality"]
    cells = [f"{q['auc']:.3f} / {q['precision']:.3f} / {q['recall']:.3f}" for q in quality.values()]
    print(f"| {dataset} | " + " | ".join(cells) + " |")
PY
cat results/detect/summary.md
