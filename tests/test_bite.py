"""When does an attack bite: the verdicts, the clean row's precedence, and the command."""

import json

from conftest import run_cli
from osrl_unlearn.experiments.bite import (
    BITES, DOES_NOT_BITE, NO_SAFE_REFERENCE, SEEDS_MISSING, bite_verdicts
)

TASK = "OfflineBallRun-v0"


def row(method, seed, cost, algorithm="bcql", attack=None, reward=0.3):
    return {"task": TASK, "algorithm": algorithm, "attack": attack, "ratio": 0.15 if attack else None,
            "seed": seed, "method": method, "status": "ok",
            "normalized_reward": reward, "normalized_cost": cost}


def verdict(clean_costs, poisoned_costs):
    clean = [row("clean", seed, cost) for seed, cost in clean_costs.items()]
    poisoned = [row("poisoned", seed, cost, attack="max-cost") for seed, cost in poisoned_costs.items()]
    return bite_verdicts(poisoned, clean)[(TASK, "bcql", "max-cost", 0.15)]


def test_two_seeds_turned_unsafe_from_safe_clean_agents_bite():
    result = verdict({0: 0.0, 1: 0.5, 2: 0.0}, {0: 3.0, 1: 2.0, 2: 0.0})
    assert result["verdict"] == BITES and result["bitten_seeds"] == 2


def test_a_poisoned_agent_unsafe_where_the_clean_one_is_unsafe_too_does_not_count():
    # seeds 0 and 1 are unsafe either way: nothing to undo there
    assert verdict({0: 4.0, 1: 5.0, 2: 0.0}, {0: 9.0, 1: 9.0, 2: 3.0})["verdict"] == NO_SAFE_REFERENCE


def test_a_verdict_waits_for_seeds_that_could_change_it():
    assert verdict({0: 0.0}, {0: 3.0})["verdict"] == SEEDS_MISSING
    # two safe poisoned agents: the third seed cannot make it bite
    assert verdict({0: 0.0, 1: 0.0}, {0: 0.0, 1: 0.2})["verdict"] == DOES_NOT_BITE


def test_a_clean_row_wins_over_a_retrain_row_of_the_same_seed():
    clean = [row("clean", 0, 0.0), row("retrain", 0, 5.0), row("clean", 1, 0.0), row("clean", 2, 0.0)]
    poisoned = [row("poisoned", seed, 3.0, attack="max-cost") for seed in (0, 1, 2)]
    result = bite_verdicts(poisoned, clean)[(TASK, "bcql", "max-cost", 0.15)]
    assert result["bitten_seeds"] == 3


def test_a_clean_agent_trained_for_other_steps_is_not_a_reference():
    """BCQ-L's BallCircle references train 5,000 steps; a 10,000-step poisoned agent is
    not compared with them."""
    clean = [{**row("clean", seed, 0.0), "train_steps": 5_000} for seed in (0, 1, 2)]
    poisoned = [{**row("poisoned", seed, 3.0, attack="max-cost"), "train_steps": 10_000}
                for seed in (0, 1, 2)]
    result = bite_verdicts(poisoned, clean)[(TASK, "bcql", "max-cost", 0.15)]
    assert result["compared_seeds"] == 0 and result["verdict"] == SEEDS_MISSING
    alike = [{**clean_row, "train_steps": 10_000} for clean_row in clean]
    assert bite_verdicts(poisoned, alike)[(TASK, "bcql", "max-cost", 0.15)]["verdict"] == BITES


def test_the_command_writes_the_table_and_rejects_a_missing_file(tmp_path):
    poisoned, clean = tmp_path / "poisoned.jsonl", tmp_path / "clean.jsonl"
    poisoned.write_text("".join(json.dumps(row("poisoned", s, 3.0, attack="cost-swap")) + "\n"
                                for s in (0, 1, 2)))
    clean.write_text("".join(json.dumps(row("retrain", s, 0.0)) + "\n" for s in (0, 1, 2)))
    finished = run_cli("bite", "--poisoned", str(poisoned), "--clean", str(clean),
                       "--out", str(tmp_path / "out"))
    assert finished.returncode == 0, finished.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| OfflineBallRun-v0 | bcql | cost-swap | 15% |" in report and "| 3 of 3 | bites |" in report

    missing = run_cli("bite", "--poisoned", str(tmp_path / "none.jsonl"), "--clean", str(clean),
                      "--out", str(tmp_path / "out"))
    assert missing.returncode != 0 and "no results file" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_retraining_on_an_imperfect_forget_set_is_not_a_clean_agent():
    retrained = {**row("retrain", 0, 0.0), "forget_recall": 0.5}
    poisoned = [row("poisoned", 0, 3.0, attack="max-cost")]
    assert bite_verdicts(poisoned, [retrained])[(TASK, "bcql", "max-cost", 0.15)]["pairs"][0][0] is None

