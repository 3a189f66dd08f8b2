"""Evaluation in the simulator with DSRL's normalized reward and cost.

This is reporting only: nothing in the unlearning stage reads these numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import gymnasium as gym
import numpy as np
import torch
from dsrl.offline_env import OfflineEnvWrapper, wrap_env
from fsrl.utils import DummyLogger
from tqdm.auto import tqdm, trange

from osrl_unlearn.errors import UserInputError
from osrl_unlearn.runs import load_run, load_weights, read_progress, require_run
from osrl_unlearn.data.tasks import import_dsrl
from osrl_unlearn.safety import is_safe


def env_dims(env):
    """(state_dim, action_dim, max_action) as OSRL's scripts read them off the env."""
    return env.observation_space.shape[0], env.action_space.shape[0], float(env.action_space.high[0])


def make_eval_env(task: str, reward_scale: float, cost_limit: float):
    """The environment as OSRL's scripts wrap it, with the cost limit set for scoring."""
    import_dsrl()
    env = OfflineEnvWrapper(wrap_env(gym.make(task), reward_scale=reward_scale))
    env.set_target_cost(cost_limit)
    return env


# what the offline choice of model_best reads of each save (its progress.txt columns)
OFFLINE_CHOICE_KEYS = ("retention_ratio", "policy_shift", "forget_satisfied")
# what `evaluate_run` puts in a result, beside the task: a benchmark row copies these when
# it reuses an evaluated run
EVALUATION_KEYS = ("episodes", "reward", "cost", "normalized_reward", "normalized_reward_std",
                   "normalized_cost", "normalized_cost_std", "safe", "episode_normalized_reward",
                   "episode_normalized_cost", "run", "checkpoint")


@torch.no_grad()
def evaluate(trainer, env, episodes: int, reward_scale: float, cost_scale: float,
             progress: bool = True) -> Dict[str, object]:
    """Roll the trainer's model out for `episodes` episodes with OSRL's own rollout.

    Returns per-episode and summary DSRL normalized reward and cost.
    """
    trainer.model.eval()
    rewards: List[float] = []
    costs: List[float] = []
    for _ in trange(episodes, desc="Evaluating", leave=False, disable=not progress):
        episode_reward, _, episode_cost = trainer.rollout()
        rewards.append(episode_reward / reward_scale)
        costs.append(episode_cost / cost_scale)
    trainer.model.train()
    scores = [env.get_normalized_score(r, c) for r, c in zip(rewards, costs)]
    normalized_reward = np.array([score[0] for score in scores])
    normalized_cost = np.array([score[1] for score in scores])
    return {
        "episodes": episodes,
        "reward": float(np.mean(rewards)),
        "cost": float(np.mean(costs)),
        "normalized_reward": float(normalized_reward.mean()),
        "normalized_reward_std": float(normalized_reward.std()),
        "normalized_cost": float(normalized_cost.mean()),
        "normalized_cost_std": float(normalized_cost.std()),
        "safe": is_safe(float(normalized_cost.mean())),
        "episode_normalized_reward": normalized_reward.round(4).tolist(),
        "episode_normalized_cost": normalized_cost.round(4).tolist(),
    }


def write_eval(run_dir: Path, result: Dict[str, object], checkpoint: str) -> Path:
    """Store an evaluation next to the run's checkpoints, one file per checkpoint."""
    out = Path(run_dir) / f"eval_{Path(checkpoint).stem}.json"
    out.write_text(json.dumps(result, indent=2))
    return out


def evaluate_run(path: Path, episodes: int = 10, best: bool = True, seed: int = 0,
                 checkpoint_name: Optional[str] = None) -> Dict[str, object]:
    """Evaluate a saved run in the simulator and store the result in the run
    (`checkpoint_name`: another checkpoint than model_best.pt / model.pt)."""
    cfg, _, adapter, state, checkpoint = load_run(path, best, checkpoint_name)
    torch.manual_seed(seed)
    np.random.seed(seed)
    env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
    model = adapter.build_model(cfg, *env_dims(env))
    load_weights(model, state, Path(path))
    trainer = adapter.build_trainer(model, env, cfg, logger=DummyLogger())
    result = evaluate(trainer, env, episodes, cfg.reward_scale, cfg.cost_scale)
    result.update(run=str(path), checkpoint=checkpoint.name, task=cfg.task)
    write_eval(Path(path), result, checkpoint.name)
    return result


def evaluate_saves(path: Path, episodes: int = 10, seed: int = 0,
                   progress: bool = True) -> List[Dict[str, object]]:
    """Every save an unlearning run kept (`keep_saves`), evaluated in the simulator beside
    what the offline choice saw of it, so the choice can be checked against the truth."""
    path = require_run(path)
    steps = sorted(int(file.stem.split("_")[1]) for file in path.glob("checkpoint/model_*.pt")
                   if file.stem.split("_")[1].isdigit())
    if not steps:
        raise UserInputError(f"{path} kept no saves: unlearn with --unlearning.keep_saves true")
    logged = read_progress(path / "progress.txt")
    summary = path / "unlearn_summary.json"
    best_step = json.loads(summary.read_text())["best_step"] if summary.exists() else None
    rows = []
    for step in tqdm(steps, desc="Evaluating saves", disable=not progress):
        result = evaluate_run(path, episodes, seed=seed, checkpoint_name=f"model_{step}.pt")
        offline = logged.get(step, {})
        rows.append({"step": step, "model_best": step == best_step,
                     **{key: offline.get(key) for key in OFFLINE_CHOICE_KEYS},
                     "normalized_reward": result["normalized_reward"],
                     "normalized_cost": result["normalized_cost"], "safe": result["safe"]})
    (path / "saves.json").write_text(json.dumps(rows, indent=2))
    return rows
