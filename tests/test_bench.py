"""The benchmark grid and its report, on real tiny OSRL runs in the real simulator."""

import json
from pathlib import Path
from typing import Callable

import pytest
import yaml

from conftest import TINY_NETWORKS, run_cli
from osrl_unlearn.experiments.bench import load_grid, read_rows, run_grid
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.evaluation import EVALUATION_KEYS
from osrl_unlearn.experiments.references import load_references_config, run_references
from osrl_unlearn.experiments.report import write_report


def write_grid(folder, **changes):
    grid = {
        "tasks": ["OfflineBallRun-v0"], "algorithms": ["bcql"], "attacks": ["max-cost"],
        "ratios": [0.15], "methods": ["finetune", "broken", "retrain"], "seeds": [0],
        "variants": {"broken": {"source_checkpoint": "middle"}},
        "train_steps": 10, "eval_every": 10, "unlearn_steps": 4, "eval_episodes": 1,
        "train_overrides": {**TINY_NETWORKS, "vae_hidden_sizes": 16, "batch_size": 32,
                            "eval_episodes": 1},
        "logdir": str(folder / "logs"), "results": str(folder / "results.jsonl"),
    }
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump({**grid, **changes}))
    return path


@pytest.fixture(scope="module")
def finished_grid(ball_run_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    grid = load_grid(write_grid(folder))
    return folder, grid, run_grid(grid)


def test_grid_writes_one_row_per_result_and_a_crash_stays_in_its_row(finished_grid):
    _, _, results = finished_grid
    rows = {row["method"]: row for row in read_rows(results)}
    assert list(rows) == ["poisoned", "finetune", "broken", "retrain"]
    assert rows["broken"]["status"] == "error" and "middle" in rows["broken"]["error"]
    for method in ("poisoned", "finetune", "retrain"):
        assert rows[method]["status"] == "ok"
        assert 0.0 <= rows[method]["normalized_cost"] and rows[method]["wall_time_s"] > 0
    assert set(EVALUATION_KEYS) <= set(rows["poisoned"])
    assert rows["retrain"]["checkpoint"] == "model.pt"  # not OSRL's environment pick
    assert rows["finetune"]["checkpoint"] == "model_best.pt"  # the offline pick


def test_rows_say_which_code_and_which_unlearning_settings_made_them(finished_grid):
    import subprocess

    _, _, results = finished_grid
    rows = {row["method"]: row for row in read_rows(results)}
    assert rows["finetune"]["unlearning"] == {"method": "finetune", "steps": 4,
                                              "stop_after_saves": 2}
    head = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout: the row names its commit
        assert rows["poisoned"]["code"].split("+")[0] == head.stdout.strip()


def test_rerun_skips_finished_rows_and_reuses_finished_runs(finished_grid):
    folder, grid, results = finished_grid
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:-1]) + "\n")  # as if stopped before the last row
    retrain_dir = Path(json.loads(lines[-1])["run"])
    model_time = (retrain_dir / "checkpoint" / "model.pt").stat().st_mtime_ns

    run_grid(grid)
    rows = read_rows(results)
    methods = [row["method"] for row in rows]
    assert methods == ["poisoned", "finetune", "broken", "broken", "retrain"]  # errors retried
    assert (retrain_dir / "checkpoint" / "model.pt").stat().st_mtime_ns == model_time
    assert not list(retrain_dir.parent.glob("*.interrupted-*"))


def test_a_finished_run_of_other_steps_is_refused_not_reused(finished_grid):
    folder, grid, results = finished_grid
    poisoned = Path(read_rows(results)[0]["run"])
    model_time = (poisoned / "checkpoint" / "model.pt").stat().st_mtime_ns
    longer = load_grid(write_grid(folder, train_steps=20, methods=[],
                                  results=str(folder / "longer.jsonl")))
    (row,) = read_rows(run_grid(longer))
    assert row["status"] == "error"
    assert "update_steps 10 (wanted 20)" in row["error"] and "move it aside" in row["error"]
    assert (poisoned / "checkpoint" / "model.pt").stat().st_mtime_ns == model_time


def test_report_writes_the_tables_and_figures(finished_grid, tmp_path):
    _, _, results = finished_grid
    report = write_report(results, tmp_path / "report")
    text = report.read_text()
    finetune = next(row for row in read_rows(results) if row["method"] == "finetune")
    assert f"{finetune['normalized_reward']:.2f}±" in text
    assert "| Fine-tune |" in text and "## Failed rows" in text and "middle" in text
    assert "## Statistics (rliable)" in text and "IQM normalized reward [95% CI]" in text
    for name in ("cost_reward_OfflineBallRun-v0.png", "safe_share.png", "statistics.png"):
        assert (tmp_path / "report" / name).read_bytes()[:4] == b"\x89PNG"
    rows = {row["method"]: row for row in read_rows(results)}
    timed = next(line for line in text.splitlines()  # the wall-time table's line: 11 columns
                 if "| Fine-tune | " in line and line.count("|") == 12)
    cells = [cell.strip() for cell in timed.split("|")[1:-1]]
    retraining, training = cells[8], cells[10]
    assert float(retraining) == pytest.approx(
        rows["finetune"]["wall_time_s"] / rows["retrain"]["wall_time_s"], abs=0.006)
    assert float(training) == pytest.approx(  # in one run: against the agent's own training
        rows["finetune"]["wall_time_s"] / rows["poisoned"]["wall_time_s"], abs=0.006)


@pytest.mark.parametrize("change, message", [
    ({"methods": ["safe-rule", "unlearn-harder"]}, "unknown methods"),
    ({"ratios": [0.2]}, "not registered"),
    ({"algorithms": ["sac"]}, "unknown algorithms"),
    ({"train_overrides": {"hidden": 3}}, "does not know"),
    ({"variants": {"broken": {"forget_wieght": 2}}}, "unknown fields"),
    ({"seedz": [1]}, "grid.yaml"),
])
def test_bad_grid_is_one_clear_error(tmp_path, change, message):
    with pytest.raises(UserInputError, match=message):
        load_grid(write_grid(tmp_path, **change))


def test_report_of_a_missing_file_is_a_clear_error(tmp_path):
    finished = run_cli("report", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "r"))
    assert finished.returncode == 2
    assert finished.stderr.strip().startswith("osrl-unlearn report: error: results file not found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"status": "ok"}) + "\n{not json\n")
    finished = run_cli("report", str(bad), "--out", str(tmp_path / "r"))
    assert finished.returncode == 2 and "not a JSON-lines results file" in finished.stderr


def test_shards_split_the_agents_between_processes(ball_run_file, tmp_path):
    grid = load_grid(write_grid(tmp_path, methods=["finetune"], seeds=[0, 1], variants={}))
    results = run_grid(grid, shard=(1, 2))
    assert {(row["seed"], row["method"]) for row in read_rows(results)} == \
        {(1, "poisoned"), (1, "finetune")}
    run_grid(grid, shard=(0, 2))
    assert len(read_rows(results)) == 4


def test_bad_shard_is_one_clear_error(tmp_path):
    finished = run_cli("bench", "--config", str(write_grid(tmp_path)), "--shard", "2/2")
    assert finished.returncode == 2 and "the index must be in 0..1" in finished.stderr


def test_compare_tables_finished_runs_and_refuses_others(finished_grid):
    from osrl_unlearn.experiments.report import compare_runs

    folder, _, results = finished_grid
    finetune = next(row for row in read_rows(results) if row["method"] == "finetune")
    table = compare_runs([finetune["run"]])
    assert "| finetune | stop_after_saves=2 | 4 |" in table  # the grid stops early by default
    assert f"{finetune['normalized_reward']:.3f} ±" in table
    poisoned_run = next(row for row in read_rows(results) if row["method"] == "poisoned")["run"]
    with pytest.raises(UserInputError, match="not a finished unlearning run"):
        compare_runs([poisoned_run])


def test_a_one_seed_report_judges_its_references_with_clean_agents_trained_alike(
        finished_grid, tmp_path):
    """The grid's one retrained agent is safe, but two more seeds trained alike elsewhere
    are not: the cell has no safe reference. An agent trained for other steps, safe,
    does not count; a clean file that is not there is a clear error."""
    _, _, results = finished_grid
    retrained = next(row for row in read_rows(results) if row["method"] == "retrain")
    retrained["normalized_cost"] = 0.0  # the tiny grid's agent, made safe for the test
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps(row) + "\n" for row in read_rows(results)
                            if row["method"] != "retrain") + json.dumps(retrained) + "\n")
    elsewhere = tmp_path / "references.jsonl"
    clean = [{**retrained, "method": "clean", "seed": seed, "normalized_cost": 3.0,
              "attack": None, "ratio": None, "task_settings": {}} for seed in (1, 2)]
    clean.append({**clean[0], "seed": 3, "normalized_cost": 0.0,
                  "train_steps": retrained["train_steps"] * 5})
    elsewhere.write_text("".join(json.dumps(row) + "\n" for row in clean))

    alone = write_report(mine, tmp_path / "alone").read_text()
    assert "safe 1/1 (not judged yet: 1 of 3 seeds)" in alone
    judged = write_report(mine, tmp_path / "judged", [elsewhere]).read_text()
    assert "safe 1/3: no safe reference" in judged
    assert "count 2 clean agents trained alike" in judged
    with pytest.raises(UserInputError, match="results file not found"):
        write_report(mine, tmp_path / "r", [tmp_path / "missing.jsonl"])


def test_report_of_rows_from_elsewhere_is_a_clear_error(tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"status": "ok", "reward": 1.0}) + "\n")
    with pytest.raises(UserInputError, match="not a bench results file"):
        write_report(other, tmp_path / "r")


def test_retraining_is_shared_by_attacks_whose_kept_data_is_the_same(ball_run_file, tmp_path):
    """MaxCost and RewardLure both append their episodes: one retrained agent serves both."""
    grid = load_grid(write_grid(tmp_path, attacks=["max-cost", "reward-lure"],
                                methods=["retrain"], variants={}))
    rows = [row for row in read_rows(run_grid(grid)) if row["method"] == "retrain"]
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert rows[0]["run"] == rows[1]["run"] and "-keep-" in rows[0]["run"]
    assert len(list((tmp_path / "logs").glob("*-keep-*/bcql-seed0-retrain"))) == 1
    report = write_report(tmp_path / "results.jsonl", tmp_path / "report").read_text()
    assert "Retraining: 1 agent for 2 rows" in report


def test_a_retrained_agent_gone_with_its_machine_is_reused_from_its_row(ball_run_file, tmp_path):
    """On a new machine the shared retrained agent's run is gone but its row is not: the
    next attack sharing it reuses that row, rather than training a second agent whose
    figures differ from the first's."""
    import shutil

    first = load_grid(write_grid(tmp_path, methods=["retrain"], variants={}))
    (recorded,) = [row for row in read_rows(run_grid(first)) if row["method"] == "retrain"]
    shutil.rmtree(Path(recorded["run"]).parent)
    both = load_grid(write_grid(tmp_path, methods=["retrain"], variants={},
                                attacks=["max-cost", "reward-lure"]))
    rows = [row for row in read_rows(run_grid(both)) if row["method"] == "retrain"]
    assert [row["attack"] for row in rows] == ["max-cost", "reward-lure"]
    reused = rows[1]
    assert reused["status"] == "ok" and "max-cost" in reused["reused_from"]
    assert all(reused[key] == recorded[key] for key in EVALUATION_KEYS)
    assert reused["unlearning"] == recorded["unlearning"] and reused["steps"] == recorded["steps"]
    assert not list((tmp_path / "logs").glob("*-keep-*"))  # nothing trained again


def finish_a_grid_then_add_safe_rule(folder: Path, between: Callable[[Path], None]) -> list:
    """Finish a fine-tuning grid, call `between(agent)` on its poisoned agent's run folder,
    then run the grid again with Safe-RULE added: the rows of the file after both."""
    first = load_grid(write_grid(folder, methods=["finetune", "retrain"], variants={}))
    run_grid(first)
    between(next((folder / "logs").glob("*MaxCost15*/bcql-seed0")))
    more = load_grid(write_grid(folder, methods=["finetune", "safe-rule", "retrain"],
                                variants={}))
    return read_rows(run_grid(more))


REMADE = ["poisoned", "finetune", "retrain", "poisoned", "finetune", "safe-rule"]


def test_rows_of_an_agent_trained_again_are_made_again_with_it(ball_run_file, tmp_path):
    """On a new machine the poisoned agent of a half-done cell is trained again, and not
    always to the digit: its poisoned row and every finished row made on the old agent
    are made again (the report takes the latest); retraining's and a finished cell's stay."""
    import shutil

    def logdir_left_behind(agent: Path) -> None:
        shutil.rmtree(agent)
        assert len(read_rows(tmp_path / "results.jsonl")) == 3
        run_grid(load_grid(tmp_path / "grid.yaml"))  # a finished cell is not touched
        assert len(read_rows(tmp_path / "results.jsonl")) == 3 and not agent.exists()

    rows = finish_a_grid_then_add_safe_rule(tmp_path, logdir_left_behind)
    assert [row["method"] for row in rows] == REMADE
    assert all(row["status"] == "ok" for row in rows)
    agent = next((tmp_path / "logs").glob("*MaxCost15*/bcql-seed0"))
    # fine-tuning's finished run of the old agent is set aside, not reused or deleted
    assert len(list(agent.parent.glob("bcql-seed0-finetune.earlier-agent-*"))) == 1


def test_rows_older_than_their_agents_training_are_made_again_and_the_agent_kept(
        ball_run_file, tmp_path):
    """An agent still there but trained after its rows (a logdir copied from another
    machine, a run trained again by hand) is not trained again: the rows made before it
    are made again on it, and its checkpoint is left as it was."""
    import os
    import time

    later, seen = time.time() + 60, {}

    def trained_after_its_rows(agent: Path) -> None:
        seen["agent"], seen["weights"] = agent, (agent / "checkpoint" / "model.pt").read_bytes()
        os.utime(agent / "timing.json", (later, later))

    rows = finish_a_grid_then_add_safe_rule(tmp_path, trained_after_its_rows)
    assert [row["method"] for row in rows] == REMADE
    assert all(row["status"] == "ok" for row in rows)
    agent = seen["agent"]
    assert (agent / "checkpoint" / "model.pt").read_bytes() == seen["weights"]  # not trained again
    assert (agent / "timing.json").stat().st_mtime == later
    assert len(list(agent.parent.glob("bcql-seed0-finetune.earlier-agent-*"))) == 1


def test_unlearning_methods_stop_early_by_default_and_a_grid_can_say_otherwise(tmp_path):
    from osrl_unlearn.experiments.bench import unlearn_config

    grid = load_grid(write_grid(tmp_path))
    assert unlearn_config(grid, "safe-rule", 0).stop_after_saves == 2
    assert unlearn_config(grid, "broken", 0).stop_after_saves == 2  # variants too
    never = load_grid(write_grid(tmp_path, stop_after_saves=0))
    assert unlearn_config(never, "finetune", 0).stop_after_saves == 0


def test_ray_runs_the_grid_rows_land_one_by_one_and_a_crash_stays_in_its_rows(
        ball_run_file, tmp_path, monkeypatch):
    """A local 2-CPU Ray: seed 1's poisoned agent is broken, seed 0's rows still finish;
    and a row lands while its Ray task is still running, not when the task ends."""
    import osrl_unlearn.experiments.bench as bench

    logs = tmp_path / "logs"
    broken = logs / "OfflineBallRun-Generated-MaxCost15-v0-cost-10" / "bcql-seed1"
    (broken / "checkpoint").mkdir(parents=True)
    (broken / "timing.json").write_text(json.dumps({"train_s": 1.0, "steps": 10}))
    (broken / "config.yaml").write_text("prefix: BCQL\n")  # no model: every row fails
    later_agent = logs / "OfflineBallRun-Generated-RewardLure15-v0-cost-10" / "bcql-seed0"
    landed = []  # (row, whether seed 0's RewardLure agent, trained after it, existed yet)
    write = bench.append_row
    monkeypatch.setattr(bench, "append_row", lambda path, row: (
        landed.append((row, (later_agent / "timing.json").exists())), write(path, row)))
    grid = load_grid(write_grid(tmp_path, methods=["finetune"], seeds=[0, 1], variants={},
                                threads=1, attacks=["max-cost", "reward-lure"]))
    rows = read_rows(run_grid(grid, use_ray=True))
    status = {(row["seed"], row["attack"], row["method"]): row["status"] for row in rows}
    assert status == {(seed, attack, method): "error" if (seed, attack) == (1, "max-cost") else "ok"
                      for seed in (0, 1) for attack in ("max-cost", "reward-lure")
                      for method in ("poisoned", "finetune")}
    assert all(row["error"] for row in rows if row["status"] == "error")
    assert len(rows) == 8  # each row once: only the driver writes
    first = next(seen for row, seen in landed
                 if (row["seed"], row["attack"], row["method"]) == (0, "max-cost", "poisoned"))
    assert not first  # seed 0's task had its second agent still to train


def test_retraining_reuses_the_references_clean_agent_of_the_same_settings(ball_run_file, tmp_path):
    """With the whole poison forgotten D_k is the clean data: the agent the references grid
    trained on it (same steps and overrides) is the retrained agent, not trained again."""
    overrides = {**TINY_NETWORKS, "vae_hidden_sizes": 16, "batch_size": 32, "eval_episodes": 1}
    references = tmp_path / "references.yaml"
    references.write_text(yaml.safe_dump({
        "tasks": ["OfflineBallRun-v0"], "algorithms": ["bcql"], "seeds": [0], "train_steps": 10,
        "eval_every": 10, "eval_episodes": 1, "train_overrides": overrides,
        "logdir": str(tmp_path / "clean-logs"), "results": str(tmp_path / "clean.jsonl")}))
    run_references(load_references_config(references), tmp_path / "clean-report")
    (clean,) = read_rows(tmp_path / "clean.jsonl")

    grid = load_grid(write_grid(tmp_path, methods=["retrain"], variants={},
                                reuse_clean=[str(tmp_path / "clean.jsonl")]))
    retrain = [row for row in read_rows(run_grid(grid)) if row["method"] == "retrain"][0]
    assert retrain["status"] == "ok" and retrain["run"] == clean["run"]
    assert all(retrain[key] == clean[key] for key in EVALUATION_KEYS)
    assert "clean agent of" in retrain["reused_from"]
    assert not list((tmp_path / "logs").glob("*-keep-*"))  # nothing trained for it

    (tmp_path / "other").mkdir()
    other = load_grid(write_grid(tmp_path / "other", methods=["retrain"], variants={}, train_steps=12,
                                 reuse_clean=[str(tmp_path / "clean.jsonl")]))
    retrained = [row for row in read_rows(run_grid(other)) if row["method"] == "retrain"][0]
    assert "reused_from" not in retrained and "-keep-" in retrained["run"]  # other steps: trained


def test_a_missing_reuse_clean_file_is_its_rows_clear_error(ball_run_file, tmp_path):
    grid = load_grid(write_grid(tmp_path, methods=["retrain"], variants={},
                                reuse_clean=[str(tmp_path / "missing.jsonl")]))
    (retrain,) = [row for row in read_rows(run_grid(grid)) if row["method"] == "retrain"]
    assert retrain["status"] == "error"
    assert "reuse_clean: no results file" in retrain["error"] and "missing.jsonl" in retrain["error"]


def test_an_unsure_defender_grid_runs_each_method_on_each_imperfect_split(ball_run_file, tmp_path):
    """Recall and precision axes: each method again on each imperfect forget set, the
    split recorded in its row; retraining then trains on the D_k that split leaves (poison
    missed by the defender stays in it), and the report has its table and heatmaps."""
    grid = load_grid(write_grid(tmp_path, methods=["finetune", "retrain"], variants={},
                                forget_recalls=[0.5, 1.0], forget_precisions=[1.0]))
    rows = {row["method"]: row for row in read_rows(run_grid(grid))}
    assert list(rows) == ["poisoned", "finetune", "retrain", "finetune@recall0.5-precision1",
                          "retrain@recall0.5-precision1"]
    assert all(row["status"] == "ok" for row in rows.values())
    unsure = rows["finetune@recall0.5-precision1"]
    assert (unsure["forget_recall"], unsure["forget_precision"], unsure["base_method"]) == (
        0.5, 1.0, "finetune")
    recorded = yaml.safe_load((Path(unsure["run"]) / "config.yaml").read_text())["unlearning"]
    assert recorded["forget_recall"] == 0.5
    split = json.loads((Path(unsure["run"]) / "unlearn_summary.json").read_text())["forget_split"]
    assert 0 < split["episode_recall"] < 1  # half of a tiny poison, rounded
    assert rows["retrain@recall0.5-precision1"]["run"] != rows["retrain"]["run"]  # another D_k
    report = write_report(tmp_path / "results.jsonl", tmp_path / "report").read_text()
    assert "## A defender who is not sure" in report
    assert "| OfflineBallRun-v0 | bcql | max-cost | 0.15 | 0.5 | 1 |" in report
    assert "finetune@recall" not in report.split("## A defender")[0]  # not among the variants
    figure = tmp_path / "report" / "imperfect_forget_OfflineBallRun-v0-bcql-max-cost-0.15.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_a_forget_share_outside_zero_one_is_one_clear_error(tmp_path):
    with pytest.raises(UserInputError, match=r"forget_recalls and forget_precisions must lie in \(0, 1\]"):
        load_grid(write_grid(tmp_path, forget_precisions=[0.0, 1.0]))
