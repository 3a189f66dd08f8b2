"""`osrl-unlearn doctor`: is the OSRL stack installed, patched and able to simulate?"""

from __future__ import annotations

from importlib import metadata
from typing import Callable, List, Tuple


from osrl_unlearn.patching import SITE_PATCHES, is_applied
from osrl_unlearn.data.tasks import make_env

PACKAGES = (
    "osrl-lib", "dsrl", "fast-safe-rl", "torch", "numpy", "gymnasium", "pybullet",
    "bullet-safety-gym", "safety-gymnasium", "mujoco", "pyrallis", "h5py", "osrl-unlearn"
)
SMOKE_TASKS = ("OfflineBallRun-v0", "OfflineAntVelocityGymnasium-v1")


def _step_task(task: str) -> str:
    env = make_env(task)
    env.reset(seed=0)
    for _ in range(5):
        _, reward, _, _, info = env.step(env.action_space.sample())
    env.close()
    return f"5 steps, last reward {reward:.3f}, cost {info['cost']}"


def run_checks() -> List[Tuple[str, bool, str]]:
    """Every check as (what, passed, detail)."""
    checks = []
    for package in PACKAGES:
        try:
            checks.append((f"package {package}", True, metadata.version(package)))
        except metadata.PackageNotFoundError:
            checks.append((f"package {package}", False, "not installed"))
    for name in SITE_PATCHES:
        checks.append((f"patch {name}", *_guarded(lambda: _patch_detail(name))))
    for task in SMOKE_TASKS:
        checks.append((f"simulate {task}", *_guarded(lambda: _step_task(task))))
    return checks


def _patch_detail(name: str) -> str:
    if not is_applied(name):
        raise RuntimeError("not applied (run `make setup`)")
    return "applied"


def _guarded(check: Callable[[], str]) -> Tuple[bool, str]:
    try:
        return True, check()
    except Exception as error:  # a doctor reports every failure instead of stopping
        return False, f"{type(error).__name__}: {error}".splitlines()[0]


def doctor() -> int:
    """Print the checks; exit code 0 only when all passed."""
    checks = run_checks()
    width = max(len(what) for what, _, _ in checks)
    for what, passed, detail in checks:
        print(f"{'ok  ' if passed else 'FAIL'} {what:<{width}}  {detail}")
    failed = sum(not passed for _, passed, _ in checks)
    print("all checks passed" if failed == 0 else f"{failed} check(s) failed")
    return 0 if failed == 0 else 1
