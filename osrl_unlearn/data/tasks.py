"""The DSRL tasks this project builds data for, and making their environments quietly."""

from __future__ import annotations

import warnings

from osrl_unlearn.errors import UserInputError

BULLET_TASKS = (
    "OfflineBallRun-v0",
    "OfflineCarRun-v0",
    "OfflineBallCircle-v0",
    "OfflineCarCircle-v0",
)
VELOCITY_TASKS = ("OfflineAntVelocityGymnasium-v1", )
SUPPORTED_TASKS = BULLET_TASKS + VELOCITY_TASKS

# OSRL's configs use an episode cost limit of 10 by default; DSRL's benchmark also
# reports 20 and 40. Normalized cost is episode cost divided by this limit.
DEFAULT_COST_LIMIT = 10.0


def check_task(task: str) -> str:
    """Return `task` if this project can build data for it, else raise a clear error."""
    if task not in SUPPORTED_TASKS:
        raise UserInputError(
            f"unknown task {task!r}; supported tasks: {', '.join(SUPPORTED_TASKS)}"
        )
    return task


def import_dsrl() -> None:
    """Import dsrl so that its tasks are registered with gymnasium."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dsrl  # noqa: F401


def make_env(task: str):
    """A DSRL offline environment of `task` (gymnasium API), with its episode limit."""
    import gymnasium as gym

    import_dsrl()
    try:
        return gym.make(task)
    except (ImportError, gym.error.Error) as error:
        raise UserInputError(f"cannot make DSRL's environment {task} ({error}); is its "
                             f"simulator installed?") from None


def episode_length(task: str) -> int:
    """The episode length DSRL registers for `task`."""
    import gymnasium as gym

    import_dsrl()
    return gym.spec(task).max_episode_steps
