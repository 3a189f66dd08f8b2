"""The upstream stack as installed by `make setup`: patched, importable, simulating."""

import shutil
import subprocess

import numpy as np

from osrl_unlearn.patching import PATCH_DIR, SITE_PATCHES, _site_dir, apply_all, is_applied
from osrl_unlearn.tasks import make_env

NAME = "safety-gymnasium-0.4.0-py311-dataclasses.patch"


def test_patch_is_in_the_installed_safety_gymnasium():
    assert is_applied(NAME)


def test_patch_detection_and_application_on_an_unpatched_copy(tmp_path, capsys):
    installed = _site_dir(SITE_PATCHES[NAME]) / "safety_gymnasium"
    shutil.copytree(installed / "assets", tmp_path / "safety_gymnasium" / "assets")
    with open(PATCH_DIR / NAME) as handle:  # undo it on the copy: an unpatched package
        subprocess.run(["patch", "-p1", "-R", "--force", "--silent", "-d", str(tmp_path)],
                       stdin=handle, check=True)
    assert not is_applied(NAME, tmp_path)
    apply_all(tmp_path)
    assert is_applied(NAME, tmp_path)
    apply_all(tmp_path)  # idempotent
    assert "already applied" in capsys.readouterr().out


def test_velocity_task_constructs_and_steps_on_python_311():
    env = make_env("OfflineAntVelocityGymnasium-v1")
    observation, _ = env.reset(seed=0)
    next_observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert observation.shape == next_observation.shape == env.observation_space.shape
    assert "cost" in info and np.isfinite(reward)
