"""The field's statistics of a results file, with rliable (Agarwal et al., 2021).

A "task" in rliable's sense is a cell of the grid (task, algorithm, attack, ratio);
its runs are the seeds. Per method: the interquartile mean (IQM) of normalized reward
and of normalized cost over cells x seeds, with stratified-bootstrap 95% confidence
intervals (seeds resampled within each cell), and the probability that Safe-RULE
improves on each other method (more reward; less cost). Where unlearning matters
(retraining safe, the poisoned agent not), the share of agents a method makes safe and
its median reward against retraining's, with bootstrap intervals over those agents.
"""

import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

CELL = ("task", "algorithm", "attack", "ratio")
REPS = 2_000  # bootstrap resamples: enough for stable 95% bounds on grids of this size
SEED = 0  # the bootstrap's own random state, so a report is the same when made again


def score_matrices(rows: List[dict], methods: Sequence[str], metric: str
                   ) -> Tuple[Dict[str, np.ndarray], int, int]:
    """Per method a [seeds, cells] matrix of `metric` over the cells and seeds where every
    method has a result (rliable needs the same runs in every cell): the largest such
    block, so that one cell with a single seed does not cut every other cell to that seed.

    Returns the matrices, the number of cells and the number of seeds used.
    """
    values: Dict[tuple, Dict[str, float]] = {}
    for row in rows:
        if row["method"] in methods:
            key = tuple(row[name] for name in CELL) + (row["seed"],)
            values.setdefault(key, {})[row["method"]] = row[metric]
    complete = {key for key, by_method in values.items() if set(methods) <= set(by_method)}
    seeds_of: Dict[tuple, frozenset] = {}
    for key in complete:
        seeds_of[key[:-1]] = seeds_of.get(key[:-1], frozenset()) | {key[-1]}
    if not seeds_of:
        return {}, 0, 0
    # the seed set (one cell's) whose cells x seeds block is largest; more seeds on a tie
    chosen = max(set(seeds_of.values()), key=lambda candidate: (
        len(candidate) * sum(candidate <= seeds for seeds in seeds_of.values()),
        len(candidate), sorted(candidate)))
    cells = sorted((cell for cell, seeds in seeds_of.items() if chosen <= seeds),
                   key=lambda cell: tuple(map(str, cell)))
    seeds = sorted(chosen)
    matrices = {method: np.array([[values[cell + (seed,)][method] for cell in cells]
                                  for seed in seeds]) for method in methods}
    return matrices, len(cells), len(seeds)


def _estimates(score_dict, statistic):
    """rliable's stratified bootstrap, reproducible, without arch's deprecation notice
    about the RandomState rliable hands it. rliable's one-array bootstrap draws its
    resamples from numpy's global generator, not that RandomState, so that generator is
    seeded here (and put back after): otherwise a report's intervals changed with whatever
    had drawn from it before, from one run of the same rows to the next."""
    from rliable import library

    global_state = np.random.get_state()
    np.random.seed(SEED)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return library.get_interval_estimates(score_dict, statistic, reps=REPS,
                                                  random_state=np.random.RandomState(SEED))
    finally:
        np.random.set_state(global_state)


def iqm_intervals(matrices: Dict[str, np.ndarray]) -> Tuple[Dict[str, float], Dict[str, np.ndarray]]:
    """IQM per method and its stratified-bootstrap 95% interval ([low, high])."""
    from rliable import metrics

    points, intervals = _estimates(matrices, lambda scores: np.array([metrics.aggregate_iqm(scores)]))
    return ({method: float(value[0]) for method, value in points.items()},
            {method: interval[:, 0] for method, interval in intervals.items()})


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's probability of improvement, P(X > Y) + P(X = Y) / 2 over a cell's pairs of
    runs, averaged over cells, in one array operation: rliable calls scipy's Mann-Whitney
    test once per cell and resample, minutes on a grid of a hundred cells."""
    pairs_x, pairs_y = scores_x[:, None, :], scores_y[None, :, :]
    per_cell = (pairs_x > pairs_y).mean(axis=(0, 1)) + 0.5 * (pairs_x == pairs_y).mean(axis=(0, 1))
    return float(per_cell.mean())


def improvement_probabilities(matrices: Dict[str, np.ndarray], method: str,
                              lower_is_better: bool = False
                              ) -> Dict[str, Tuple[float, np.ndarray]]:
    """P(`method` beats each other method on a cell's seeds), averaged over cells, with its
    95% interval. For cost, less is better: the scores are negated."""
    sign = -1.0 if lower_is_better else 1.0
    pairs = {other: (sign * matrices[method], sign * matrices[other])
             for other in matrices if other != method}
    points, intervals = _estimates(pairs, probability_of_improvement)
    return {other: (float(np.ravel(points[other])[0]), np.ravel(intervals[other]))
            for other in pairs}


def bootstrap_interval(values: Sequence[float], statistic) -> Optional[Tuple[float, float, float]]:
    """A statistic of per-agent values and its bootstrap 95% interval over the agents."""
    if not values:
        return None
    scores = np.asarray(values, dtype=float)[:, None]  # agents as runs of one task
    points, intervals = _estimates({"x": scores}, lambda sample: np.array([statistic(sample)]))
    return float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0])


def plot_iqm(reward: Tuple[dict, dict], cost: Tuple[dict, dict], labels: Dict[str, str],
             out, note: str):
    """IQM of normalized reward and cost per method with their intervals, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(reward[0])
    figure, axes = plt.subplots(1, 2, figsize=(9, 0.5 * len(methods) + 1.6), sharey=True)
    for axis, (points, intervals), title in ((axes[0], reward, "normalized reward (IQM)"),
                                             (axes[1], cost, "normalized cost (IQM)")):
        for row, method in enumerate(methods):
            low, high = intervals[method]
            axis.plot([low, high], [row, row], linewidth=6, alpha=0.5)
            axis.plot([points[method]], [row], "k|", markersize=14)
        axis.set_title(title, fontsize=10)
        axis.grid(axis="x", alpha=0.3)
    axes[1].axvline(1.0, color="k", linestyle="--", linewidth=1, label="cost limit")
    axes[1].legend(fontsize=8, loc="lower right")
    axes[0].set_yticks(range(len(methods)), [labels.get(method, method) for method in methods])
    axes[0].invert_yaxis()
    figure.suptitle(f"IQM with stratified-bootstrap 95% intervals ({note})", fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
