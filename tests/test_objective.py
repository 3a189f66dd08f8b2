"""The shared Safe-RULE objective: hinges, the gate, and the adaptive forget weight."""

import pytest
import torch

from osrl_unlearn.unlearning.objective import (
    AdaptiveForgetWeight, PolicyRetentionGuard, UnlearnConfig, cost_forget_loss,
    forget_constraints_met, gated_actor_forget_loss, reward_forget_loss
)


def test_hinges_push_only_while_a_constraint_is_violated():
    reward = torch.tensor([[5.0, -5.0]], requires_grad=True)  # over / under the reference 0
    cost = torch.tensor([[0.0, 20.0]], requires_grad=True)  # under / over the floor 10
    (reward_forget_loss(reward, 0.0) + cost_forget_loss(cost, 10.0)).backward()
    assert reward.grad[0, 0] > 0.4 and abs(reward.grad[0, 1]) < 0.01
    assert cost.grad[0, 0] < -0.4 and abs(cost.grad[0, 1]) < 0.01
    met = forget_constraints_met(reward.detach(), cost.detach(), 0.0, 10.0)
    assert met.tolist() == [False, True]


def test_actor_term_acts_only_where_the_gate_judges_the_policy_unsafe():
    policy = torch.zeros(2, 2, requires_grad=True)
    poisoned = torch.zeros(2, 2)
    loss = gated_actor_forget_loss(policy, poisoned + 1e-3, torch.tensor([1.0, 0.0]),
                                   away_margin=0.5)
    loss.backward()
    assert policy.grad[0].abs().sum() > 0 and policy.grad[1].abs().sum() == 0


def test_actor_term_leads_down_the_cost_critic_even_far_from_the_poisoned_action():
    """Far from a_f the distance hinge is silent; the cost excess still pushes."""
    excess = torch.tensor([0.8, 0.8], requires_grad=True)
    loss = gated_actor_forget_loss(torch.zeros(2, 2), torch.full((2, 2), 5.0),
                                   torch.tensor([1.0, 0.0]), away_margin=0.5, cost_excess=excess)
    loss.backward()
    assert excess.grad.tolist() == [0.5, 0.0]


def test_forget_weight_rises_while_violated_falls_when_retention_degrades_and_can_be_fixed():
    cfg = UnlearnConfig(retention_warmup=2, forget_weight=1.0, retention_tolerance=1.0)
    weight = AdaptiveForgetWeight(cfg)
    for losses in ({"reward": 1.0, "cost": 0.1}, {"reward": 1.0, "cost": 0.1}):
        assert weight.ratio == 1.0  # warm-up sets each critic's level
        weight.observe(losses)
    # The worst critic counts: the reward side unchanged, the cost side's loss risen; a
    # measurement ten steps after the last weighs as ten steps of smoothing.
    weight.observe({"reward": 1.0, "cost": 0.2}, steps=10)
    ratio = weight.ratio
    assert ratio == pytest.approx((0.1 * 0.98 ** 10 + 0.2 * (1 - 0.98 ** 10)) / 0.1)
    assert weight.update(violated_share=0.5, retention_ratio=1.2) > 1.0
    risen = weight.value
    assert weight.update(violated_share=0.5, retention_ratio=1.9) == risen  # held in the band
    assert weight.update(violated_share=0.5, retention_ratio=2.5) < risen
    fixed = AdaptiveForgetWeight(UnlearnConfig(adaptive_forget_weight=False, forget_weight=3.0))
    assert fixed.update(1.0, 1.0) == fixed.update(1.0, 9.0) == 3.0


def test_actor_guard_scales_down_while_the_policy_has_moved_too_far_and_recovers():
    guard = PolicyRetentionGuard(UnlearnConfig(policy_shift_tolerance=0.15, forget_weight_rate=0.1))
    guard.observe(0.05, steps=10)  # a small shift: the actor term keeps its full weight
    assert guard.update() == 1.0
    for _ in range(20):
        guard.observe(0.6, steps=10)
    assert guard.shift > 0.15
    assert guard.update() == pytest.approx(0.9)
    assert guard.update() == pytest.approx(0.81)
    for _ in range(100):  # back within three quarters of the tolerance: it recovers
        guard.observe(0.0, steps=10)
    assert guard.update() == pytest.approx(0.891)
    restored = PolicyRetentionGuard(UnlearnConfig())
    restored.load_state_dict(guard.state_dict())
    assert (restored.scale, restored.shift) == (guard.scale, guard.shift)
