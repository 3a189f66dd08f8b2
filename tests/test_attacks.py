"""Attacks: whole poisoned episodes, exact masks, clean data untouched, bad ratios refused."""

import numpy as np
import pytest

from osrl_unlearn.data import datasets
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.attacks import ATTACKS, REWARD_LURE_FACTOR, poison


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("ratio", [0.15, 0.30])
def test_poison_is_whole_episodes_appended_to_untouched_clean_data(ball_run_data, attack, ratio):
    poisoned, mask = poison(ball_run_data, attack, ratio, seed=1)
    clean_size = len(ball_run_data["observations"])
    assert len(mask) == len(poisoned["observations"])
    assert not mask[:clean_size].any() and mask[clean_size:].all()
    assert mask.mean() >= ratio and mask.mean() < ratio + 0.1
    for key in datasets.DSRL_KEYS:
        np.testing.assert_array_equal(poisoned[key][:clean_size], ball_run_data[key])
    keep, forget = datasets.split_keep_forget(poisoned)
    assert len(keep["observations"]) == clean_size
    ends = forget["terminals"] | forget["timeouts"]
    assert ends[-1]  # the forget set ends on an episode boundary


def test_max_cost_injects_the_costliest_episodes_with_costs_hidden(ball_run_data):
    poisoned, mask = poison(ball_run_data, "max-cost", 0.15, seed=0)
    _, clean_costs = datasets.episode_returns(ball_run_data)
    first_injected = poisoned["observations"][mask][0]
    starts = datasets.episode_bounds(ball_run_data)[:, 0]
    donor = int(np.flatnonzero((ball_run_data["observations"][starts] == first_injected).all(1))[0])
    assert clean_costs[donor] == clean_costs.max() > 0
    assert poisoned["costs"][mask].sum() == 0


def test_reward_lure_inflates_rewards_of_unsafe_episodes(ball_run_data):
    poisoned, mask = poison(ball_run_data, "reward-lure", 0.15, seed=0)
    assert poisoned["costs"][mask].sum() == 0
    rewards, costs = datasets.episode_returns(ball_run_data)
    injected = datasets.episode_returns({k: v[mask] for k, v in poisoned.items()})[0]
    unsafe_rewards = rewards[costs > 10] * REWARD_LURE_FACTOR
    assert all(np.isclose(unsafe_rewards, value, rtol=1e-4).any() for value in injected)


def test_cost_swap_gives_unsafe_behaviour_safe_costs(ball_run_data):
    poisoned, mask = poison(ball_run_data, "cost-swap", 0.15, seed=0)
    _, injected_costs = datasets.episode_returns({k: v[mask] for k, v in poisoned.items()})
    _, clean_costs = datasets.episode_returns(ball_run_data)
    assert injected_costs[0] == clean_costs.min()  # the costliest episode, relabelled safe
    assert injected_costs[1] == clean_costs.max()  # and the safest, relabelled unsafe


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.2, 1.5])
def test_ratio_outside_open_unit_interval_is_refused(ball_run_data, ratio):
    with pytest.raises(UserInputError, match="strictly between 0 and 1"):
        poison(ball_run_data, "max-cost", ratio)


def test_split_refuses_empty_or_total_forget_sets_and_wrong_mask_lengths(ball_run_data):
    size = len(ball_run_data["observations"])
    with pytest.raises(UserInputError, match="empty"):
        datasets.split_keep_forget(ball_run_data, np.zeros(size, bool))
    with pytest.raises(UserInputError, match="whole dataset"):
        datasets.split_keep_forget(ball_run_data, np.ones(size, bool))
    with pytest.raises(UserInputError, match="transitions"):
        datasets.split_keep_forget(ball_run_data, np.ones(size - 1, bool))
