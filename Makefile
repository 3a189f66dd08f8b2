# One command each: `make demo` runs the main job, `make test` the test suite.
# Both set the machine up first (a .venv with the OSRL stack) when that is not done.
VENV := .venv
PY := $(VENV)/bin/python
export WANDB_MODE ?= disabled

.PHONY: setup demo test doctor

setup: .setup-done

.setup-done: scripts/setup-stack.sh requirements-stack.txt setup.cfg $(wildcard patches/*.patch)
	scripts/setup-stack.sh

demo: .setup-done
	scripts/demo.sh

test: .setup-done
	$(PY) -m pytest

doctor: .setup-done
	$(VENV)/bin/osrl-unlearn doctor
