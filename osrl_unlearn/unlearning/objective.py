"""The Safe-RULE objective, written once and shared by every algorithm adapter.

Per unlearning step, on a keep batch (D_k) and a forget batch (D_f), one optimizer
step per part of the agent on the sum of its retention and forget terms:

1. Retention: the algorithm's own update on D_k (its Bellman losses, its actor and
   Lagrangian, its behaviour model refitted on D_k only).
2. Critic unlearning on D_f, every ensemble member, added to the Bellman losses:
       reward:  forget_weight * softplus(Q_r(s, a) - reward_reference)
       cost:    forget_weight * softplus(cost_threshold + cost_margin - Q_c(s, a))
   `reward_reference` is a percentile of Q_r over D_k taken before unlearning.
3. Safety-gated actor unlearning on D_f states: where the cost critic still judges
   the policy's action unsafe (Q_c(s, pi(s)) > cost_threshold), push pi(s) at least
   `away_margin` away from the poisoned action a_f (a squared hinge on the distance)
   and down the cost critic, to where it judges the action safe. With
   `actor_gate_waits`, only where that critic has already learnt the poisoned action is
   costly (Q_c(s, a_f) at its floor).
4. The forget weight adapts: up while forget constraints are violated and retention
   (the D_k Bellman error of each critic relative to its level at the start; the worst
   of them counts) is within tolerance, down when retention degrades. The first
   `retention_warmup` steps retain only, and their Bellman errors are those levels.
5. The actor term is guarded by retention: how far the policy's actions on D_k states
   have moved from the source policy's, and the critics' D_k Bellman errors. While the
   shift is over `policy_shift_tolerance`, or the errors are past
   `retention_tolerance`, the actor term is scaled down, so forgetting cannot buy
   safety by making the agent stand still (the actor term alone moved a CarCircle
   agent's actions on clean states by 0.41 of the action bound, into creeping, where
   retraining moved them by 0.065: results/collapse/), nor by moving a policy the
   critics then follow off D_k (a 100,000-step BCQ-L: results/scale/).
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

METHODS = ("safe-rule", "finetune", "trajdeleter", "reward-only", "retrain")


@dataclass
class UnlearnConfig:
    """Everything the unlearning stage and its ablations can switch (comments: --help)."""

    # safe-rule | finetune | trajdeleter | reward-only | retrain
    method: str = "safe-rule"
    # unlearning steps (retraining: the source run's training steps instead)
    steps: int = 5_000
    # unlearn "last" (model.pt) or "best" (model_best.pt, picked by OSRL in the simulator)
    source_checkpoint: str = "last"
    # batch size on D_k and on D_f (None: the source run's)
    batch_size: Optional[int] = None
    # seed of the batches, of the reward reference's D_k sample and of an imperfect forget set
    seed: int = 0
    # share of the poisoned episodes the defender knows; the rest stays in D_k (1: all)
    forget_recall: float = 1.0
    # share of the forget set's episodes that are poisoned; clean ones fill the rest (1: none)
    forget_precision: float = 1.0
    # forget the episodes the poison detector flags, this share of all episodes, instead of
    # the poisoned ones given (which then only measure the detector; None: the given ones)
    detected_share: Optional[float] = None
    # percentile of Q_r over D_k that Q_r on D_f is pushed under (the paper's text; its table: 50)
    reward_percentile: float = 30.0
    # sigma: how far above kappa_Q the cost critic is lifted on D_f, as a fraction of kappa_Q
    cost_margin: float = 0.5
    # lift the cost critic on D_f (false: the reward-only ablation)
    cost_terms: bool = True
    # push the actor only where the cost critic judges its action unsafe (false: everywhere)
    actor_gate: bool = True
    # ...and only once the cost critic values a_f at its floor there (made BCQ-L trained
    # 100,000 steps safe; at 10,000 steps it cost BallRun BCQ-L and CarRun BEAR-L: results/scale)
    actor_gate_waits: bool = False
    # weight of the actor forget term beside the actor's own loss
    actor_forget_weight: float = 1.0
    # distance in action space the policy keeps from poisoned actions where the gate is on
    away_margin: float = 0.5
    # beta_f: weight of the critic forget terms (its start value when adaptive)
    forget_weight: float = 1.0
    # adapt beta_f to the forget constraints and retention (false: keep it fixed)
    adaptive_forget_weight: bool = True
    # relative change of beta_f per step when adapting (and of the actor term's guard scale)
    forget_weight_rate: float = 0.01
    # least beta_f when adapting
    forget_weight_min: float = 0.1
    # largest beta_f when adapting
    forget_weight_max: float = 100.0
    # allowed relative rise of each critic's D_k Bellman error over its starting level
    retention_tolerance: float = 1.0
    # retain-only steps at the start; their D_k Bellman errors are the starting levels
    retention_warmup: int = 100
    # steps between measurements of the D_k Bellman errors (a fixed 2,048-row sample;
    # the retention ratio in between is the latest one)
    retention_every: int = 10
    # allowed shift of the policy's actions on D_k states from the source policy's (RMS per
    # dimension, fraction of the action bound) before the actor term is scaled down (and a
    # save past it is not chosen as best)
    policy_shift_tolerance: float = 0.15
    # the actor term's guard also scales it down while the D_k Bellman errors are past
    # `retention_tolerance` (false: only the policy shift; the 100,000-step BCQ-L's
    # critics followed a policy moved 0.05-0.1 of the bound to 12 times their errors)
    actor_guard_retention: bool = True
    # steps re-estimating the multipliers of a run without saved training state (unmodified OSRL)
    multiplier_warmup: int = 200
    # TrajDeleter: its forgetting phase as a fraction of the steps
    trajdeleter_forget_fraction: float = 0.5
    # save (and choose model_best offline) every this many steps
    save_every: int = 500
    # also keep each save as checkpoint/model_<step>.pt, to see in the simulator what the
    # offline choice chose among (`osrl-unlearn saves`)
    keep_saves: bool = False
    # stop once this many saves in a row have not beaten model_best (0: run every step)
    stop_after_saves: int = 0
    # Safe-RULE: saves that retain D_k and keep at least (1 - this) of the largest share of D_f
    # forgotten so far count as equal for model_best, and the latest wins (0: the largest
    # share). The largest share is where forgetting has moved the policy most (CarRun BEAR-L
    # stood still there; saves after it, still safe, kept retraining's reward: results/offline-choice)
    forget_share_band: float = 0.3
    # Safe-RULE: the early stop also ends the run once `stop_after_saves` saves that retain D_k
    # have come since the largest share of D_f forgotten last rose by more than this fraction
    # of it (0: off). Inside the band the latest save keeps replacing model_best, so the count
    # from its last change never ended a run whose forgetting had levelled off (results/early-stop)
    forget_plateau: float = 0.02


def reward_forget_loss(reward_values: torch.Tensor, reward_reference: float) -> torch.Tensor:
    """softplus(Q_r - Qbar_r) on D_f, averaged over members [members, batch] and batch."""
    return F.softplus(reward_values - reward_reference).mean()


def cost_forget_loss(cost_values: torch.Tensor, cost_floor: float) -> torch.Tensor:
    """softplus(kappa_Q + sigma - Q_c) on D_f, averaged over members and batch."""
    return F.softplus(cost_floor - cost_values).mean()


def cost_at_floor(cost_values: torch.Tensor, cost_floor: float) -> torch.Tensor:
    """Per forget transition: does the weakest cost member value it at the floor? [batch] bool."""
    return cost_values.min(0).values >= cost_floor


def forget_constraints_met(
    reward_values: torch.Tensor, cost_values: torch.Tensor, reward_reference: float,
    cost_floor: float, cost_terms: bool = True
) -> torch.Tensor:
    """Per forget transition: do the weakest members meet the constraints? [batch] bool."""
    met = reward_values.max(0).values <= reward_reference
    if cost_terms:
        met = met & cost_at_floor(cost_values, cost_floor)
    return met


def gated_actor_forget_loss(
    policy_actions: torch.Tensor,
    forget_actions: torch.Tensor,
    gate: torch.Tensor,
    away_margin: float,
    cost_excess: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Move the policy off poisoned behaviour on forget states where it is judged unsafe.

    `gate` is 1 where the policy's action is still judged unsafe, else 0. There the
    policy is kept `away_margin` from the poisoned action (a squared hinge on the
    distance) and, given `cost_excess` (the cost critic's (Q_c(s, pi(s)) - kappa_Q)_+,
    differentiable in the actor), led down the cost critic, which
    unlearning has taught that poisoned behaviour is costly: being far from a_f alone
    does not make an action safe.
    """
    distance = (policy_actions - forget_actions).norm(dim=-1)
    per_state = F.relu(away_margin - distance).pow(2)
    if cost_excess is not None:
        per_state = per_state + cost_excess
    return (gate * per_state).mean()


class PolicyRetentionGuard:
    """Scales the actor forget term by how far the policy has moved on D_k states.

    The shift is the RMS difference, per action dimension and as a fraction of the
    action bound, between the policy's actions and the source policy's on the fixed
    D_k retention sample, averaged exponentially like the Bellman errors. Retraining
    moves a policy little there (CarCircle BCQ-L: 0.065 of the bound) while an actor
    term that has made the agent stand still moves it far (0.41). The scale falls by
    `forget_weight_rate` per step while the shift is over `policy_shift_tolerance`
    (or, with `actor_guard_retention`, the retention ratio past `retention_tolerance`:
    how far a shift carries the critics differs between agents) and recovers towards 1
    once both are inside three quarters of their tolerances.
    """

    def __init__(self, cfg: UnlearnConfig):
        self.cfg = cfg
        self.scale = 1.0
        self.shift = 0.0

    def observe(self, shift: float, steps: int = 1) -> None:
        """Take one measurement of the shift, `steps` steps after the last."""
        kept = 0.98 ** steps
        self.shift = kept * self.shift + (1.0 - kept) * shift

    def update(self, retention_ratio: Optional[float] = None) -> float:
        """Adapt after one step, given the critics' latest D_k retention ratio (None: an
        agent whose critics do not follow the policy, so only the shift counts)."""
        rate, tolerance = self.cfg.forget_weight_rate, self.cfg.policy_shift_tolerance
        watched = self.cfg.actor_guard_retention and retention_ratio is not None

        def retention_past(share: float) -> bool:
            return watched and retention_ratio - 1.0 > share * self.cfg.retention_tolerance

        if self.shift > tolerance or retention_past(1.0):
            self.scale = max(self.scale * (1.0 - rate), 1e-3)
        elif self.shift <= 0.75 * tolerance and not retention_past(0.75):
            self.scale = min(self.scale * (1.0 + rate), 1.0)
        return self.scale

    def state_dict(self) -> dict:
        return {"scale": self.scale, "shift": self.shift}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.shift = state["scale"], state["shift"]


class AdaptiveForgetWeight:
    """beta_f: rises while forgetting is incomplete and retention holds, falls otherwise."""

    def __init__(self, cfg: UnlearnConfig):
        self.cfg = cfg
        self.value = cfg.forget_weight
        self.reference_losses: Optional[Dict[str, float]] = None
        self.smoothed_losses: Dict[str, float] = {}
        self._warmup_losses: List[Dict[str, float]] = []
        self._warmup_steps = 0

    def observe(self, keep_losses: Dict[str, float], steps: int = 1) -> None:
        """Take one D_k Bellman measurement per critic, made `steps` steps after the last.

        Each is averaged exponentially (weight 0.02 per step, so 1 - 0.98**steps for a
        measurement `steps` apart) before it is compared. The measurements of the first
        `retention_warmup` steps set the levels; until then the ratio is 1.
        """
        kept = 0.98 ** steps
        for name, loss in keep_losses.items():
            previous = self.smoothed_losses.get(name, loss)
            self.smoothed_losses[name] = kept * previous + (1.0 - kept) * loss
        if self.reference_losses is None:
            self._warmup_losses.append(dict(keep_losses))
            self._warmup_steps += steps
            if self._warmup_steps >= self.cfg.retention_warmup:
                self.reference_losses = {
                    name: max(sum(losses[name] for losses in self._warmup_losses)
                              / len(self._warmup_losses), 1e-8)
                    for name in keep_losses
                }

    @property
    def ratio(self) -> float:
        """The latest retention ratio (1 until the warm-up has set the levels)."""
        if self.reference_losses is None:
            return 1.0
        return max(self.smoothed_losses[name] / level
                   for name, level in self.reference_losses.items())

    def update(self, violated_share: float, retention_ratio: float) -> float:
        """Adapt after one step; a fixed weight stays as configured.

        Rises only while retention is inside the lower three quarters of its tolerance
        and falls once it is past the tolerance, so it settles inside the tolerance
        instead of oscillating across its edge.
        """
        if not self.cfg.adaptive_forget_weight:
            return self.value
        rate, tolerance = self.cfg.forget_weight_rate, self.cfg.retention_tolerance
        if retention_ratio > 1.0 + tolerance:
            self.value *= 1.0 - rate
        elif violated_share > 0.0 and retention_ratio <= 1.0 + 0.75 * tolerance:
            self.value *= 1.0 + rate
        self.value = min(max(self.value, self.cfg.forget_weight_min), self.cfg.forget_weight_max)
        return self.value

    def state_dict(self) -> dict:
        return {"value": self.value, "reference_losses": self.reference_losses,
                "smoothed_losses": dict(self.smoothed_losses),
                "warmup_losses": list(self._warmup_losses), "warmup_steps": self._warmup_steps}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]
        self.reference_losses = state["reference_losses"]
        self.smoothed_losses = dict(state["smoothed_losses"])
        self._warmup_losses = list(state["warmup_losses"])
        self._warmup_steps = state["warmup_steps"]
