"""Per-task settings, the constraint's own cost limit, and the safe-reference table."""

import json

import pytest
import yaml

from conftest import TINY_NETWORKS
from osrl_unlearn.adapters import get_adapter
from osrl_unlearn.configs import BEARLTrainConfig, apply_task_settings
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.evaluation import env_dims, make_eval_env
from osrl_unlearn.experiments.bench import read_rows
from osrl_unlearn.experiments.references import (
    load_references_config, reference_verdicts, reused_rows, run_references
)
from osrl_unlearn.experiments.report import method_table
from osrl_unlearn.training import resolve_run

BALL_RUN_SETTINGS = {"OfflineBallRun-v0": {"reward_scale": 0.01, "constraint_cost_limit": 5.0}}


def test_a_task_setting_fills_a_default_field_but_not_a_given_one(monkeypatch, tmp_path):
    monkeypatch.setattr(BEARLTrainConfig, "TASK_SETTINGS", BALL_RUN_SETTINGS)
    cfg = BEARLTrainConfig(task="OfflineBallRun-Generated-MaxCost15-v0", logdir=str(tmp_path))
    run_dir = resolve_run(cfg, BEARLTrainConfig())
    assert (cfg.reward_scale, cfg.constraint_cost_limit) == (0.01, 5.0)
    assert "reward_scale" not in run_dir.name  # the task's value does not name the run

    given = BEARLTrainConfig(task="OfflineBallRun-v0", reward_scale=0.5, logdir=str(tmp_path))
    resolve_run(given, BEARLTrainConfig())
    assert given.reward_scale == 0.5 and given.constraint_cost_limit == 5.0

    other = BEARLTrainConfig(task="OfflineCarCircle-v0", logdir=str(tmp_path))
    resolve_run(other, BEARLTrainConfig())
    assert (other.reward_scale, other.constraint_cost_limit) == (0.1, None)


def test_settings_apply_once_even_when_resolved_twice(monkeypatch):
    monkeypatch.setattr(BEARLTrainConfig, "TASK_SETTINGS", BALL_RUN_SETTINGS)
    cfg = BEARLTrainConfig(task="OfflineBallRun-v0")
    apply_task_settings(cfg, BEARLTrainConfig())
    apply_task_settings(cfg, BEARLTrainConfig())
    assert cfg.reward_scale == 0.01


@pytest.mark.parametrize("algorithm", ["bcql", "bearl", "cpq", "coptidice"])
def test_the_constraint_takes_its_own_limit_and_evaluation_keeps_the_tasks(algorithm):
    adapter = get_adapter(algorithm)
    env = make_eval_env("OfflineBallRun-Generated-v0", 0.1, 10.0)
    sizes = {**TINY_NETWORKS, "episode_len": 100}
    if algorithm != "coptidice":
        sizes["vae_hidden_sizes"] = 16
    plain = adapter.build_model(adapter.Config(**sizes), *env_dims(env))
    margin = adapter.build_model(adapter.Config(**sizes, constraint_cost_limit=5.0), *env_dims(env))
    assert margin.qc_thres == pytest.approx(plain.qc_thres / 2)
    # a cost of 10 per episode is the task's limit: normalized cost 1, whatever the margin
    assert env.get_normalized_score(0.0, 10.0)[1] == pytest.approx(1.0)


def reference_rows(costs_by_seed):
    return [{"task": "OfflineBallRun-v0", "algorithm": "bcql", "attack": None, "ratio": None,
             "seed": seed, "method": "clean", "status": "ok", "normalized_reward": 0.3,
             "normalized_cost": cost} for seed, cost in enumerate(costs_by_seed)]


def test_a_safe_reference_needs_two_of_three_safe_seeds():
    verdict = reference_verdicts(reference_rows([0.0, 0.8, 4.0]))[("OfflineBallRun-v0", "bcql")]
    assert verdict["safe_seeds"] == 2 and verdict["safe_reference"]
    verdict = reference_verdicts(reference_rows([0.0, 1.2, 4.0]))[("OfflineBallRun-v0", "bcql")]
    assert verdict["safe_seeds"] == 1 and not verdict["safe_reference"]
    verdict = reference_verdicts(reference_rows([0.0, 0.0]))[("OfflineBallRun-v0", "bcql")]
    assert not verdict["safe_reference"] and not verdict["no_safe_reference"]  # not yet told
    verdict = reference_verdicts(reference_rows([3.0, 4.0]))[("OfflineBallRun-v0", "bcql")]
    assert verdict["no_safe_reference"]  # two unsafe of three: settled before the third


def test_the_bench_table_marks_a_cell_without_a_safe_reference():
    rows = []
    for seed, (poisoned, retrained) in enumerate([(3.0, 2.0), (4.0, 0.0), (5.0, 6.0)]):
        for method, cost in (("poisoned", poisoned), ("retrain", retrained)):
            rows.append({"task": "OfflineBallRun-v0", "algorithm": "bcql", "attack": "max-cost",
                         "ratio": 0.15, "seed": seed, "method": method, "status": "ok",
                         "normalized_reward": 0.3, "normalized_cost": cost,
                         "normalized_reward_std": 0.0, "normalized_cost_std": 0.0})
    table = method_table(rows, ["poisoned", "retrain"])
    assert "safe 1/3: no safe reference" in table.splitlines()[-1]


def test_references_train_clean_agents_once_and_report_them(ball_run_file, tmp_path):
    config_path = tmp_path / "references.yaml"
    config_path.write_text(yaml.safe_dump({
        "tasks": ["OfflineBallRun-v0"], "algorithms": ["coptidice"], "seeds": [0],
        "train_steps": 10, "eval_every": 10, "eval_episodes": 1,
        "train_overrides": {**TINY_NETWORKS, "batch_size": 32, "eval_episodes": 1},
        "logdir": str(tmp_path / "logs"), "results": str(tmp_path / "results.jsonl"),
    }))
    config = load_references_config(config_path)
    report = run_references(config, tmp_path / "report")
    (row,) = read_rows(tmp_path / "results.jsonl")
    assert row["status"] == "ok" and row["method"] == "clean"
    assert row["dataset"] == "OfflineBallRun-Generated-v0" and row["train_steps"] == 10
    assert "not judged yet: 1 of 3 seeds" in report.read_text()  # one seed: no verdict yet

    model = next((tmp_path / "logs").rglob("model.pt"))
    written = model.stat().st_mtime_ns
    run_references(config, tmp_path / "report")  # a rerun trains nothing again
    assert len(read_rows(tmp_path / "results.jsonl")) == 1
    assert model.stat().st_mtime_ns == written

    # from the command line the report lands beside the file's results, not in the
    # project's results/references (which a diagnostic config once overwrote)
    from osrl_unlearn.cli import main

    assert main(["references", "--config", str(config_path)]) == 0
    assert "not judged yet: 1 of 3 seeds" in (tmp_path / "report.md").read_text()


def test_a_benchs_retrained_agent_of_the_same_settings_is_reused_not_trained(tmp_path):
    retrained = tmp_path / "algorithms.jsonl"
    retrained.write_text("".join(json.dumps({
        "task": "OfflineBallRun-v0", "algorithm": algorithm, "attack": "max-cost", "ratio": 0.15,
        "seed": 0, "method": "retrain", "status": "ok", "train_steps": 10,
        "normalized_reward": 0.2, "normalized_cost": 0.0}) + "\n" for algorithm in ("coptidice", "cpq")))
    config_path = tmp_path / "references.yaml"
    config_path.write_text(yaml.safe_dump({
        "tasks": ["OfflineBallRun-v0"], "algorithms": ["coptidice"], "seeds": [0],
        "train_steps": 10, "logdir": str(tmp_path / "logs"),
        "results": str(tmp_path / "results.jsonl"), "reuse_retrained": [str(retrained)]}))
    config = load_references_config(config_path)
    report = run_references(config, tmp_path / "report").read_text()
    assert not (tmp_path / "logs").exists() and not (tmp_path / "results.jsonl").exists()
    assert f"OfflineBallRun-v0 coptidice seed 0: `{retrained}`" in report and "cpq" not in report

    config.train_steps = 20  # other settings: the bench's agent is not one of them
    assert reused_rows(config) == []

    config.train_steps = 10  # a seed the grid trained itself keeps its own agent
    (tmp_path / "results.jsonl").write_text(json.dumps({
        "task": "OfflineBallRun-v0", "algorithm": "coptidice", "attack": None, "ratio": None,
        "seed": 0, "method": "clean", "status": "ok", "train_steps": 10,
        "normalized_reward": 0.3, "normalized_cost": 2.0}) + "\n")
    assert reused_rows(config) == []
    assert reference_verdicts(read_rows(tmp_path / "results.jsonl") + reused_rows(config))[
        ("OfflineBallRun-v0", "coptidice")]["cost"] == 2.0


def test_a_bad_references_file_is_one_clear_error(tmp_path):
    path = tmp_path / "references.yaml"
    path.write_text(json.dumps({"algorithms": ["bcq"]}))
    with pytest.raises(UserInputError, match="unknown algorithms"):
        load_references_config(path)
    with pytest.raises(UserInputError, match="not found"):
        load_references_config(tmp_path / "missing.yaml")


def test_a_crashing_agent_is_its_rows_error_and_the_run_says_none_finished(ball_run_file, tmp_path):
    config_path = tmp_path / "references.yaml"
    config_path.write_text(yaml.safe_dump({
        "tasks": ["OfflineBallRun-v0"], "algorithms": ["coptidice"], "seeds": [0],
        "train_steps": 10, "eval_every": 10, "eval_episodes": 1,
        "train_overrides": {**TINY_NETWORKS, "batch_size": 0},
        "logdir": str(tmp_path / "logs"), "results": str(tmp_path / "results.jsonl"),
    }))
    with pytest.raises(UserInputError, match="no clean agent finished"):
        run_references(load_references_config(config_path), tmp_path / "report")
    (row,) = read_rows(tmp_path / "results.jsonl")
    assert row["status"] == "error" and row["error"]
