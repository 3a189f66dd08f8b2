#!/usr/bin/env bash
# How does safety evolve with training steps? Algorithms at their CPU-scale defaults on a
# task's clean generated data, 50,000 steps, 10 evaluation episodes every 5,000, seed 0.
# Resumable: a run stopped after an evaluation continues (--resume true).
#   examples/reference_curves.sh TASK ALGORITHM...  ->  results/references/curves-50k-TASK.md
# e.g. examples/reference_curves.sh OfflineBallRun-Generated-v0 cpq bearl
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE=${WANDB_MODE:-disabled}
if [ $# -lt 2 ]; then
  echo "usage: examples/reference_curves.sh TASK ALGORITHM [ALGORITHM...]" \
       "(TASK a generated id, e.g. OfflineCarCircle-Generated-v0)" >&2
  exit 2
fi
TASK=$1
shift
LOGS=logs/reference-curves
OUT=results/references/curves-50k-$TASK.md
for algorithm in "$@"; do
  run=$LOGS/$TASK-cost-10/$algorithm-seed0
  [ -f "$run/timing.json" ] && continue
  resume=false
  [ -f "$run/checkpoint/train_resume.pt" ] && resume=true
  .venv/bin/python examples/train_$algorithm.py --task $TASK --update_steps 50000 \
    --eval_every 5000 --eval_episodes 10 --threads 1 --logdir $LOGS --name $algorithm-seed0 \
    --resume $resume
done
mkdir -p results/references
# One line per algorithm; lines of algorithms not given here (their runs may be on another
# machine) are kept from the existing file.
.venv/bin/python - "$TASK" "$LOGS" "$OUT" "$@" <<'PY'
import csv, re, sys
from pathlib import Path
from osrl_unlearn.evaluation import make_eval_env
task, logs, out, algorithms = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
lines = {}
if out.exists():
    lines = dict(re.findall(r"^- (\w+): (.*)$", out.read_text(), flags=re.M))
env = make_eval_env(task, 0.1, 10.0)
for algorithm in algorithms:
    progress = logs / f"{task}-cost-10" / f"{algorithm}-seed0" / "progress.txt"
    if not progress.exists():
        continue
    cells = []
    for row in csv.DictReader(open(progress), delimiter="\t"):
        reward, cost = env.get_normalized_score(float(row["eval/Reward"]), float(row["eval/Cost"]))
        cells.append(f"{int(float(row['Steps'])) + 1:,}: {reward:.2f} / {cost:.2f}")
    lines[algorithm] = "; ".join(cells)
out.write_text(
    f"# Trained on the clean generated {task}: normalized reward / cost per evaluation\n\n"
    f"Made by `examples/reference_curves.sh {task} {' '.join(lines)}`; 10 episodes per "
    "evaluation, seed 0; safe: cost <= 1.\n\n"
    + "".join(f"- {algorithm}: {cells}\n" for algorithm, cells in lines.items()))
PY
cat "$OUT"
