"""CPQ (osrl.algorithms.CPQ): built from its OSRL-style config."""

from __future__ import annotations

from typing import Optional

import torch
from osrl.algorithms import CPQ, CPQTrainer

from osrl_unlearn.configs import CPQTrainConfig
from osrl_unlearn.adapters.common import train_step_unpacked as train_step  # noqa: F401
from osrl_unlearn.unlearning.mixin import UnlearningMixin

NAME = "CPQ"
Config = CPQTrainConfig
NEEDS_INITIAL_STATES = False
# What OSRL's checkpoint leaves out, kept beside it (see osrl_unlearn.runs).
OPTIMIZERS = ("actor_optim", "critic_optim", "cost_critic_optim", "vae_optim")
MULTIPLIERS = ("log_alpha", )  # the multiplier of the out-of-distribution cost penalty


def build_model(cfg: CPQTrainConfig, state_dim: int, action_dim: int, max_action: float,
                unlearnable: bool = False, data: Optional[dict] = None) -> CPQ:
    """An OSRL CPQ with the config's sizes (loads a state_dict saved by OSRL unchanged)."""
    return (UnlearnableCPQ if unlearnable else CPQ)(
        state_dim=state_dim,
        action_dim=action_dim,
        max_action=max_action,
        a_hidden_sizes=cfg.a_hidden_sizes,
        c_hidden_sizes=cfg.c_hidden_sizes,
        vae_hidden_sizes=cfg.vae_hidden_sizes,
        sample_action_num=cfg.sample_action_num,
        gamma=cfg.gamma,
        tau=cfg.tau,
        beta=cfg.beta,
        num_q=cfg.num_q,
        num_qc=cfg.num_qc,
        qc_scalar=cfg.qc_scalar,
        cost_limit=cfg.cost_limit,
        episode_len=cfg.episode_len,
        device=cfg.device,
    )


def build_trainer(model: CPQ, env, cfg: CPQTrainConfig, logger) -> CPQTrainer:
    """OSRL's own trainer for the model (its optimizers, train_one_step, rollout)."""
    return CPQTrainer(
        model, env, logger=logger, actor_lr=cfg.actor_lr, critic_lr=cfg.critic_lr,
        alpha_lr=cfg.alpha_lr, vae_lr=cfg.vae_lr, reward_scale=cfg.reward_scale,
        cost_scale=cfg.cost_scale, device=cfg.device,
    )


class UnlearnableCPQ(UnlearningMixin, CPQ):
    """CPQ with `unlearn_step`: where CPQ keeps its parts.

    Critics: `critic`, `cost_critic` (Q ensembles; the cost critic is pessimistic on
    out-of-distribution actions, judged by the VAE). Actor: a squashed Gaussian (its
    mean action here). Behaviour model: `vae`, refitted on D_k by CPQ's own step, so
    out-of-distribution is judged against D_k. Lagrange multiplier: `log_alpha` of the
    OOD penalty. kappa_Q: `q_thres`, the level CPQ's actor treats as unsafe.
    """

    def reward_members(self, observations, actions):
        return torch.vstack(self.critic.predict(observations, actions)[1])

    def cost_members(self, observations, actions):
        return torch.vstack(self.cost_critic.predict(observations, actions)[1])

    def policy_actions(self, observations):
        return self._actor_forward(observations, deterministic=True, with_logprob=False)[0]

    @property
    def unlearn_cost_threshold(self):
        return self.q_thres
