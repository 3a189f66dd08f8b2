"""BCQ-L (osrl.algorithms.BCQL): built from its OSRL-style config."""

from __future__ import annotations

from typing import Optional

from osrl.algorithms import BCQL, BCQLTrainer

from osrl_unlearn.configs import BCQLTrainConfig
from osrl_unlearn.adapters.common import DoubleQCriticMembers
from osrl_unlearn.adapters.common import train_step_unpacked as train_step  # noqa: F401
from osrl_unlearn.unlearning.mixin import UnlearningMixin

NAME = "BCQL"
Config = BCQLTrainConfig
NEEDS_INITIAL_STATES = False  # batches carry no is_init flag
# What OSRL's checkpoint leaves out, kept beside it (see osrl_unlearn.runs).
OPTIMIZERS = ("actor_optim", "critic_optim", "cost_critic_optim", "vae_optim")
MULTIPLIERS = ("controller", )  # the PID Lagrangian of the cost constraint


def build_model(cfg: BCQLTrainConfig, state_dim: int, action_dim: int, max_action: float,
                unlearnable: bool = False, data: Optional[dict] = None) -> BCQL:
    """An OSRL BCQL with the config's sizes (loads a state_dict saved by OSRL unchanged)."""
    return (UnlearnableBCQL if unlearnable else BCQL)(
        state_dim=state_dim,
        action_dim=action_dim,
        max_action=max_action,
        a_hidden_sizes=cfg.a_hidden_sizes,
        c_hidden_sizes=cfg.c_hidden_sizes,
        vae_hidden_sizes=cfg.vae_hidden_sizes,
        sample_action_num=cfg.sample_action_num,
        PID=cfg.PID,
        gamma=cfg.gamma,
        tau=cfg.tau,
        lmbda=cfg.lmbda,
        beta=cfg.beta,
        phi=cfg.phi,
        num_q=cfg.num_q,
        num_qc=cfg.num_qc,
        cost_limit=cfg.constraint_limit(),
        episode_len=cfg.episode_len,
        device=cfg.device,
    )


def build_trainer(model: BCQL, env, cfg: BCQLTrainConfig, logger) -> BCQLTrainer:
    """OSRL's own trainer for the model (its optimizers, train_one_step, rollout)."""
    return BCQLTrainer(
        model, env, logger=logger, actor_lr=cfg.actor_lr, critic_lr=cfg.critic_lr,
        vae_lr=cfg.vae_lr, reward_scale=cfg.reward_scale, cost_scale=cfg.cost_scale,
        device=cfg.device,
    )


class UnlearnableBCQL(DoubleQCriticMembers, UnlearningMixin, BCQL):
    """BCQL with `unlearn_step`: where BCQ-L keeps its parts.

    Critics: `critic` and `cost_critic` (double-Q ensembles). Actor: the perturbation
    network over VAE-decoded actions. Behaviour model: `vae`, refitted on D_k by
    BCQ-L's own step. Lagrange multiplier: the PID `controller`, updated by BCQ-L's
    own actor loss on D_k. kappa_Q: `qc_thres`. The policy's action is the VAE's
    decoded action plus the actor's small perturbation (at most `phi`), so the decoder
    is part of the policy: the actor forget term moves both.
    """

    POLICY_OPTIMIZERS = ("actor_optim", "vae_optim")

    def policy_actions(self, observations):
        return self.actor(observations, self.vae.decode(observations))

    @property
    def unlearn_cost_threshold(self):
        return self.qc_thres
