"""`UnlearningMixin`: gives an OSRL agent `unlearn_step(keep_batch, forget_batch)`.

The mixin holds the step of every method (Safe-RULE and the baselines) once. A step
is the algorithm's own OSRL training step on a D_k batch, run through OSRL's own
trainer (its critics, its actor and Lagrangian, its behaviour model refitted on
D_k), with the method's forget terms on a D_f batch added to the gradient of the
same optimizer steps: just before OSRL's `critic_optim.step()`, say, the gradient of
`forget_weight * forget term` is added to that of OSRL's Bellman loss, so the
critic's one Adam step follows `Bellman(D_k) + forget_weight * forget(D_f)`, the
weighted objective itself. (A separate Adam step for the forget terms would divide
the weight's scale out and inflate the second moments the retention steps share.)

An adapter subclasses the OSRL agent and the mixin and only says where the agent
keeps its parts (see `osrl_unlearn/adapters/`):

    reward_members(obs, act)     Q_r of every reward-critic member, [members, batch]
    cost_members(obs, act)       Q_c of every cost-critic member, [members, batch]
    policy_actions(obs)          the policy's action, differentiable in the actor
    unlearn_cost_threshold       kappa_Q: the cost level the algorithm's actor respects
    REWARD_CRITIC_OPTIMIZER, COST_CRITIC_OPTIMIZER, POLICY_OPTIMIZERS
                                 the agent's own optimizers that carry each forget term
    CRITICS_FOLLOW_POLICY        whether the critics bootstrap from the policy's actions

Retention (the D_k Bellman error of both critics, on a fixed D_k sample, every step of the
warm-up and then every `retention_every` steps) is measured here for every agent with
Q critics; COptiDICE, which has none, overrides `keep_bellman_losses` and the terms.

Batches are OSRL's (observations, next_observations, actions, rewards, costs, done).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from osrl_unlearn.data.datasets import Dataset
from osrl_unlearn.unlearning.objective import (
    AdaptiveForgetWeight, PolicyRetentionGuard, UnlearnConfig, cost_at_floor, cost_forget_loss,
    forget_constraints_met, gated_actor_forget_loss, reward_forget_loss
)

Batch = Sequence[torch.Tensor]
RETENTION_SAMPLE = 2_048  # D_k transitions the retention ratio is measured on
# A forget term: from a D_f batch, the (already weighted) loss to add and its metrics.
ForgetTerm = Callable[[Batch], Tuple[torch.Tensor, Dict[str, float]]]


class UnlearningMixin:
    """Safe-RULE and baseline unlearning steps over an OSRL agent's own parts."""

    unlearn_cfg: UnlearnConfig
    reward_reference: float
    forget_weight: AdaptiveForgetWeight
    policy_guard: PolicyRetentionGuard
    # the agent's optimizers whose steps carry the reward, cost and actor forget terms
    REWARD_CRITIC_OPTIMIZER: Optional[str] = "critic_optim"
    COST_CRITIC_OPTIMIZER: Optional[str] = "cost_critic_optim"
    # every part the policy's action is computed by (BCQ-L: its VAE's decoder too)
    POLICY_OPTIMIZERS: Sequence[str] = ("actor_optim", )
    # whether the critics' targets take the policy's next action, so that moving the
    # policy moves them on D_k (then the actor term's guard also watches their retention)
    CRITICS_FOLLOW_POLICY: bool = True

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
        """Attach OSRL's trainer (its logger must store stats), fix the reward reference,
        and hook the method's forget terms onto the agent's own optimizer steps.

        The reference is a percentile of Q_r on D_k, taken before anything changes.
        """
        self.unlearn_cfg = cfg
        self._trainer, self._train_step = trainer, train_step
        self.forget_weight = AdaptiveForgetWeight(cfg)
        self.policy_guard = PolicyRetentionGuard(cfg)
        self.reward_reference = self.initial_reward_reference(keep_sample, cfg.reward_percentile)
        self.fix_retention_sample(keep_sample)
        self.fix_policy_sample(keep_sample)
        self._forget_batch: Optional[Batch] = None
        self._forget_metrics: Dict[str, float] = {}
        self._term_gradients: Dict[str, Dict[int, torch.Tensor]] = {}
        terms = self.forget_terms()
        carriers: Dict[str, List[str]] = {}
        for optimizer_name, term in terms.items():
            carriers.setdefault(term.__name__, []).append(optimizer_name)
        for optimizer_name, term in terms.items():
            sharing = [getattr(self, name) for name in carriers[term.__name__]]
            getattr(self, optimizer_name).register_step_pre_hook(self._forget_hook(term, sharing))

    def initial_reward_reference(self, keep_sample: Dataset, percentile: float) -> float:
        """Qbar_r: the percentile of the weakest member's Q_r over a D_k sample."""
        with torch.no_grad():
            values = self.reward_members(*_tensors(keep_sample, "observations", "actions"))
        return float(np.percentile(values.min(0).values.numpy(), percentile))

    def forget_terms(self) -> Dict[str, ForgetTerm]:
        """The configured method's forget terms, by the optimizer whose step carries each."""
        method, terms = self.unlearn_cfg.method, {}
        if method in ("safe-rule", "reward-only"):
            terms[self.REWARD_CRITIC_OPTIMIZER] = self.reward_forget_term
            if method == "safe-rule" and self.unlearn_cfg.cost_terms and self.COST_CRITIC_OPTIMIZER:
                terms[self.COST_CRITIC_OPTIMIZER] = self.cost_forget_term
            if method == "safe-rule":
                terms.update({name: self.actor_forget_term for name in self.POLICY_OPTIMIZERS})
        elif method == "trajdeleter":
            terms.update({name: self.value_suppression_term for name in self.POLICY_OPTIMIZERS})
        return terms

    def _forget_hook(self, term: ForgetTerm, sharing: Sequence[torch.optim.Optimizer]):
        """An optimizer pre-step hook adding the term's gradient while a D_f batch is set.

        A term carried by several optimizers (BCQ-L's actor term: its actor and its
        VAE's decoder) is computed once a step, at the first of their steps, for all
        their parameters together; the later steps add their share of that gradient.
        """
        parameters = [p for optimizer in sharing for group in optimizer.param_groups
                      for p in group["params"]]

        def add_forget_gradient(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
            if self._forget_batch is None:
                return
            if term.__name__ not in self._term_gradients:
                loss, metrics = term(self._forget_batch)
                gradients = torch.autograd.grad(loss, parameters, allow_unused=True)
                self._term_gradients[term.__name__] = {
                    id(parameter): gradient for parameter, gradient in zip(parameters, gradients)}
                self._forget_metrics.update(metrics)
            gradients = self._term_gradients[term.__name__]
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    gradient = gradients.get(id(parameter))
                    if gradient is not None:
                        parameter.grad = gradient if parameter.grad is None else parameter.grad + gradient
        return add_forget_gradient

    def forgetting(self, step: int) -> bool:
        """Whether this step adds the method's forget terms.

        Safe-RULE and reward-only start once the retention warm-up has set the D_k
        Bellman levels; TrajDeleter forgets for its first phase only.
        """
        method = self.unlearn_cfg.method
        if method in ("safe-rule", "reward-only"):
            return self.forget_weight.reference_losses is not None
        if method == "trajdeleter":
            return step < self.unlearn_cfg.trajdeleter_forget_fraction * self.unlearn_cfg.steps
        return False

    def retain_step(self, keep_batch: Batch) -> Dict[str, float]:
        """The algorithm's own OSRL training step on a D_k batch; returns its logged stats."""
        self._train_step(self._trainer, keep_batch)
        logger = self._trainer.logger
        stats = logger.get_mean_dict(logger.logger_keys)
        logger.reset_data()
        return stats

    def fix_retention_sample(self, keep_sample: Dataset) -> None:
        """The D_k transitions retention is measured on, with the source policy's next actions.

        Fixed once, before unlearning: the residual then moves only when the critics'
        fit of D_k does, not when the policy (whose next action the target would
        otherwise take) is changed on purpose, and it is not a different batch's noise.
        """
        rows = slice(0, RETENTION_SAMPLE)
        sample = _tensors({key: value[rows] for key, value in keep_sample.items()},
                          "observations", "next_observations", "actions", "rewards", "costs", "done")
        with torch.no_grad():
            next_actions = self.policy_actions(sample[1])
        self._retention_sample = (*sample, next_actions)

    def fix_policy_sample(self, keep_sample: Dataset) -> None:
        """D_k states and the source policy's actions there, for the actor term's guard."""
        observations = _tensors({"observations": keep_sample["observations"][:RETENTION_SAMPLE]},
                                "observations")[0]
        self._policy_sample = (observations, self.policy_actions_fixed_noise(observations))

    @torch.no_grad()
    def keep_bellman_losses(self, stats: Dict[str, float]) -> Dict[str, float]:
        """Each critic's squared one-step Bellman residual on the fixed D_k sample.

        Retention is judged on both critics: each is changed on D_f on purpose, and
        either change can spill onto D_k (a cost critic lifted there raises the
        Lagrange multiplier on clean states). The target bootstraps from the members'
        mean at the source policy's next action, the same way for every algorithm.
        `stats` are the retention step's logged stats, for an agent without Q critics
        to take its own D_k loss from (COptiDICE).
        """
        observations, next_observations, actions, rewards, costs, done, next_actions = \
            self._retention_sample
        losses = {}
        for name, members, signal in (("reward", self.reward_members, rewards),
                                      ("cost", self.cost_members, costs)):
            target = signal + self.gamma * (1.0 - done) * members(next_observations,
                                                                  next_actions).mean(0)
            losses[name] = (members(observations, actions) - target).pow(2).mean().item()
        return losses

    @torch.no_grad()
    def policy_actions_fixed_noise(self, observations: torch.Tensor) -> torch.Tensor:
        """The policy's actions under one fixed noise draw (BCQ-L's decoder samples its
        latent), so that two measurements differ only where the policy does, and the
        training's random stream is left as it was."""
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return self.policy_actions(observations)

    @torch.no_grad()
    def keep_policy_shift(self) -> float:
        """RMS difference per action dimension, as a fraction of the action bound, of the
        policy's actions from the source policy's on the fixed D_k sample."""
        observations, source_actions = self._policy_sample
        shift = (self.policy_actions_fixed_noise(observations) - source_actions).pow(2).mean().sqrt()
        return shift.item() / float(self.max_action)

    @property
    def retention_every(self) -> int:
        """Steps between D_k Bellman measurements (`retention_every` of the config)."""
        return self.unlearn_cfg.retention_every

    @property
    def cost_floor(self) -> float:
        """kappa_Q + sigma: the least cost value a poisoned action must be given."""
        return self.unlearn_cost_threshold * (1.0 + self.unlearn_cfg.cost_margin)

    def unlearn_step(self, keep_batch: Batch, forget_batch: Batch, step: int) -> Dict[str, float]:
        """One step of the configured method; returns metrics for the progress log."""
        forgetting = self.forgetting(step)
        self._forget_batch, self._forget_metrics = (forget_batch if forgetting else None), {}
        self._term_gradients = {}
        try:
            metrics = self.retain_step(keep_batch)  # the hooks add the forget terms
        finally:
            self._forget_batch = None
        metrics.update(self._forget_metrics)
        # Every method measures retention; only Safe-RULE's weight adapts to it. The
        # first `retention_warmup` steps only retain: they set the D_k Bellman levels
        # retention is measured against, before any forgetting moves them.
        # Measured every step of the warm-up, then every `retention_every` steps.
        warming_up = self.forget_weight.reference_losses is None
        if warming_up or (step + 1) % self.retention_every == 0:
            keep_losses = self.keep_bellman_losses(metrics)
            metrics.update({f"retain/bellman_{name}": loss for name, loss in keep_losses.items()})
            self.forget_weight.observe(keep_losses, 1 if warming_up else self.retention_every)
        # the policy's shift on D_k, every `retention_every` steps of the config (COptiDICE
        # reads its Bellman error every step, free; the shift is a pass over 2,048 states)
        shift_every = self.unlearn_cfg.retention_every
        if warming_up or (step + 1) % shift_every == 0:
            metrics["retain/policy_shift"] = self.keep_policy_shift()
            self.policy_guard.observe(metrics["retain/policy_shift"], 1 if warming_up else shift_every)
        ratio = self.forget_weight.ratio
        metrics["unlearn/retention_ratio"] = ratio
        if forgetting and self.unlearn_cfg.method in ("safe-rule", "reward-only"):
            metrics["unlearn/forget_weight"] = self.forget_weight.update(
                1.0 - metrics["unlearn/forget_satisfied"], ratio)
        if forgetting and self.unlearn_cfg.method == "safe-rule":
            metrics["unlearn/actor_guard_scale"] = self.policy_guard.update(
                ratio if self.CRITICS_FOLLOW_POLICY else None)
        return metrics

    def reward_forget_term(self, forget_batch: Batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """forget_weight * softplus(Q_r - Qbar_r) on D_f, and the share meeting the constraints."""
        observations, _, actions = forget_batch[:3]
        reward_values = self.reward_members(observations, actions)
        with torch.no_grad():
            cost_values = self.cost_members(observations, actions)
        reward_loss = reward_forget_loss(reward_values, self.reward_reference)
        judge_cost = self.unlearn_cfg.method == "safe-rule" and self.unlearn_cfg.cost_terms
        met = forget_constraints_met(reward_values.detach(), cost_values, self.reward_reference,
                                     self.cost_floor, judge_cost)
        return self.forget_weight.value * reward_loss, {
            "unlearn/forget_reward_loss": reward_loss.item(),
            "unlearn/forget_satisfied": met.float().mean().item()}

    def cost_forget_term(self, forget_batch: Batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """forget_weight * softplus(kappa_Q + sigma - Q_c) on D_f."""
        observations, _, actions = forget_batch[:3]
        cost_values = self.cost_members(observations, actions)
        cost_loss = cost_forget_loss(cost_values, self.cost_floor)
        return self.forget_weight.value * cost_loss, {"unlearn/forget_cost_loss": cost_loss.item()}

    def actor_forget_term(self, forget_batch: Batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """The safety-gated push of the policy off poisoned behaviour (see the objective).

        With `actor_gate_waits` the gate trusts the cost critic's verdict on the policy's
        action only where that critic has already learnt the poisoned action is costly
        (Q_c(s, a_f) at the floor). Without the wait, a 100,000-step BCQ-L's poisoned
        critic opened the gate on 1-10% of D_f states, whose gradient, through Adam on a
        converged decoder, moved the policy by 0.12 of the action bound within 100 steps;
        the critics followed it off D_k (retention ratio 12), the forget weight fell to
        its least and the agent stayed unsafe.
        """
        observations, _, actions = forget_batch[:3]
        policy_actions = self.policy_actions(observations)
        policy_cost = self.cost_members(observations, policy_actions).min(0).values
        threshold = self.unlearn_cost_threshold
        gate = policy_cost.detach() > threshold if self.unlearn_cfg.actor_gate \
            else torch.ones_like(policy_cost, dtype=torch.bool)
        if self.unlearn_cfg.actor_gate and self.unlearn_cfg.actor_gate_waits \
                and self.unlearn_cfg.cost_terms:
            with torch.no_grad():
                gate = gate & cost_at_floor(self.cost_members(observations, actions), self.cost_floor)
        gate = gate.float()
        cost_excess = F.relu(policy_cost - threshold)
        loss = gated_actor_forget_loss(policy_actions, actions, gate,
                                       self.unlearn_cfg.away_margin, cost_excess)
        weight = self.unlearn_cfg.actor_forget_weight * self.policy_guard.scale
        return weight * loss, {
            "unlearn/actor_forget_loss": loss.item(), "unlearn/actor_gate_share": gate.mean().item(),
            "unlearn/forget_policy_q_cost": policy_cost.mean().item()}

    def value_suppression_term(self, forget_batch: Batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """TrajDeleter's forgetting phase: lower the policy's reward value on D_f states."""
        observations = forget_batch[0]
        value = self.reward_members(observations, self.policy_actions(observations)).min(0).values
        return self.unlearn_cfg.actor_forget_weight * value.mean(), {
            "unlearn/forget_value": value.mean().item()}

    @torch.no_grad()
    def transition_values(self, transitions: Dataset) -> np.ndarray:
        """What the agent has learnt of each (scaled) transition, for the audit:
        [Q_r, Q_c] of its weakest members, one row per transition."""
        observations, actions = _tensors(transitions, "observations", "actions")
        return torch.stack([self.reward_members(observations, actions).min(0).values,
                            self.cost_members(observations, actions).min(0).values], 1).numpy()

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
            "forget_cost_at_floor": cost_at_floor(cost_values, self.cost_floor).float().mean().item(),
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
