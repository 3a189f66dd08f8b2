"""COptiDICE (osrl.algorithms.COptiDICE): built from its OSRL-style config, and its adaptation.

COptiDICE has no Q critics: it learns a value network nu (and chi for the cost
bound), derives stationary-distribution correction weights w(s, a) from them, and
extracts the policy by w-weighted behaviour cloning. Safe-RULE is adapted so:

- Retention: COptiDICE's own update on D_k refits nu, chi, the Lagrange multiplier
  lambda, tau, and the weighted-BC policy on D_k only, so the BC ignores D_f.
- Critic unlearning: the weights of D_f transitions are suppressed,
  forget_weight * softplus(w(s, a) - w_reference), through nu; w_reference is the
  `reward_percentile` percentile of w over D_k before unlearning (the analogue of
  the reward reference). There is no cost critic over actions to lift, so the cost
  term of the other algorithms has no counterpart here (chi is refitted on D_k).
- Actor unlearning: the policy's log-likelihood of the D_f action is lowered, down to
  the `reward_percentile` percentile of its log-likelihood of D_k actions before
  unlearning, where the gate is on; the gate is "w(s, a) of this poisoned transition is
  still above w_reference" (COptiDICE still rates the poisoned behaviour as worth
  imitating), since there is no Q_c to judge safety with.
- TrajDeleter baseline: its forgetting phase lowers the policy's log-likelihood of
  D_f actions (the analogue of lowering the policy's value on D_f states), down to the
  `reward_percentile` percentile of its log-likelihood of D_k actions before
  unlearning: unbounded, it drove the policy to NaN within 2,500 steps.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from osrl.algorithms import COptiDICE, COptiDICETrainer

from osrl_unlearn.configs import COptiDICETrainConfig
from osrl_unlearn.unlearning.mixin import UnlearningMixin

NAME = "COptiDICE"
Config = COptiDICETrainConfig
NEEDS_INITIAL_STATES = True  # COptiDICE's batches carry the is_init flag
# What OSRL's checkpoint leaves out, kept beside it (see osrl_unlearn.runs).
OPTIMIZERS = ("actor_optim", "nu_optim", "chi_optim", "lmbda_optim", "tau_optim")
MULTIPLIERS = ("lmbda", "tau")  # the cost Lagrangian and the cost bound's temperature


def build_model(cfg: COptiDICETrainConfig, state_dim: int, action_dim: int, max_action: float,
                unlearnable: bool = False, data: Optional[dict] = None) -> COptiDICE:
    """An OSRL COptiDICE; `data` gives the statistics its update needs (as OSRL's script).

    Without data (evaluation only) neutral statistics are used: they enter the
    update, never the policy's actions.
    """
    if data is not None:
        ends = np.logical_or(data["terminals"], data["timeouts"])
        init_proportion = float(np.mean(np.concatenate([[True], ends[:-1]])))
        observations_std = data["observations"].std(0, keepdims=True)
        actions_std = data["actions"].std(0, keepdims=True)
    else:
        init_proportion = 1.0 / cfg.episode_len
        observations_std = np.ones((1, state_dim), dtype=np.float32)
        actions_std = np.ones((1, action_dim), dtype=np.float32)
    return (UnlearnableCOptiDICE if unlearnable else COptiDICE)(
        state_dim=state_dim,
        action_dim=action_dim,
        max_action=max_action,
        f_type=cfg.f_type,
        init_state_propotion=init_proportion,
        observations_std=observations_std,
        actions_std=actions_std,
        a_hidden_sizes=cfg.a_hidden_sizes,
        c_hidden_sizes=cfg.c_hidden_sizes,
        gamma=cfg.gamma,
        alpha=cfg.alpha,
        cost_ub_epsilon=cfg.cost_ub_epsilon,
        num_nu=cfg.num_nu,
        num_chi=cfg.num_chi,
        cost_limit=cfg.constraint_limit(),
        episode_len=cfg.episode_len,
        device=cfg.device,
    )


def train_step(trainer: COptiDICETrainer, batch) -> None:
    """One of OSRL's own training steps on a batch (COptiDICE takes it as a list)."""
    trainer.train_one_step(batch)


def build_trainer(model: COptiDICE, env, cfg: COptiDICETrainConfig, logger) -> COptiDICETrainer:
    """OSRL's own trainer for the model (its optimizers, train_one_step, rollout)."""
    return COptiDICETrainer(
        model, env, logger=logger, actor_lr=cfg.actor_lr, critic_lr=cfg.critic_lr,
        scalar_lr=cfg.scalar_lr, reward_scale=cfg.reward_scale, cost_scale=cfg.cost_scale,
        device=cfg.device,
    )


class UnlearnableCOptiDICE(UnlearningMixin, COptiDICE):
    """COptiDICE with `unlearn_step` (see the module docstring for the adaptation).

    The weight-suppression term rides on nu's optimizer step; there is no cost critic.
    """

    REWARD_CRITIC_OPTIMIZER = "nu_optim"
    COST_CRITIC_OPTIMIZER = None
    CRITICS_FOLLOW_POLICY = False  # nu's and chi's targets are data, not the policy's actions

    def fix_retention_sample(self, keep_sample) -> None:
        """Nothing to fix: retention is read off COptiDICE's own step."""

    def keep_bellman_losses(self, stats) -> Dict[str, float]:
        """Retention is nu's TD error on D_k, as COptiDICE's own step logs it."""
        return {"nu": stats["loss/td_error"]}

    @property
    def retention_every(self) -> int:
        """Every step: the measurement is COptiDICE's own logged loss, free to read."""
        return 1

    def correction_weights(self, transitions) -> torch.Tensor:
        """w(s, a) of each transition under the current nu and lambda."""
        observations, next_observations, _, rewards, costs, done = transitions[:6]
        self._lmbda = F.softplus(self.lmbda)
        return self._optimal_w(observations, next_observations, rewards, costs, done)[3]

    def initial_reward_reference(self, keep_sample, percentile: float) -> float:
        """The percentile of w over D_k; also fixes TrajDeleter's likelihood floor."""
        keep_batch = _batch(keep_sample)
        with torch.no_grad():
            weights = self.correction_weights(keep_batch)
            keep_likelihood = self.action_log_likelihood(keep_batch[0], keep_batch[2])
        self.likelihood_floor = float(np.percentile(keep_likelihood.numpy(), percentile))
        return float(np.percentile(weights.numpy(), percentile))

    def policy_actions(self, observations) -> torch.Tensor:
        """The policy's action: the mean of its squashed Gaussian."""
        return self.actor(observations, deterministic=True, with_logprob=False)[0]

    @torch.no_grad()
    def transition_values(self, transitions) -> np.ndarray:
        """For the audit: [w(s, a), log pi(a | s)] per transition (no Q critics here)."""
        batch = _batch(transitions)
        return torch.stack([self.correction_weights(batch),
                            self.action_log_likelihood(batch[0], batch[2])], 1).numpy()

    def action_log_likelihood(self, observations, actions) -> torch.Tensor:
        """log pi(a | s) per transition, under the pre-tanh Gaussian COptiDICE's BC scores."""
        _, _, distribution = self.actor(observations, False, True, True)
        return distribution.log_prob(actions).sum(-1)

    def reward_forget_term(self, forget_batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """forget_weight * softplus(w(s, a) - w_reference) on D_f, added to nu's own loss."""
        weights = self.correction_weights(forget_batch)
        loss = F.softplus(weights - self.reward_reference).mean()
        satisfied = (weights.detach() <= self.reward_reference).float().mean()
        return self.forget_weight.value * loss, {"unlearn/forget_reward_loss": loss.item(),
                                                 "unlearn/forget_satisfied": satisfied.item()}

    def likelihood_over_floor(self, observations, actions) -> Tuple[torch.Tensor, torch.Tensor]:
        """(log pi(a | s) - likelihood floor)_+ per transition, and log pi(a | s): the hinge
        both the actor term (gated) and TrajDeleter's forgetting (everywhere) push down."""
        log_likelihood = self.action_log_likelihood(observations, actions)
        return F.relu(log_likelihood - self.likelihood_floor), log_likelihood

    def actor_forget_term(self, forget_batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Lower log pi(a_f | s) where COptiDICE still rates the poisoned transition highly,
        down to the likelihood floor (the `reward_percentile` percentile of log pi over D_k).

        The gate is "w(s, a) of this poisoned transition is still above its reference".
        The term is on the scale of COptiDICE's own weighted BC (a log-likelihood): a hinge
        on the mean action's distance from a_f (the other algorithms' term) left the policy
        where fine-tuning leaves it, the actor's loss the same to three digits and the
        hinge unmoved over 1,500 steps (results/coptidice-forget/).
        """
        observations, actions = forget_batch[0], forget_batch[2]
        with torch.no_grad():
            gate = (self.correction_weights(forget_batch) > self.reward_reference).float()
        if not self.unlearn_cfg.actor_gate:
            gate = torch.ones_like(gate)
        excess, log_likelihood = self.likelihood_over_floor(observations, actions)
        loss = (gate * excess).mean()
        return self.unlearn_cfg.actor_forget_weight * self.policy_guard.scale * loss, {
            "unlearn/actor_forget_loss": loss.item(), "unlearn/actor_gate_share": gate.mean().item(),
            "unlearn/forget_log_likelihood": log_likelihood.mean().item()}

    def value_suppression_term(self, forget_batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """TrajDeleter's forgetting: lower log pi(a_f | s) on D_f, down to its floor."""
        excess, log_likelihood = self.likelihood_over_floor(forget_batch[0], forget_batch[2])
        loss = excess.mean()
        return self.unlearn_cfg.actor_forget_weight * loss, {
            "unlearn/forget_log_likelihood": log_likelihood.mean().item()}

    @torch.no_grad()
    def forget_report(self, forget, cost_terms: bool = True) -> Dict[str, float]:
        weights = self.correction_weights(_batch(forget))
        satisfied = (weights <= self.reward_reference).float().mean().item()
        return {"forget_satisfied": satisfied, "forget_reward_under_reference": satisfied,
                "forget_mean_weight": weights.mean().item(),
                "reward_reference": self.reward_reference}


def _batch(data) -> list:
    """A whole (scaled) dataset as one batch in OSRL's transition order."""
    keys = ("observations", "next_observations", "actions", "rewards", "costs", "done")
    return [torch.as_tensor(data[key], dtype=torch.float32) for key in keys]
