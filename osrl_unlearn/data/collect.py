"""Build a DSRL-format dataset by running the scripted behaviour policies in the simulator."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm.auto import trange

from osrl_unlearn.data import datasets
from osrl_unlearn.data.behaviour import (
    UNSAFE_FRACTION, BehaviourKnobs, behaviour_revision, make_behaviour
)
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.tasks import check_task, make_env


def collect(task: str, episodes: int, seed: int = 0, progress: bool = True,
            unsafe_fraction: float = UNSAFE_FRACTION) -> datasets.Dataset:
    """Run `episodes` behaviour episodes of `task` and return their transitions.

    Each episode draws its own behaviour knobs, so the dataset spans the
    reward-cost trade-off; `unsafe_fraction` of them draw unsafe settings. The same
    task, episode count, seed and fraction give the same data.
    """
    check_task(task)
    if episodes < 1:
        raise UserInputError(f"--episodes must be at least 1, got {episodes}")
    env = make_env(task)
    rng = np.random.default_rng(seed)
    columns = defaultdict(list)
    for episode in trange(episodes, desc=f"Collecting {task}", disable=not progress):
        knobs = BehaviourKnobs.sample(rng, unsafe_fraction, "car" if "Car" in task else "ball",
                                      circle="Circle" in task)
        # The Bullet tasks draw their start state from numpy's global generator.
        np.random.seed(seed * 100_003 + episode)
        observation, _ = env.reset(seed=seed * 100_003 + episode)
        policy = make_behaviour(env, task, knobs, rng)
        done = False
        while not done:
            action = policy()
            next_observation, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            columns["observations"].append(observation)
            columns["next_observations"].append(next_observation)
            columns["actions"].append(action)
            columns["rewards"].append(reward)
            columns["costs"].append(info["cost"])
            columns["terminals"].append(terminated)
            columns["timeouts"].append(truncated and not terminated)
            observation = next_observation
    env.close()
    return {
        key: np.asarray(values, dtype=datasets.DSRL_DTYPES[key])
        for key, values in columns.items()
    }


def summarise(data: datasets.Dataset, cost_limit: float) -> dict:
    """The figures a DSRL user checks first: sizes, return ranges, episodes over the limit."""
    rewards, costs = datasets.episode_returns(data)
    return {
        "episodes": int(len(rewards)),
        "transitions": int(len(data["observations"])),
        "reward_min": float(rewards.min()),
        "reward_max": float(rewards.max()),
        "cost_min": float(costs.min()),
        "cost_max": float(costs.max()),
        "cost_limit": float(cost_limit),
        "episodes_over_limit": int((costs > cost_limit).sum()),
    }


def check_behaviour_revision(path: Path, task: str) -> Path:
    """`path` if it was generated with this code's behaviour for `task`, else a clear error
    (files from before revisions were recorded are revision 1)."""
    generated = datasets.read_attributes(path).get("generation", {}).get("behaviour_revision", 1)
    current = behaviour_revision(task)
    if generated != current:
        raise UserInputError(
            f"{path} was generated with behaviour revision {generated} of {task}; this version "
            f"generates revision {current} (see osrl_unlearn/data/behaviour.py). Move it away, "
            f"and the agents trained on it, and collect it again: osrl-unlearn collect --task "
            f"{task} --out {path} (a bench collects missing data itself)")
    return path


def collect_to_file(
    task: str, episodes: int, out: Path, seed: int = 0, progress: bool = True,
    unsafe_fraction: float = UNSAFE_FRACTION
) -> Path:
    """Collect and write the dataset as a generated DSRL-format HDF5 file."""
    out = Path(out)
    if out.exists():
        raise UserInputError(f"{out} already exists; choose another --out or delete it first")
    if not 0.0 <= unsafe_fraction <= 1.0:
        raise UserInputError(f"the unsafe fraction must be in [0, 1], got {unsafe_fraction}")
    data = collect(task, episodes, seed, progress, unsafe_fraction)
    record = {
        "generated_by": "osrl-unlearn collect (scripted behaviour; not DSRL's official data)",
        "task": task,
        "episodes": episodes,
        "seed": seed,
        "unsafe_fraction": unsafe_fraction,
        "behaviour_revision": behaviour_revision(task),
    }
    return datasets.write_hdf5(data, out, attributes={"generation": record})
