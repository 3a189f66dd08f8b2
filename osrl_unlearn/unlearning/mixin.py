"""`UnlearningMixin`: gives an OSRL agent `unlearn_step(keep_batch, forget_batch)`.

The mixin holds the step of every method (Safe-RULE and the baselines) once. Its
retention part is the algorithm's own OSRL training step on D_k (its critics, its
actor and Lagrangian, its behaviour model refitted on D_k), run through OSRL's own
trainer. An adapter subclasses the OSRL agent and the mixin and only says where the
agent keeps its parts (see `osrl_unlearn/adapters/`):

    reward_members(obs, act)     Q_r of every reward-critic member, [members, batch]
    cost_members(obs, act)       Q_c of every cost-critic member, [members, batch]
    policy_actions(obs)          the policy's action, differentiable in the actor
    unlearn_cost_threshold       kappa_Q: the cost level the algorithm's actor respects
    critic_optim, cost_critic_optim, actor_optim   the agent's own optimizers

Retention (the D_k Bellman error of both critics) is measured here for every agent with
Q critics; COptiDICE, which has none, overrides `keep_bellman_losses`.

Batches are OSRL's (observations, next_observations, actions, rewards, costs, done).
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import numpy as np
import torch

from osrl_unlearn.datasets import Dataset
from osrl_unlearn.unlearning.objective import (
    AdaptiveForgetWeight, UnlearnConfig, forget_constraint_losses, forget_constraints_met,
    gated_actor_forget_loss
)

Batch = Sequence[torch.Tensor]


class UnlearningMixin:
    """Safe-RULE and baseline unlearning steps over an OSRL agent's own parts."""

    unlearn_cfg: UnlearnConfig
    reward_reference: float
    forget_weight: AdaptiveForgetWeight
    # Optimizers and other training state of the agent that a resumed run must restore.
    OPTIMIZERS: Sequence[str] = ()
    RESUME_OBJECTS: Sequence[str] = ()

    # ---- what each adapter provides -------------------------------------------------
    def reward_members(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cost_members(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def policy_actions(self, observations: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def unlearn_cost_threshold(self) -> float:
        raise NotImplementedError

    # ---- shared ----------------------------------------------------------------------
    def setup_unlearning(self, cfg: UnlearnConfig, keep_sample: Dataset, trainer,
                         train_step: Callable) -> None:
        """Attach OSRL's trainer (its logger must store stats) and fix the reward reference.

        The reference is a percentile of Q_r on D_k, taken before anything changes.
        """
        self.unlearn_cfg = cfg
        self._trainer, self._train_step = trainer, train_step
        self.forget_weight = AdaptiveForgetWeight(cfg)
        with torch.no_grad():
            values = self.reward_members(*_tensors(keep_sample, "observations", "actions"))
        self.reward_reference = float(np.percentile(values.min(0).values.numpy(),
                                                    cfg.reward_percentile))

    def retain_step(self, keep_batch: Batch) -> Dict[str, float]:
        """The algorithm's own OSRL training step on a D_k batch; returns its logged stats."""
        self._train_step(self._trainer, keep_batch)
        logger = self._trainer.logger
        stats = logger.get_mean_dict(logger.logger_keys)
        logger.reset_data()
        return stats

    @torch.no_grad()
    def keep_bellman_losses(self, keep_batch: Batch, stats: Dict[str, float]) -> Dict[str, float]:
        """Each critic's squared one-step Bellman residual on a D_k batch.

        Retention is judged on both critics: each is changed on D_f on purpose, and
        either change can spill onto D_k (a cost critic lifted there raises the
        Lagrange multiplier on clean states). The target bootstraps from the
        members' mean at the policy's next action, the same way for every algorithm.
        `stats` are the retention step's logged stats, for an agent without Q critics
        to take its own D_k loss from (COptiDICE).
        """
        observations, next_observations, actions, rewards, costs, done = keep_batch[:6]
        next_actions = self.policy_actions(next_observations)
        losses = {}
        for name, members, signal in (("reward", self.reward_members, rewards),
                                      ("cost", self.cost_members, costs)):
            target = signal + self.gamma * (1.0 - done) * members(next_observations,
                                                                  next_actions).mean(0)
            losses[name] = (members(observations, actions) - target).pow(2).mean().item()
        return losses

    @property
    def cost_floor(self) -> float:
        """kappa_Q + sigma: the least cost value a poisoned action must be given."""
        return self.unlearn_cost_threshold * (1.0 + self.unlearn_cfg.cost_margin)

    def unlearn_step(self, keep_batch: Batch, forget_batch: Batch, step: int) -> Dict[str, float]:
        """One step of the configured method; returns metrics for the progress log."""
        method = self.unlearn_cfg.method
        metrics = self.retain_step(keep_batch)
        keep_losses = self.keep_bellman_losses(keep_batch, metrics)
        metrics.update({f"retain/bellman_{name}": loss for name, loss in keep_losses.items()})
        # Every method measures retention; only Safe-RULE's weight adapts to it. The
        # first `retention_warmup` steps only retain: they set the D_k Bellman levels
        # retention is measured against, before any forgetting moves them.
        ratio = self.forget_weight.retention_ratio(keep_losses)
        metrics["unlearn/retention_ratio"] = ratio
        if method in ("safe-rule", "reward-only"):
            if self.forget_weight.reference_losses is None:
                return metrics
            cost_terms = method == "safe-rule" and self.unlearn_cfg.cost_terms
            metrics.update(self._forget_critics(forget_batch, cost_terms=cost_terms))
            if method == "safe-rule":
                metrics.update(self._forget_actor(forget_batch))
            metrics["unlearn/forget_weight"] = self.forget_weight.update(
                1.0 - metrics["unlearn/forget_satisfied"], ratio)
        elif method == "trajdeleter":
            if step < self.unlearn_cfg.trajdeleter_forget_fraction * self.unlearn_cfg.steps:
                metrics.update(self._suppress_forget_value(forget_batch))
        return metrics

    def _forget_critics(self, forget_batch: Batch, cost_terms: bool) -> Dict[str, float]:
        """Softplus suppression of Q_r and (optionally) lifting of Q_c on D_f."""
        observations, _, actions = forget_batch[:3]
        weight = self.forget_weight.value
        reward_values = self.reward_members(observations, actions)
        cost_values = self.cost_members(observations, actions)
        reward_loss, cost_loss = forget_constraint_losses(
            reward_values, cost_values, self.reward_reference, self.cost_floor)
        self.critic_optim.zero_grad()
        (weight * reward_loss).backward()
        self.critic_optim.step()
        if cost_terms:
            self.cost_critic_optim.zero_grad()
            (weight * cost_loss).backward()
            self.cost_critic_optim.step()
        met = forget_constraints_met(reward_values.detach(), cost_values.detach(),
                                     self.reward_reference, self.cost_floor, cost_terms)
        return {
            "unlearn/forget_reward_loss": reward_loss.item(),
            "unlearn/forget_cost_loss": cost_loss.item(),
            "unlearn/forget_satisfied": met.float().mean().item(),
        }

    def _forget_actor(self, forget_batch: Batch) -> Dict[str, float]:
        """The safety-gated push of the policy away from poisoned actions."""
        observations, _, actions = forget_batch[:3]
        policy_actions = self.policy_actions(observations)
        policy_cost = None
        if self.unlearn_cfg.actor_gate:
            with torch.no_grad():
                policy_cost = self.cost_members(observations, policy_actions).min(0).values
        loss, gate_share = gated_actor_forget_loss(
            policy_actions, actions, policy_cost, self.unlearn_cost_threshold,
            self.unlearn_cfg.away_margin)
        self.actor_optim.zero_grad()
        (self.unlearn_cfg.actor_forget_weight * loss).backward()
        self.actor_optim.step()
        return {"unlearn/actor_forget_loss": loss.item(), "unlearn/actor_gate_share": gate_share.item()}

    def _suppress_forget_value(self, forget_batch: Batch) -> Dict[str, float]:
        """TrajDeleter's forgetting phase: lower the policy's reward value on D_f states."""
        observations = forget_batch[0]
        for parameter in self.critic_parameters():
            parameter.requires_grad_(False)
        value = self.reward_members(observations, self.policy_actions(observations)).min(0).values
        loss = self.unlearn_cfg.actor_forget_weight * value.mean()
        self.actor_optim.zero_grad()
        loss.backward()
        self.actor_optim.step()
        for parameter in self.critic_parameters():
            parameter.requires_grad_(True)
        return {"unlearn/forget_value": value.mean().item()}

    def critic_parameters(self):
        """Parameters of both critics (frozen while the actor alone is updated)."""
        return [*self.critic.parameters(), *self.cost_critic.parameters()]

    def resume_state(self) -> dict:
        """Optimizer states and training objects (e.g. a PID controller) to save."""
        return {"optimizers": {name: getattr(self, name).state_dict() for name in self.OPTIMIZERS},
                "objects": {name: getattr(self, name) for name in self.RESUME_OBJECTS}}

    def load_resume_state(self, state: dict) -> None:
        for name, optimizer_state in state["optimizers"].items():
            getattr(self, name).load_state_dict(optimizer_state)
        for name, value in state["objects"].items():
            if isinstance(getattr(self, name), torch.Tensor):
                getattr(self, name).data.copy_(value)  # optimizers hold this very tensor
            else:
                setattr(self, name, value)

    @torch.no_grad()
    def forget_report(self, forget: Dataset, cost_terms: bool = True) -> Dict[str, float]:
        """Offline check of the forget constraints over a whole forget set."""
        observations, actions = _tensors(forget, "observations", "actions")
        reward_values = self.reward_members(observations, actions)
        cost_values = self.cost_members(observations, actions)
        met = forget_constraints_met(reward_values, cost_values, self.reward_reference,
                                     self.cost_floor, cost_terms)
        return {
            "forget_satisfied": met.float().mean().item(),
            "forget_cost_at_floor": (cost_values.min(0).values >= self.cost_floor).float().mean().item(),
            "forget_reward_under_reference": (reward_values.max(0).values
                                              <= self.reward_reference).float().mean().item(),
            "forget_mean_q_reward": reward_values.min(0).values.mean().item(),
            "forget_mean_q_cost": cost_values.min(0).values.mean().item(),
            "reward_reference": self.reward_reference,
            "cost_floor": self.cost_floor,
        }


def _tensors(data: Dataset, *keys: str):
    """Float tensors of some columns of a dataset."""
    return [torch.as_tensor(data[key], dtype=torch.float32) for key in keys]
