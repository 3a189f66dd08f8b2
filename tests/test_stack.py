"""The upstream stack as installed by `make setup`: patched, importable, simulating."""

import shutil
import subprocess

import numpy as np
import pytest

from osrl_unlearn.patching import (
    PATCH_DIR, SITE_PATCHES, _site_dir, apply_all, is_applied, patched_files
)
from osrl_unlearn.data.tasks import make_env

@pytest.mark.parametrize("name", sorted(SITE_PATCHES))
def test_patch_is_in_the_installed_package(name):
    assert is_applied(name)


def test_patch_detection_and_application_on_an_unpatched_copy(tmp_path, capsys):
    for name, package in SITE_PATCHES.items():  # an unpatched copy of what the patches touch
        for relative in patched_files(name):
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(_site_dir(package) / relative, tmp_path / relative)
        with open(PATCH_DIR / name) as handle:
            subprocess.run(["patch", "-p1", "-R", "--force", "--silent", "-d", str(tmp_path)],
                           stdin=handle, check=True)
        assert not is_applied(name, tmp_path)
    apply_all(tmp_path)
    assert all(is_applied(name, tmp_path) for name in SITE_PATCHES)
    apply_all(tmp_path)  # idempotent
    assert capsys.readouterr().out.count("already applied") == len(SITE_PATCHES)


def test_dsrl_downloads_from_the_host_dsrl_now_uses():
    """Read offline: every official file's URL points at DSRL's current host."""
    from dsrl.infos import DATASET_URLS

    assert len(DATASET_URLS) == 38
    assert all(url.startswith("https://huggingface.co/datasets/YYY-45/DSRL/resolve/main/")
               for url in DATASET_URLS.values())


def test_velocity_task_constructs_and_steps_on_python_311():
    env = make_env("OfflineAntVelocityGymnasium-v1")
    observation, _ = env.reset(seed=0)
    next_observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert observation.shape == next_observation.shape == env.observation_space.shape
    assert "cost" in info and np.isfinite(reward)
