"""The upstream stack as installed by `make setup`: patched, importable, simulating."""

import numpy as np

from osrl_unlearn.patching import SITE_PATCHES, apply_all, is_applied
from osrl_unlearn.tasks import make_env


def test_safety_gymnasium_patch_is_applied_and_reapplying_changes_nothing(capsys):
    for name in SITE_PATCHES:
        assert is_applied(name)
    apply_all()
    assert "already applied" in capsys.readouterr().out


def test_velocity_task_constructs_and_steps_on_python_311():
    env = make_env("OfflineAntVelocityGymnasium-v1")
    observation, _ = env.reset(seed=0)
    next_observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert observation.shape == next_observation.shape == env.observation_space.shape
    assert "cost" in info and np.isfinite(reward)
