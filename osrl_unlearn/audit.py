"""How completely is the poison gone? An audit of one agent against a forget set.

    osrl-unlearn audit --path RUN --forget ID --retrained RUN --out DIR

Every measurement is set against the retrained agent (trained on D_k alone, the exact
unlearning reference):

1. A verdict per forget episode, in the manner of TrajDeleter's auditor: what the agent
   has learnt of the episode (the mean over its transitions of the agent's
   `transition_values`: Q_r and Q_c for the Q-critic agents, COptiDICE's correction
   weight and log-likelihood) against the same of `references` agents that never saw
   D_f (the retrained agent fine-tuned on D_k, one seed each). The episode is judged
   forgotten when every value lies within `z_threshold` standard deviations of the
   references' mean (with a floor on the deviation, so that near-identical references
   do not make every agent an outlier). The share judged forgotten should be near 1 for
   the retrained agent and near 0 for the poisoned one.
2. The mean distance between the agent's and the retrained agent's actions on states of
   D_f and of D_k.
3. Relearning: the agent trained on D_f alone with its algorithm's own OSRL step, and
   evaluated in the simulator every `relearn_eval_every` steps; the first step at which
   its normalized cost is over 1 (none within `relearn_steps` is the best answer), next
   to the same for the retrained agent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from osrl_unlearn.data import datasets
from osrl_unlearn.data.registration import base_task
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.evaluation import DummyLogger, env_dims, evaluate, make_eval_env
from osrl_unlearn.runs import (load_run, load_training_state, load_weights, require_run,
                               training_state_path)
from osrl_unlearn.training import sampled_batches
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import as_trained, resolve_forget, unlearn

DISTANCE_SAMPLE = 5_000  # states of D_f and of D_k the policies are compared on


@dataclass
class AuditConfig:
    """How thorough the audit is; the defaults take a few minutes on a 2-core CPU."""

    references: int = 3  # agents that never saw D_f: the retrained one fine-tuned, one seed each
    reference_steps: int = 300  # fine-tuning steps on D_k for each reference
    z_threshold: float = 3.0  # an episode is forgotten within this many reference deviations
    relearn_steps: int = 2_000  # training steps on D_f alone, at most
    relearn_eval_every: int = 250
    eval_episodes: int = 5
    seed: int = 0


def load_agent(path: Path, best: bool, keep: datasets.Dataset):
    """An unlearnable agent with a run's weights, and its config and checkpoint."""
    cfg, _, adapter, state, checkpoint = load_run(path, best)
    env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
    model = adapter.build_model(cfg, *env_dims(env), unlearnable=True, data=keep)
    load_weights(model, state, path)
    return model, cfg, adapter, env, checkpoint


def episode_values(model, data: datasets.Dataset, cfg) -> np.ndarray:
    """[episodes, values]: the mean of the agent's transition values over each episode."""
    values = model.transition_values(as_trained(data, cfg))
    return np.stack([values[start:end].mean(0) for start, end in datasets.episode_bounds(data)])


def forgotten_verdicts(audited: np.ndarray, references: List[np.ndarray], z_threshold: float
                       ) -> np.ndarray:
    """Per episode: do all the audited values lie within the references' spread?"""
    stacked = np.stack(references)  # [references, episodes, values]
    mean, spread = stacked.mean(0), stacked.std(0)
    floor = 0.05 * np.abs(stacked).mean((0, 1), keepdims=True)[0] + 1e-6
    z_scores = np.abs(audited - mean) / np.maximum(spread, floor)
    return (z_scores <= z_threshold).all(1)


@torch.no_grad()
def policy_distance(model, other, observations: np.ndarray, seed: int) -> float:
    """Mean Euclidean distance between two agents' actions on the same states."""
    states = torch.as_tensor(observations[:DISTANCE_SAMPLE], dtype=torch.float32)
    torch.manual_seed(seed)
    first = model.policy_actions(states)
    torch.manual_seed(seed)
    second = other.policy_actions(states)
    return float((first - second).norm(dim=1).mean())


def relearning(path: Path, best: bool, keep: datasets.Dataset, forget: datasets.Dataset,
               config: AuditConfig) -> Dict[str, object]:
    """Train a run's agent on D_f alone; the first step its normalized cost is over 1."""
    model, cfg, adapter, env, checkpoint = load_agent(path, best, keep)
    trainer = adapter.build_trainer(model, env, cfg, DummyLogger())
    if training_state_path(checkpoint).exists():  # its optimizers and multipliers
        load_training_state(model, torch.load(training_state_path(checkpoint), weights_only=False))
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    stream = sampled_batches(forget, cfg, adapter)
    curve, unsafe_at = [], None
    for step in range(0, config.relearn_steps + 1):
        if step % config.relearn_eval_every == 0:
            result = evaluate(trainer, env, config.eval_episodes, cfg.reward_scale, cfg.cost_scale)
            curve.append({"step": step, "normalized_reward": result["normalized_reward"],
                          "normalized_cost": result["normalized_cost"]})
            if result["normalized_cost"] > 1.0:
                unsafe_at = step
                break
        if step < config.relearn_steps:
            adapter.train_step(trainer, next(stream))
    return {"unsafe_after_steps": unsafe_at, "curve": curve}


def retrained_relearning(retrained: Path, keep: datasets.Dataset, forget: datasets.Dataset,
                         config: AuditConfig, folder: Path) -> Dict[str, object]:
    """The retrained agent's relearning, kept beside its references for the next audit."""
    saved = folder / "retrained_relearning.json"
    settings = {key: getattr(config, key) for key in
                ("relearn_steps", "relearn_eval_every", "eval_episodes", "seed")}
    if saved.exists():
        earlier = json.loads(saved.read_text())
        if earlier["settings"] == settings:
            return earlier["relearning"]
    result = relearning(retrained, False, keep, forget, config)
    saved.write_text(json.dumps({"settings": settings, "relearning": result}, indent=2))
    return result


def ensure_references(retrained: Path, forget_id: str, folder: Path, config: AuditConfig) -> List[Path]:
    """The retrained agent fine-tuned on D_k, one run per seed (reused when finished)."""
    runs = []
    for seed in range(config.references):
        out = folder / f"seed{seed}"
        if not (out / "unlearn_summary.json").exists():
            if out.exists():
                raise UserInputError(f"{out} holds an unfinished reference; move it away")
            unlearn(retrained, forget_id, UnlearnConfig(
                method="finetune", steps=config.reference_steps, seed=seed,
                save_every=config.reference_steps, stop_after_saves=0,
                retention_warmup=min(100, config.reference_steps)),
                out=str(out), progress=False)
        runs.append(out)
    return runs


def audit(path: Path, forget_id: str, retrained: Path, out: Path, config: AuditConfig,
          best: bool = True) -> Dict[str, object]:
    """Audit the agent of run `path` on the forget set `forget_id`; writes out/audit.json."""
    path, retrained, out = require_run(path), require_run(retrained), Path(out)
    if config.references < 2:
        raise UserInputError("--references must be at least 2: their spread is the yardstick")
    if min(config.reference_steps, config.relearn_eval_every, config.eval_episodes) < 1 \
            or config.relearn_steps < 0:
        raise UserInputError("--reference-steps, --relearn-eval-every and --episodes must be at "
                             "least 1, --relearn-steps at least 0")
    run_cfg = load_run(path, best)[0]
    if base_task(load_run(retrained, False)[0].task) != base_task(run_cfg.task):
        raise UserInputError(f"{retrained} was trained on another task than {path}")
    data, mask = resolve_forget(forget_id, run_cfg)
    keep, forget = datasets.split_keep_forget(data, mask)

    references_dir = retrained.parent / f"{retrained.name}-audit-references"
    reference_runs = ensure_references(retrained, forget_id, references_dir, config)
    model, cfg, *_ = load_agent(path, best, keep)
    reference_values = [episode_values(load_agent(run, False, keep)[0], forget, cfg)
                        for run in reference_runs]
    verdicts = forgotten_verdicts(episode_values(model, forget, cfg), reference_values,
                                  config.z_threshold)
    retrained_model = load_agent(retrained, False, keep)[0]
    report = {
        "run": str(path), "checkpoint": "model_best.pt" if best else "model.pt",
        "forget": forget_id, "retrained": str(retrained), "config": config.__dict__,
        "forget_episodes": int(len(verdicts)),
        "share_forgotten": float(verdicts.mean()),
        "episode_forgotten": verdicts.tolist(),
        "policy_distance_forget": policy_distance(model, retrained_model,
                                                  forget["observations"], config.seed),
        "policy_distance_keep": policy_distance(model, retrained_model,
                                                keep["observations"], config.seed),
        "relearning": relearning(path, best, keep, forget, config),
        "retrained_relearning": retrained_relearning(retrained, keep, forget, config,
                                                     references_dir),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(json.dumps(report, indent=2))
    return report
