"""Which episodes look poisoned? Scores from the data alone, and how good they are.

An attack relabels behaviour: MaxCost hides the costs of unsafe behaviour, RewardLure
also inflates its rewards, CostSwap exchanges costs between episodes. Two scores look
for the lie:

- label disagreement: elsewhere in the data the same states and actions carry their
  true labels, so each transition's cost and reward are compared with those of its
  nearest neighbours in (state, action) space from *other* episodes, each difference in
  units of that label's spread, and an episode scores the mean over its transitions;
- too good to be true: a poison that makes an agent unsafe has to show costly,
  rewarding behaviour as cheap, so its episodes lie above the data's reward-cost
  trade-off: their reward return ranks higher than their cost return.

The detector's suspicion combines the two by Fisher's method on their empirical
p-values. The baseline it must beat scores an episode by how far its reward return
lies from the others'.
"""

import json
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from osrl_unlearn.data.datasets import (
    FORGET_MASK_KEY, Dataset, episode_bounds, episode_returns, episodes_mask, marked_episodes
)
from osrl_unlearn.errors import UserInputError


def episode_ids(data: Dataset) -> np.ndarray:
    """The episode number of every transition."""
    ids = np.zeros(len(data["observations"]), dtype=int)
    for number, (start, end) in enumerate(episode_bounds(data)):
        ids[start:end] = number
    return ids


def label_disagreement(data: Dataset, neighbours: int = 10) -> np.ndarray:
    """Per episode: how far its cost and reward labels are from those of similar (s, a)
    in other episodes (mean over its transitions of |cost gap| / cost spread + |reward
    gap| / reward spread)."""
    from scipy.spatial import cKDTree

    if neighbours < 1:
        raise UserInputError(f"neighbours must be at least 1, got {neighbours}")
    points = np.concatenate([data["observations"], data["actions"]], axis=1).astype(np.float64)
    points = (points - points.mean(0)) / (points.std(0) + 1e-8)
    ids = episode_ids(data)
    # Ask for more than needed: the nearest points are mostly the same episode's own.
    _, found = cKDTree(points).query(points, k=min(len(points), 8 * neighbours + 1))
    others = np.where(ids[found] != ids[:, None], found, -1)
    gaps = np.zeros(len(points))
    for label in ("costs", "rewards"):
        values = np.asarray(data[label], dtype=np.float64)
        picked = np.zeros(len(points))
        counts = np.zeros(len(points))
        for column in range(others.shape[1]):
            index = others[:, column]
            use = (index >= 0) & (counts < neighbours)
            picked[use] += values[index[use]]
            counts[use] += 1
        expected = np.divide(picked, counts, out=values.copy(), where=counts > 0)
        gaps += np.abs(values - expected) / (values.std() + 1e-8)
    return np.bincount(ids, weights=gaps) / np.bincount(ids)


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Each score's rank among all, in (0, 1) (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(scores) / (len(scores) + 1)


def too_good_to_be_true(data: Dataset) -> np.ndarray:
    """Per episode: its reward return's percentile minus its cost return's."""
    rewards, costs = episode_returns(data)
    return percentiles(rewards) - percentiles(costs)


def suspicion(data: Dataset, neighbours: int = 10) -> Dict[str, np.ndarray]:
    """The detector's score per episode (Fisher's combination of the label-disagreement
    and too-good-to-be-true p-values: -log p1 - log p2), with its two parts."""
    parts = {"label disagreement": label_disagreement(data, neighbours),
             "too good to be true": too_good_to_be_true(data)}
    combined = -sum(np.log(1.0 - percentiles(score)) for score in parts.values())
    return {"suspicion": combined, **parts}


def return_outliers(data: Dataset) -> np.ndarray:
    """The baseline: |z-score| of each episode's reward return."""
    rewards, _ = episode_returns(data)
    return np.abs(rewards - rewards.mean()) / (rewards.std() + 1e-8)


def detection_quality(scores: np.ndarray, truth: np.ndarray, flagged: np.ndarray
                      ) -> Dict[str, Optional[float]]:
    """ROC AUC of the scores, and precision and recall of the flagged episodes."""
    positives, negatives = scores[truth], scores[~truth]
    auc = None
    if len(positives) and len(negatives):  # P(a poisoned episode outscores a clean one)
        above = (positives[:, None] > negatives[None, :]).mean()
        ties = (positives[:, None] == negatives[None, :]).mean()
        auc = float(above + 0.5 * ties)
    hits = int((flagged & truth).sum())
    return {"auc": auc,
            "precision": hits / flagged.sum() if flagged.any() else None,
            "recall": hits / truth.sum() if truth.any() else None,
            "flagged": int(flagged.sum()), "poisoned": int(truth.sum())}


def flag_top(scores: np.ndarray, share: float) -> np.ndarray:
    """Flag the `share` most suspicious episodes."""
    if not 0.0 < share < 1.0:
        raise UserInputError(f"--share must be strictly between 0 and 1, got {share}")
    count = max(1, round(share * len(scores)))
    flagged = np.zeros(len(scores), dtype=bool)
    flagged[np.argsort(-scores, kind="stable")[:count]] = True
    return flagged


def detect(data: Dataset, out: Path, share: float = 0.15, neighbours: int = 10,
           label: str = "") -> Dict[str, object]:
    """Score the episodes, flag the `share` most suspicious, and write `forget_mask.npy`
    (for `--forget`), `ranking.csv` and `detection.json` into `out`. A poisoned file
    knows its truth: then the report also scores the scores, the baseline's beside."""
    out = Path(out)
    if (out / "forget_mask.npy").exists():
        raise UserInputError(f"{out / 'forget_mask.npy'} exists; choose another --out")
    scores = {**suspicion(data, neighbours), "return outliers (baseline)": return_outliers(data)}
    flagged = flag_top(scores["suspicion"], share)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "forget_mask.npy", episodes_mask(data, np.flatnonzero(flagged)))
    order = np.argsort(-scores["suspicion"], kind="stable")
    (out / "ranking.csv").write_text("rank,episode,score,flagged\n" + "".join(
        f"{rank},{episode},{scores['suspicion'][episode]:.6g},{int(flagged[episode])}\n"
        for rank, episode in enumerate(order, start=1)))
    report: Dict[str, object] = {"dataset": label, "episodes": len(order), "share": share,
                                 "neighbours": neighbours}
    if FORGET_MASK_KEY in data:
        truth = marked_episodes(data, data[FORGET_MASK_KEY])
        report["quality"] = {name: detection_quality(values, truth, flag_top(values, share))
                             for name, values in scores.items()}
    (out / "detection.json").write_text(json.dumps(report, indent=2))
    return report
