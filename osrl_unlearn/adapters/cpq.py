"""CPQ (osrl.algorithms.CPQ): built from its OSRL-style config, with its OOD penalty repaired.

OSRL's `CPQ.cost_critic_loss` computes the cost critic's value of out-of-distribution
actions (policy samples the VAE finds least likely) inside `torch.no_grad()` and with
the target critic, so its penalty `-alpha * (Qc_ood - qc_thres)` is a constant in the
loss: the cost critic is never made pessimistic on unseen actions, `alpha` only grows
(it sits at its clamp e^5 within 2,000 steps on the generated BallRun data, the cost
critic's loss near 1,200) and the actor, which keeps to actions whose Q_c is under
the threshold, finds unseen actions the cost critic rates safe: trained on clean
data it was as unsafe as the unsafe behaviour (episode cost 77-92 against a limit of 10).
`ood_penalty_gradient` (default on) lets the penalty train the cost critic, as in the
CPQ paper; off, the agent is OSRL's CPQ exactly. The modules, and so the checkpoints,
are OSRL's either way.
"""

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


class PenalisedCPQ(CPQ):
    """OSRL's CPQ whose out-of-distribution cost penalty trains the cost critic."""

    def __init__(self, *args, ood_penalty_gradient: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.ood_penalty_gradient = ood_penalty_gradient

    def cost_critic_loss(self, observations, next_observations, actions, costs, done):
        """OSRL's loss, its OOD actions and their selection unchanged, Q_c(OOD) differentiable."""
        if not self.ood_penalty_gradient:
            return super().cost_critic_loss(observations, next_observations, actions, costs, done)
        _, qc_list = self.cost_critic.predict(observations, actions)
        samples, batch_size = self.sample_action_num, observations.shape[0]
        with torch.no_grad():
            next_actions, _ = self._actor_forward(next_observations, False, True)
            qc_target, _ = self.cost_critic_old.predict(next_observations, next_actions)
            backup = costs + self.gamma * qc_target
            _, _, policy = self.actor(observations, False, True, True)
            sampled_actions = policy.sample([samples]).reshape(samples * batch_size, self.action_dim)
            stacked_observations = torch.tile(observations[None], (samples, 1, 1)).reshape(
                samples * batch_size, self.state_dim)
            _, mean, std = self.vae(stacked_observations, sampled_actions)
            kl = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2)).mean(-1)
            kl = kl.reshape(samples, batch_size)
            out_of_distribution = (kl >= torch.quantile(kl, 0.75)).float()
        qc_sampled, _ = self.cost_critic.predict(stacked_observations, sampled_actions)
        qc_ood = (out_of_distribution * qc_sampled.reshape(samples, batch_size)).mean(0)
        loss = self.cost_critic.loss(backup, qc_list) - self.log_alpha.exp() * (
            qc_ood.mean() - self.qc_thres)
        self.cost_critic_optim.zero_grad()
        loss.backward()
        self.cost_critic_optim.step()
        self.log_alpha += self.alpha_lr * self.log_alpha.exp() * (self.qc_thres - qc_ood.mean()).detach()
        self.log_alpha.data.clamp_(min=-5.0, max=5.0)
        return loss, {"loss/cost_critic_loss": loss.item(),
                      "loss/alpha_value": self.log_alpha.exp().item()}


def build_model(cfg: CPQTrainConfig, state_dim: int, action_dim: int, max_action: float,
                unlearnable: bool = False, data: Optional[dict] = None) -> CPQ:
    """An OSRL CPQ with the config's sizes (loads a state_dict saved by OSRL unchanged)."""
    return (UnlearnableCPQ if unlearnable else PenalisedCPQ)(
        ood_penalty_gradient=cfg.ood_penalty_gradient,
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
        cost_limit=cfg.constraint_limit(),
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


class UnlearnableCPQ(UnlearningMixin, PenalisedCPQ):
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
