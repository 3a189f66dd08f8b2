"""Gymnasium ids of the generated datasets, registered through gymnasium's plugin hook.

gymnasium runs `register_envs` while `import gymnasium` is still executing (entry
point group `gymnasium.envs`, name `__root__`, declared in setup.cfg), so this module
imports nothing heavy: the environments themselves are built by
`osrl_unlearn.data.variants.make_variant_env` when `gym.make` is called.

Ids: `Offline<Task>-Generated-v0` for the clean generated data of a DSRL task,
`Offline<Task>-<Attack><Percent>-v0` for a poisoned variant whose injected episodes
are the attacker's own behaviour, e.g. `OfflineBallRun-MaxCost15-v0`, and
`Offline<Task>-<Attack>Copies<Percent>-v0` for one that injects relabelled copies of
the clean data's own episodes, e.g. `OfflineBallRun-MaxCostCopies15-v0`.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.tasks import SUPPORTED_TASKS

ATTACK_ID_NAMES = {"max-cost": "MaxCost", "reward-lure": "RewardLure", "cost-swap": "CostSwap"}
REGISTERED_PERCENTS = (15, 30)
COPIES = "Copies"  # in an id, after the attack's name: copies of the clean data's episodes
POISON_SEED = 0
_ID_PATTERN = re.compile(r"^Offline(?P<base>\w+?)-(?P<variant>Generated|[A-Za-z]+\d+)-v0$")


class Variant(NamedTuple):
    """What a registered id stands for: a DSRL task and, if poisoned, the attack.

    `copies`: the injected episodes are relabelled copies of the clean data's own,
    not the attacker's own behaviour.
    """

    task: str
    attack: Optional[str] = None
    ratio: Optional[float] = None
    copies: bool = False


def variant_id(task: str, attack: Optional[str] = None, ratio: Optional[float] = None,
               copies: bool = False) -> str:
    """The gymnasium id of a task's generated data, clean or poisoned."""
    base = task[len("Offline"):task.rindex("-v")]
    if attack is None:
        return f"Offline{base}-Generated-v0"
    return f"Offline{base}-{ATTACK_ID_NAMES[attack]}{COPIES if copies else ''}{round(ratio * 100)}-v0"


def parse_variant_id(dataset_id: str) -> Variant:
    """Inverse of `variant_id`; a clear error for anything that is not one of ours."""
    match = _ID_PATTERN.match(dataset_id)
    tasks = {task[len("Offline"):task.rindex("-v")]: task for task in SUPPORTED_TASKS}
    if match is None or match["base"] not in tasks:
        raise UserInputError(
            f"{dataset_id!r} is not a generated dataset id; expected e.g. "
            "OfflineBallRun-Generated-v0 or OfflineBallRun-MaxCost15-v0"
        )
    task = tasks[match["base"]]
    if match["variant"] == "Generated":
        return Variant(task)
    names = {name: attack for attack, name in ATTACK_ID_NAMES.items()}
    name = match["variant"].rstrip("0123456789")
    percent = int(match["variant"][len(name):])
    copies = name.endswith(COPIES)
    attack_name = name[:-len(COPIES)] if copies else name
    if attack_name not in names:
        raise UserInputError(
            f"unknown attack {attack_name!r} in {dataset_id!r}; known: {', '.join(names)}"
        )
    return Variant(task, names[attack_name], percent / 100, copies)


def base_task(task_or_id: str) -> str:
    """The DSRL task behind a generated id; any other id is returned as it is."""
    if _ID_PATTERN.match(task_or_id):
        return parse_variant_id(task_or_id).task
    return task_or_id


def all_variants():
    """Every registered variant: each task's clean generated data and its poisoned ones."""
    return [Variant(task) for task in SUPPORTED_TASKS] + [
        Variant(task, attack, percent / 100, copies)
        for task in SUPPORTED_TASKS
        for attack in ATTACK_ID_NAMES
        for percent in REGISTERED_PERCENTS
        for copies in (False, True)
    ]


def add_variant_configs(default_configs: dict) -> None:
    """Let an OSRL per-task config table (e.g. BCQL_DEFAULT_CONFIG) serve our ids too.

    OSRL's training scripts look their defaults up by task id; a generated or poisoned
    id gets its DSRL base task's entry. Used by patches/osrl-*-train-unlearn.patch.
    """
    for variant in all_variants():
        if variant.task in default_configs:
            default_configs.setdefault(variant_id(*variant), default_configs[variant.task])


def register_envs() -> None:
    """Register every generated and poisoned id with gymnasium (called by its plugin hook)."""
    from gymnasium.envs.registration import register, registry

    for variant in all_variants():
        env_id = variant_id(*variant)
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point="osrl_unlearn.data.variants:make_variant_env",
            kwargs={"dataset_id": env_id},
        )
