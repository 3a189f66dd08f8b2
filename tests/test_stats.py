"""The field's statistics (rliable) on results rows whose answers are known."""

import numpy as np
import pytest
from scipy.stats import trim_mean

from osrl_unlearn.experiments import stats


def rows_of(values, cells=("BallRun", "CarRun", "BallCircle"), seeds=(0, 1, 2)):
    """Bench-like rows: values[method](cell index, seed) -> (reward, cost)."""
    return [{"task": task, "algorithm": "bcql", "attack": "max-cost", "ratio": 0.15,
             "seed": seed, "method": method, "normalized_reward": reward,
             "normalized_cost": cost}
            for method, value in values.items() for index, task in enumerate(cells)
            for seed in seeds for reward, cost in [value(index, seed)]]


def test_iqm_and_its_interval_over_cells_and_seeds():
    rng = np.random.default_rng(0)
    table = rng.uniform(0, 1, size=(3, 3))
    rows = rows_of({"safe-rule": lambda cell, seed: (table[seed, cell], 0.0)})
    matrices, cells, seeds = stats.score_matrices(rows, ["safe-rule"], "normalized_reward")
    assert (cells, seeds) == (3, 3)
    points, intervals = stats.iqm_intervals(matrices)
    assert points["safe-rule"] == pytest.approx(trim_mean(table.ravel(), 0.25))
    low, high = intervals["safe-rule"]
    assert low <= points["safe-rule"] <= high and low < high


def test_a_method_that_always_wins_has_improvement_probability_one():
    rows = rows_of({"safe-rule": lambda cell, seed: (0.5 + 0.01 * seed, 0.0),
                    "finetune": lambda cell, seed: (0.3, 2.0 + seed)})
    reward, _, _ = stats.score_matrices(rows, ["safe-rule", "finetune"], "normalized_reward")
    cost, _, _ = stats.score_matrices(rows, ["safe-rule", "finetune"], "normalized_cost")
    value, interval = stats.improvement_probabilities(reward, "safe-rule")["finetune"]
    assert value == 1.0 and list(interval) == [1.0, 1.0]
    value, _ = stats.improvement_probabilities(cost, "safe-rule", lower_is_better=True)["finetune"]
    assert value == 1.0  # less cost is better


def test_only_cells_and_seeds_every_method_has_are_used():
    rows = rows_of({"safe-rule": lambda cell, seed: (0.5, 0.0),
                    "finetune": lambda cell, seed: (0.3, 0.0)})
    rows = [row for row in rows if not (row["method"] == "finetune" and row["seed"] == 2)]
    rows += rows_of({"safe-rule": lambda cell, seed: (0.5, 0.0)}, cells=("AntRun", ))
    matrices, cells, seeds = stats.score_matrices(rows, ["safe-rule", "finetune"],
                                                  "normalized_reward")
    assert (cells, seeds) == (3, 2) and matrices["finetune"].shape == (2, 3)


def test_one_cell_with_a_single_seed_does_not_cut_the_others_to_it():
    values = {"safe-rule": lambda cell, seed: (0.5, 0.0), "finetune": lambda cell, seed: (0.3, 0.0)}
    rows = rows_of(values) + rows_of(values, cells=("AntRun", ), seeds=(0, ))
    matrices, cells, seeds = stats.score_matrices(rows, ["safe-rule", "finetune"],
                                                  "normalized_reward")
    assert (cells, seeds) == (3, 3) and matrices["safe-rule"].shape == (3, 3)


def test_bootstrap_interval_of_a_share_over_agents():
    share, low, high = stats.bootstrap_interval([1.0, 1.0, 1.0, 0.0], np.mean)
    assert share == 0.75 and low < 0.75 < high <= 1.0
    assert stats.bootstrap_interval([], np.mean) is None


def test_probability_of_improvement_is_rliables_with_ties_and_unequal_runs():
    from rliable import metrics

    rng = np.random.default_rng(1)
    scores_x = rng.integers(0, 4, size=(3, 40)).astype(float)  # few values: many ties
    scores_y = rng.integers(0, 4, size=(5, 40)).astype(float)
    scores_y[:3, 7] = scores_x[:, 7]
    expected = metrics.probability_of_improvement(scores_x, scores_y)
    assert stats.probability_of_improvement(scores_x, scores_y) == pytest.approx(expected)
    assert stats.probability_of_improvement(scores_x, scores_x) == pytest.approx(0.5)


def test_intervals_do_not_depend_on_what_drew_from_numpys_generator_before():
    """rliable's stratified bootstrap draws from numpy's global generator: a report of the
    same rows must give the same intervals whatever ran before it."""
    values = [0.19, 0.53, 0.24, 0.9, 1.0, 1.1, 0.95, 0.85, 0.92, 0.99, 1.02, 0.88, 0.91]
    estimates = []
    for earlier_seed in (1, 2, 3):
        np.random.seed(earlier_seed)
        estimates.append(stats.bootstrap_interval(values, np.median))
    assert estimates[0] == estimates[1] == estimates[2]
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    stats.bootstrap_interval(values, np.median)
    assert (np.random.get_state()[1] == before).all()  # the caller's generator is left as it was
