"""BEAR-L (osrl.algorithms.BEARL): built from its OSRL-style config."""

from __future__ import annotations

from typing import Optional

from osrl.algorithms import BEARL, BEARLTrainer

from osrl_unlearn.configs import BEARLTrainConfig
from osrl_unlearn.adapters.common import DoubleQCriticMembers
from osrl_unlearn.adapters.common import train_step_unpacked as train_step  # noqa: F401
from osrl_unlearn.unlearning.mixin import UnlearningMixin

NAME = "BEARL"
Config = BEARLTrainConfig
NEEDS_INITIAL_STATES = False
# What OSRL's checkpoint leaves out, kept beside it (see osrl_unlearn.runs).
OPTIMIZERS = ("actor_optim", "critic_optim", "cost_critic_optim", "vae_optim")
# the PID Lagrangian of the cost constraint, the MMD multiplier, and the step count
# that starts BEAR-L's policy updates
MULTIPLIERS = ("controller", "log_alpha", "n_train_steps")


def build_model(cfg: BEARLTrainConfig, state_dim: int, action_dim: int, max_action: float,
                unlearnable: bool = False, data: Optional[dict] = None) -> BEARL:
    """An OSRL BEARL with the config's sizes (loads a state_dict saved by OSRL unchanged)."""
    return (UnlearnableBEARL if unlearnable else BEARL)(
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
        lmbda=cfg.lmbda,
        mmd_sigma=cfg.mmd_sigma,
        target_mmd_thresh=cfg.target_mmd_thresh,
        num_samples_mmd_match=cfg.num_samples_mmd_match,
        PID=cfg.PID,
        kernel=cfg.kernel,
        num_q=cfg.num_q,
        num_qc=cfg.num_qc,
        cost_limit=cfg.constraint_limit(),
        episode_len=cfg.episode_len,
        start_update_policy_step=cfg.start_update_policy_step,
        device=cfg.device,
    )


def build_trainer(model: BEARL, env, cfg: BEARLTrainConfig, logger) -> BEARLTrainer:
    """OSRL's own trainer for the model (its optimizers, train_one_step, rollout)."""
    return BEARLTrainer(
        model, env, logger=logger, actor_lr=cfg.actor_lr, critic_lr=cfg.critic_lr,
        alpha_lr=cfg.alpha_lr, vae_lr=cfg.vae_lr, reward_scale=cfg.reward_scale,
        cost_scale=cfg.cost_scale, device=cfg.device,
    )


class UnlearnableBEARL(DoubleQCriticMembers, UnlearningMixin, BEARL):
    """BEARL with `unlearn_step`: where BEAR-L keeps its parts.

    Critics: `critic`, `cost_critic` (double-Q ensembles). Actor: a squashed Gaussian
    (its mean action is the policy's action here). Behaviour model: `vae`, refitted on
    D_k by BEAR-L's own step, which also keeps the MMD constraint to it. Lagrange
    multipliers: the PID `controller` (cost) and `log_alpha` (MMD). kappa_Q: `qc_thres`.
    """

    def policy_actions(self, observations):
        return self._actor_forward(observations, deterministic=True, with_logprob=False)[0]

    @property
    def unlearn_cost_threshold(self):
        return self.qc_thres
