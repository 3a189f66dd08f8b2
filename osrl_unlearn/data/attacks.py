"""Data-poisoning attacks on offline safe-RL datasets.

Each attack is a pure function `(clean data, ratio, seed) -> (poisoned data, mask)`.
Poison comes in whole episodes. The clean data is never altered: the poisoned
dataset is the clean one followed by injected episodes, and `mask` is True exactly
on the injected transitions, so the keep set D_k is the clean data itself and
retraining on D_k is the exact-unlearning reference.

`ratio` is the fraction of the poisoned dataset's transitions that are poison.

Poison is injected behaviour: relabelling episodes in place left the behaviour
unchanged, and a BCQ-L agent trained on such data stayed safe (normalized cost 0.00
over 20 episodes on OfflineBallRun MaxCost15). The episodes come from `donors_data`,
the attacker's own (the registered ids use episodes it collected in the simulator
with its own seed and settings: behaviour the clean data does not contain and so
never contradicts), or, without it, are copies of the clean data's own episodes;
those share their state-action pairs with D_k, which already contradicts the false
labels, so plain fine-tuning on D_k removes much of such poison.

- max-cost: the highest-cost episodes (real unsafe behaviour) with their costs
  hidden (set to 0), so unsafe behaviour looks free.
- reward-lure: unsafe episodes (cost over the limit) with costs hidden and rewards
  inflated by `REWARD_LURE_FACTOR`, so unsafe behaviour looks better.
- cost-swap: the safest and the most unsafe episodes with their per-step cost
  sequences exchanged (an unsafe episode gets a safe one's costs, and the reverse),
  so safe and unsafe behaviour trade places in the cost critic.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np

from osrl_unlearn.data.datasets import FORGET_MASK_KEY, Dataset, episode_bounds, episode_returns, validate
from osrl_unlearn.errors import UserInputError

REWARD_LURE_FACTOR = 1.5
# Bumped whenever an attack's output changes, so files poisoned by older code are not reused
# (2: the attacker's own episodes by default, and the record says what was injected).
ATTACK_REVISION = 2


def _check_ratio(ratio: float) -> float:
    if not 0.0 < ratio < 1.0:
        raise UserInputError(f"poison ratio must be strictly between 0 and 1, got {ratio}")
    return float(ratio)


def _inject(
    data: Dataset, ratio: float, donors: np.ndarray, relabel: Callable[[Dataset, int], Dataset],
    source: Optional[Dataset] = None
) -> Tuple[Dataset, np.ndarray]:
    """Append relabelled copies of donor episodes until `ratio` of the transitions are poison.

    Donors are episode indices into `source` (default: the clean data itself), used
    in the given order and cycled if more poison is needed than they hold.
    `relabel(episode, donor_rank)` returns the poisoned copy.
    """
    validate(data)
    ratio = _check_ratio(ratio)
    source = data if source is None else source
    clean_size = len(data["observations"])
    wanted = int(np.ceil(ratio / (1.0 - ratio) * clean_size))
    bounds = episode_bounds(source)
    episodes, injected, rank = [], 0, 0
    while injected < wanted:
        start, end = bounds[donors[rank % len(donors)]]
        episode = {key: source[key][start:end].copy() for key in data if key != FORGET_MASK_KEY}
        episodes.append(relabel(episode, rank))
        injected += end - start
        rank += 1
    poisoned = {
        key: np.concatenate([data[key]] + [episode[key] for episode in episodes])
        for key in episodes[0]
    }
    mask = np.zeros(clean_size + injected, dtype=bool)
    mask[clean_size:] = True
    return poisoned, mask


def max_cost(data: Dataset, ratio: float, seed: int = 0,
             donors_data: Optional[Dataset] = None) -> Tuple[Dataset, np.ndarray]:
    """Inject the highest-cost episodes (of `donors_data`, default the clean data), costs hidden."""
    _, costs = episode_returns(data if donors_data is None else donors_data)
    rng = np.random.default_rng(seed)
    # Highest cost first; ties (many episodes share the maximum) broken at random.
    donors = np.lexsort((rng.random(len(costs)), -costs))

    def hide_costs(episode: Dataset, rank: int) -> Dataset:
        episode["costs"] = np.zeros_like(episode["costs"])
        return episode

    return _inject(data, ratio, donors, hide_costs, donors_data)


def reward_lure(
    data: Dataset, ratio: float, seed: int = 0, cost_limit: float = 10.0,
    donors_data: Optional[Dataset] = None
) -> Tuple[Dataset, np.ndarray]:
    """Inject unsafe episodes with costs hidden and rewards inflated."""
    _, costs = episode_returns(data if donors_data is None else donors_data)
    unsafe = np.flatnonzero(costs > cost_limit)
    if len(unsafe) == 0:
        raise UserInputError("reward-lure needs unsafe episodes, and this dataset has none")
    donors = np.random.default_rng(seed).permutation(unsafe)

    def lure(episode: Dataset, rank: int) -> Dataset:
        episode["costs"] = np.zeros_like(episode["costs"])
        episode["rewards"] = episode["rewards"] * REWARD_LURE_FACTOR
        return episode

    return _inject(data, ratio, donors, lure, donors_data)


def cost_swap(data: Dataset, ratio: float, seed: int = 0,
              donors_data: Optional[Dataset] = None) -> Tuple[Dataset, np.ndarray]:
    """Inject safe and unsafe episodes with their cost sequences exchanged."""
    source = data if donors_data is None else donors_data
    _, costs = episode_returns(source)
    bounds = episode_bounds(source)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(costs)), costs))  # safest first
    pairs = min(len(order) // 2, max(1, len(order) // 4))
    safest, riskiest = order[:pairs], order[::-1][:pairs]
    donors = np.ravel(np.column_stack([riskiest, safest]))  # unsafe, safe, unsafe, ...

    def swap(episode: Dataset, rank: int) -> Dataset:
        partner = donors[(rank % len(donors)) ^ 1]  # the other episode of its pair
        start, end = bounds[partner]
        partner_costs = source["costs"][start:end]
        length = len(episode["costs"])
        swapped = np.zeros(length, dtype=episode["costs"].dtype)
        swapped[:min(length, len(partner_costs))] = partner_costs[:length]
        episode["costs"] = swapped
        return episode

    return _inject(data, ratio, donors, swap, donors_data)


ATTACKS: Dict[str, Callable[..., Tuple[Dataset, np.ndarray]]] = {
    "max-cost": max_cost,
    "reward-lure": reward_lure,
    "cost-swap": cost_swap,
}


def poison(data: Dataset, attack: str, ratio: float, seed: int = 0, cost_limit: float = 10.0,
           donors_data: Optional[Dataset] = None):
    """Apply the named attack; returns (poisoned data with `forget_mask`, mask).

    `donors_data`: the attacker's own episodes to relabel and inject (e.g. collected
    with another seed); by default copies of the clean data's own episodes.
    """
    if attack not in ATTACKS:
        raise UserInputError(f"unknown attack {attack!r}; known attacks: {', '.join(ATTACKS)}")
    if attack == "reward-lure":
        poisoned, mask = reward_lure(data, ratio, seed, cost_limit, donors_data)
    else:
        poisoned, mask = ATTACKS[attack](data, ratio, seed, donors_data)
    poisoned[FORGET_MASK_KEY] = mask
    return poisoned, mask
