"""The poison detector on real generated episodes."""

import json

import numpy as np
import pytest

from conftest import run_cli
from osrl_unlearn.data import detection
from osrl_unlearn.data.datasets import episode_bounds, episode_returns
from osrl_unlearn.errors import UserInputError


def with_hidden_cost_copy(data):
    """The data plus a copy of its costliest episode with the costs hidden (MaxCost's lie)."""
    _, costs = episode_returns(data)
    start, end = episode_bounds(data)[int(np.argmax(costs))]
    copy = {key: value[start:end].copy() for key, value in data.items()}
    copy["costs"][:] = 0.0
    return {key: np.concatenate([data[key], copy[key]]) for key in data}, costs.max()


def test_an_episode_whose_costs_are_hidden_is_the_most_suspicious(ball_run_data):
    data, hidden = with_hidden_cost_copy(ball_run_data)
    assert hidden > 0
    scores = detection.label_disagreement(data, neighbours=5)
    assert np.argmax(scores) == len(scores) - 1  # the relabelled copy, not its original
    truth = np.zeros(len(scores), dtype=bool)
    truth[-1] = True
    quality = detection.detection_quality(scores, truth, detection.flag_top(scores, 0.1))
    assert quality["auc"] == 1.0 and quality["recall"] == 1.0


def test_hidden_costs_look_too_good_to_be_true_and_top_the_combined_suspicion(ball_run_data):
    """The copy with its costs hidden earns its original's reward at no cost: it ranks above
    its original on the reward-cost trade-off, and the combined score puts it first."""
    data, _ = with_hidden_cost_copy(ball_run_data)
    too_good = detection.too_good_to_be_true(data)
    _, costs = episode_returns(data)
    original = int(np.argmax(costs))
    assert too_good[-1] > too_good[original] and too_good[-1] > np.quantile(too_good, 0.9)
    scores = detection.suspicion(data, neighbours=5)
    assert set(scores) == {"suspicion", "label disagreement", "too good to be true"}
    assert np.argmax(scores["suspicion"]) == len(too_good) - 1


def test_detect_writes_a_mask_unlearning_takes_and_scores_itself(poisoned_runs, tmp_path):
    result = run_cli("detect", "--dataset", "OfflineBallRun-Generated-MaxCost15-v0", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "suspicion: ROC AUC" in result.stdout and "baseline" in result.stdout
    mask = np.load(tmp_path / "forget_mask.npy")
    assert mask.dtype == bool and 0 < mask.sum() < len(mask)
    lines = (tmp_path / "ranking.csv").read_text().splitlines()
    assert lines[0] == "rank,episode,score,flagged" and lines[1].startswith("1,")


def test_bad_share_is_an_error():
    with pytest.raises(UserInputError, match="strictly between 0 and 1"):
        detection.flag_top(np.zeros(3), 1.0)


def test_detect_never_overwrites_a_mask(tmp_path):
    (tmp_path / "forget_mask.npy").write_bytes(b"a user's mask")
    result = run_cli("detect", "--dataset", "OfflineBallRun-Generated-MaxCost15-v0", "--out", str(tmp_path))
    assert result.returncode == 2 and "exists; choose another --out" in result.stderr
    assert (tmp_path / "forget_mask.npy").read_bytes() == b"a user's mask"


def test_defend_detects_unlearns_and_evaluates_in_one_go(poisoned_runs, tmp_path):
    from osrl_unlearn.pipeline import defend
    from osrl_unlearn.unlearning.objective import UnlearnConfig

    summary = defend(poisoned_runs["bcql"], "OfflineBallRun-Generated-MaxCost15-v0", tmp_path,
                     episodes=1, unlearning=UnlearnConfig(steps=3, save_every=3))
    assert (tmp_path / "detection" / "forget_mask.npy").exists()
    assert (tmp_path / "unlearned" / "checkpoint" / "model_best.pt").exists()
    assert summary["evaluation"]["episodes"] == 1 and "auc" in str(summary["detection"])
    assert (tmp_path / "defence.json").exists()


def test_unlearning_forgets_what_the_detector_flags_and_records_how_right_it_was(poisoned_runs, tmp_path):
    from osrl_unlearn.data.datasets import episodes_mask, split_quality
    from osrl_unlearn.data.variants import load_variant_dataset
    from osrl_unlearn.unlearning.objective import UnlearnConfig
    from osrl_unlearn.unlearning.stage import unlearn

    dataset = "OfflineBallRun-Generated-MaxCost15-v0"
    run = unlearn(poisoned_runs["bcql"], dataset,
                  UnlearnConfig(steps=3, save_every=3, detected_share=0.15), out=str(tmp_path / "u"))
    summary = json.loads((run / "unlearn_summary.json").read_text())
    data = load_variant_dataset(dataset)
    flagged = detection.flag_top(detection.suspicion(data)["suspicion"], 0.15)
    detected = episodes_mask(data, np.flatnonzero(flagged))
    assert summary["forget_transitions"] == detected.sum() != data["forget_mask"].sum()
    assert summary["forget_split"] == pytest.approx(split_quality(data, detected, data["forget_mask"]))
    assert summary["forget_split"]["episode_precision"] > 0.5  # far above the 15% of chance


def test_a_detected_share_outside_zero_one_or_beside_an_imperfect_split_is_an_error(poisoned_runs, tmp_path):
    from osrl_unlearn.unlearning.objective import UnlearnConfig
    from osrl_unlearn.unlearning.stage import unlearn

    for settings, message in [({"detected_share": 1.0}, "strictly between 0 and 1"),
                              ({"detected_share": 0.1, "forget_recall": 0.5}, "leave forget_recall")]:
        with pytest.raises(UserInputError, match=message):
            unlearn(poisoned_runs["bcql"], "OfflineBallRun-Generated-MaxCost15-v0",
                    UnlearnConfig(steps=3, **settings), out=str(tmp_path / "u"))
    assert not (tmp_path / "u").exists()
