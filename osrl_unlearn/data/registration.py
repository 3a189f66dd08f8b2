"""Gymnasium ids of the generated and poisoned datasets, registered through gymnasium's plugin hook.

gymnasium runs `register_envs` while `import gymnasium` is still executing (entry
point group `gymnasium.envs`, name `__root__`, declared in setup.cfg), so this module
imports nothing heavy: the environments themselves are built by
`osrl_unlearn.data.variants.make_variant_env` when `gym.make` is called.

Ids say which data they stand on. Over this project's generated data (the tasks of
`SUPPORTED_TASKS`): `Offline<Task>-Generated-v0` for the clean data and
`Offline<Task>-Generated-<Attack><Percent>-v0` for a poisoned variant, e.g.
`OfflineBallRun-Generated-MaxCost15-v0`. Over DSRL's official file of any DSRL task
(`DSRL_TASKS`), which the user has fetched: `Offline<Task>-<Attack><Percent>-v0`, e.g.
`OfflineBallRun-MaxCost15-v0`. By default the injected episodes are behaviour the kept
data does not contain (the attacker's own episodes; for official data a held-out share
of DSRL's episodes, see `variants`); `<Attack>Copies<Percent>` injects relabelled
copies of the kept data's own episodes instead, e.g. `OfflineBallRun-MaxCostCopies15-v0`.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.tasks import SUPPORTED_TASKS

ATTACK_ID_NAMES = {"max-cost": "MaxCost", "reward-lure": "RewardLure", "cost-swap": "CostSwap"}
REGISTERED_PERCENTS = (15, 30)
COPIES = "Copies"  # in an id, after the attack's name: copies of the kept data's episodes
GENERATED = "Generated"  # in an id: this project's generated data, not DSRL's official file
POISON_SEED = 0

# DSRL 0.1.0's tasks (dsrl/offline_*/__init__.py), listed here because this module may
# not import dsrl (it runs inside `import gymnasium`); tests/test_official.py checks
# the list against DSRL's registry.
DSRL_TASKS = (
    *(f"Offline{name}-v0" for name in (
        "AntCircle", "AntRun", "BallCircle", "BallRun", "CarCircle", "CarRun",
        "DroneCircle", "DroneRun")),
    *(f"Offline{robot}{task}{level}Gymnasium-v0" for robot in ("Car", "Point")
      for task in ("Button", "Circle", "Goal", "Push") for level in (1, 2)),
    *(f"Offline{name}VelocityGymnasium-v1" for name in (
        "Ant", "HalfCheetah", "Hopper", "Swimmer", "Walker2d")),
    *(f"OfflineMetadrive-{level}{density}-v0" for level in ("easy", "medium", "hard")
      for density in ("sparse", "mean", "dense")),
)


class Variant(NamedTuple):
    """What a registered id stands for: a DSRL task, its base data and, if poisoned, the attack.

    `copies`: the injected episodes are relabelled copies of the kept data's own.
    `generated`: the base is this project's generated data; else DSRL's official file.
    """

    task: str
    attack: Optional[str] = None
    ratio: Optional[float] = None
    copies: bool = False
    generated: bool = True


def _base_name(task: str) -> str:
    """`OfflineBallRun-v0` -> `BallRun`, `OfflineMetadrive-easysparse-v0` -> `Metadrive-easysparse`."""
    return task[len("Offline"):task.rindex("-v")]


def variant_id(task: str, attack: Optional[str] = None, ratio: Optional[float] = None,
               copies: bool = False, generated: bool = True) -> str:
    """The gymnasium id of a task's generated data (clean or poisoned), or of a poisoned
    variant of DSRL's official data (`generated=False`)."""
    parts = [f"Offline{_base_name(task)}"] + ([GENERATED] if generated else [])
    if attack is not None:
        parts.append(f"{ATTACK_ID_NAMES[attack]}{COPIES if copies else ''}{round(ratio * 100)}")
    elif not generated:
        raise ValueError("DSRL's official clean data has DSRL's own id, e.g. OfflineBallRun-v0")
    return "-".join(parts) + "-v0"


_ID_PATTERN = re.compile(r"^Offline(?P<base>[\w-]+?)(?P<generated>-Generated)?"
                         r"(?:-(?P<attack>[A-Za-z]+)(?P<percent>\d+))?-v0$")


def parse_variant_id(dataset_id: str) -> Variant:
    """Inverse of `variant_id`; a clear error for anything that is not one of ours."""
    match = _ID_PATTERN.match(dataset_id)
    generated = bool(match and match["generated"])
    tasks = {_base_name(task): task for task in (SUPPORTED_TASKS if generated else DSRL_TASKS)}
    if match is None or match["base"] not in tasks or not (generated or match["attack"]):
        raise UserInputError(
            f"{dataset_id!r} is not one of this project's dataset ids; expected e.g. "
            "OfflineBallRun-Generated-v0, OfflineBallRun-Generated-MaxCost15-v0 (generated "
            "data) or OfflineBallRun-MaxCost15-v0 (DSRL's official data)"
        )
    task = tasks[match["base"]]
    if match["attack"] is None:
        return Variant(task)
    names = {name: attack for attack, name in ATTACK_ID_NAMES.items()}
    copies = match["attack"].endswith(COPIES)
    attack_name = match["attack"][:-len(COPIES)] if copies else match["attack"]
    if attack_name not in names:
        raise UserInputError(
            f"unknown attack {attack_name!r} in {dataset_id!r}; known: {', '.join(names)}"
        )
    return Variant(task, names[attack_name], int(match["percent"]) / 100, copies, generated)


def base_task(task_or_id: str) -> str:
    """The DSRL task behind one of our ids; any other id (DSRL's own) is returned as it is."""
    try:
        return parse_variant_id(task_or_id).task
    except UserInputError:
        return task_or_id


def all_variants():
    """Every registered variant: each supported task's clean and poisoned generated data,
    and the poisoned variants of every DSRL task's official data."""
    poisonings = [(attack, percent / 100, copies) for attack in ATTACK_ID_NAMES
                  for percent in REGISTERED_PERCENTS for copies in (False, True)]
    return ([Variant(task) for task in SUPPORTED_TASKS]
            + [Variant(task, *poisoning) for task in SUPPORTED_TASKS for poisoning in poisonings]
            + [Variant(task, *poisoning, generated=False) for task in DSRL_TASKS
               for poisoning in poisonings])


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
