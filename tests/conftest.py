"""Shared fixtures: a small real dataset collected once per test session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")

# Bullet-Safety-Gym hides PyBullet's banner by redirecting stdout/stderr and then
# flushing C's stream found by the Python stream's name (`<stdout>` -> libc `stdout`).
# pytest's captured streams have other names, so under pytest that lookup fails:
# import it once against the real stderr and skip the (cosmetic) flush afterwards.
_captured_stderr, sys.stderr = sys.stderr, sys.__stderr__
from bullet_safety_gym.envs import builder  # noqa: E402

sys.stderr = _captured_stderr
builder.RedirectStream._flush_c_stream = staticmethod(lambda stream: None)

SMALL_TASK = "OfflineBallRun-v0"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A private generated-data folder, exported so that subprocesses use it too."""
    folder = tmp_path_factory.mktemp("generated")
    os.environ["OSRL_UNLEARN_DATA_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def ball_run_file(data_dir) -> Path:
    """12 real BallRun episodes (1,200 transitions) at the task's generated-data path."""
    from osrl_unlearn.data.collect import collect_to_file
    from osrl_unlearn.data.variants import base_dataset_path

    return collect_to_file(SMALL_TASK, episodes=12, out=base_dataset_path(SMALL_TASK), seed=3,
                           progress=False)


@pytest.fixture(scope="session")
def ball_run_data(ball_run_file):
    from osrl_unlearn.data.datasets import read_hdf5

    return read_hdf5(ball_run_file)[0]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the installed command line as a user would."""
    return subprocess.run([sys.executable, "-m", "osrl_unlearn.cli", *args],
                          capture_output=True, text=True, env=os.environ.copy())


TINY_NETWORKS = {"a_hidden_sizes": [16, 16], "c_hidden_sizes": [16, 16]}


@pytest.fixture(scope="session")
def poisoned_runs(ball_run_file, tmp_path_factory):
    """One tiny real OSRL run per algorithm, trained 20 steps on OfflineBallRun-Generated-MaxCost15-v0."""
    from osrl_unlearn.adapters import ALGORITHMS, get_adapter
    from osrl_unlearn.training import train

    logdir = tmp_path_factory.mktemp("logs")
    runs = {}
    for algorithm in ALGORITHMS:
        adapter = get_adapter(algorithm)
        extra = {"vae_hidden_sizes": 16} if "vae_hidden_sizes" in adapter.Config.__dataclass_fields__ else {}
        cfg = adapter.Config(task="OfflineBallRun-Generated-MaxCost15-v0", update_steps=20, eval_every=20,
                             eval_episodes=1, batch_size=32, logdir=str(logdir), name=algorithm,
                             **TINY_NETWORKS, **extra)
        runs[algorithm] = train(cfg, adapter, progress=False)
    return runs
