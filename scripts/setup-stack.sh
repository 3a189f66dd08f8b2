#!/usr/bin/env bash
# Create .venv with the OSRL stack and this project installed; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
fi
PIP="$VENV/bin/pip"

echo "== installing the working set (requirements-stack.txt)"
"$PIP" install -q -r requirements-stack.txt
echo "== installing the OSRL stack without its stale pins"
"$PIP" install -q --no-deps osrl-lib==0.1.0 dsrl==0.1.0 fast-safe-rl==0.1.0 \
  bullet-safety-gym==1.4.0 safety-gymnasium==0.4.0
echo "== patching safety-gymnasium (Python 3.11) and dsrl (its data host)"
"$VENV/bin/python" scripts/apply_patches.py
echo "== installing osrl-unlearn (editable)"
"$PIP" install -q --no-deps -e .
touch .setup-done
echo "== setup done: $VENV"
