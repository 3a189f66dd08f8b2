"""Figures: the reward-cost picture of a dataset, as DSRL users look at it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from osrl_unlearn.data.datasets import FORGET_MASK_KEY, Dataset, episode_bounds, episode_returns


def plot_dataset(data: Dataset, cost_limit: float, title: str, out: Path) -> Path:
    """Scatter of episode cost against episode reward with the cost limit drawn.

    Poisoned episodes (where the dataset has a forget mask) are drawn in red.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rewards, costs = episode_returns(data)
    poisoned: Optional[np.ndarray] = None
    if FORGET_MASK_KEY in data:
        poisoned = np.array([data[FORGET_MASK_KEY][start] for start, _ in episode_bounds(data)])
    figure, axis = plt.subplots(figsize=(5.5, 4.2))
    clean = ~poisoned if poisoned is not None else np.ones(len(costs), bool)
    axis.scatter(costs[clean], rewards[clean], s=14, c="tab:blue", label="behaviour episodes")
    if poisoned is not None:
        axis.scatter(costs[poisoned], rewards[poisoned], s=14, c="tab:red", marker="x",
                     label="poisoned episodes (as labelled)")
    axis.axvline(cost_limit, color="k", linestyle="--", label=f"cost limit {cost_limit:g}")
    axis.set_xlabel("episode cost")
    axis.set_ylabel("episode reward")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
