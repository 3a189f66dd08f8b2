"""How new is the poisoned behaviour? Where D_f's states and actions lie against D_k's.

For each generated poisoned dataset given, on (state, action) standardised by D_k:

- support: the distance from each D_f transition to its nearest D_k transition, over
  the distance from a D_k transition to its nearest D_k transition of another episode
  (median over a sample; about 1 means D_f lies inside D_k's support, far above 1 that
  it is behaviour D_k never shows);
- states: the same ratio on states alone (does the attacker go where D_k never goes?);
- actions where the states are alike: for each D_f state, the distance from its action
  to the actions D_k takes at the 10 nearest D_k states, over the same for a D_k state
  (do attacker and clean agents act differently in the same places?);
- far share: the share of D_f transitions farther from D_k than 1.5 times its median
  spacing (what a filter forgetting only behaviour new to D_k would keep).

A forgetting signal that reaches the policy generalises to its neighbours: where D_f
sits inside D_k's support, pushing the policy off D_f moves it off clean behaviour too.
Used for results/ballcircle-bcql/poison-support.md:

    python examples/poison_support.py DATASET_ID [DATASET_ID ...]
"""

import sys
from typing import Dict, List, Optional

import numpy as np
from scipy.spatial import cKDTree

from osrl_unlearn.data.datasets import FORGET_MASK_KEY, generated_path, read_hdf5
from osrl_unlearn.data.detection import episode_ids

SAMPLE = 4_000
NEIGHBOURS = 10
FAR = 1.5


def nearest_other_episode(tree: cKDTree, points: np.ndarray, episodes: np.ndarray,
                          own: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest tree point of another episode."""
    distances, found = tree.query(points, k=64)
    other = episodes[found] != own[:, None]
    return np.where(other, distances, np.inf).min(1)


def support_ratios(dataset_id: str, seed: int = 0) -> Dict[str, float]:
    data, _ = read_hdf5(generated_path(dataset_id))
    forget = data[FORGET_MASK_KEY].astype(bool)
    episodes = episode_ids(data)
    states, actions = data["observations"][~forget], data["actions"][~forget]

    def scale(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
        return (values - reference.mean(0)) / (reference.std(0) + 1e-8)

    keep_sa = np.concatenate([scale(states, states), scale(actions, actions)], axis=1)
    forget_sa = np.concatenate([scale(data["observations"][forget], states),
                                scale(data["actions"][forget], actions)], axis=1)
    keep_episodes = episodes[~forget]
    state_dims = states.shape[1]

    rng = np.random.default_rng(seed)
    keep_rows = rng.choice(len(keep_sa), min(SAMPLE, len(keep_sa)), replace=False)
    forget_rows = rng.choice(len(forget_sa), min(SAMPLE, len(forget_sa)), replace=False)
    ratios = {}
    for name, columns in (("support", slice(None)), ("states", slice(0, state_dims))):
        tree = cKDTree(keep_sa[:, columns])
        clean = nearest_other_episode(tree, keep_sa[keep_rows, columns], keep_episodes,
                                      keep_episodes[keep_rows])
        poisoned = tree.query(forget_sa[forget_rows, columns])[0]
        ratios[name] = float(np.median(poisoned) / np.median(clean))
        if name == "support":
            ratios["far share"] = float(np.mean(poisoned > FAR * np.median(clean)))

    state_tree = cKDTree(keep_sa[:, :state_dims])

    def action_gap(rows: np.ndarray, source: np.ndarray,
                   own_episodes: Optional[np.ndarray]) -> np.ndarray:
        _, found = state_tree.query(source[rows, :state_dims], k=NEIGHBOURS + 96)
        gaps = []
        for row, neighbours in zip(rows, found):
            if own_episodes is not None:
                neighbours = neighbours[keep_episodes[neighbours] != own_episodes[row]]
            neighbours = neighbours[:NEIGHBOURS]
            gaps.append(np.linalg.norm(keep_sa[neighbours, state_dims:]
                                       - source[row, state_dims:], axis=1).mean())
        return np.asarray(gaps)

    clean_gap = action_gap(keep_rows, keep_sa, keep_episodes)
    poisoned_gap = action_gap(forget_rows, forget_sa, None)
    alike = float(np.nanmedian(poisoned_gap) / np.nanmedian(clean_gap))
    ratios["actions where states are alike"] = alike
    return ratios


def main(dataset_ids: List[str]) -> None:
    names = ["support", "states", "actions where states are alike", "far share"]
    print("| dataset | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for dataset_id in dataset_ids:
        ratios = support_ratios(dataset_id)
        print(f"| {dataset_id} | " + " | ".join(f"{ratios[name]:.2f}" for name in names) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
