"""Safe references: is each algorithm, trained on a task's clean generated data, safe?

Unlearning a poisoned agent is judged against the agent the same settings give on
clean data; if that one is unsafe, "safe again" has nothing to be measured against.
For every task x algorithm x seed this trains on the task's clean generated id
(`Offline<Task>-Generated-v0`) with the algorithm's settings for the task (its
config's `TASK_SETTINGS`, osrl_unlearn/configs.py), evaluates the last checkpoint in
the simulator and appends one row (the bench's row format, method "clean") the moment
it is done. A rerun skips finished rows and continues stopped trainings.

A (task, algorithm) cell has a safe reference when the agent is safe (normalized cost
<= 1) in at least 2 of 3 seeds; otherwise every table marks it "no safe reference".
"""

import json
import statistics
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from osrl_unlearn.adapters import ALGORITHMS, get_adapter
from osrl_unlearn.configs import apply_task_settings
from osrl_unlearn.data.registration import variant_id
from osrl_unlearn.data.tasks import SUPPORTED_TASKS
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.safety import is_safe
from osrl_unlearn.experiments.bench import (
    ROW_KEY, append_row, ensure_trained, finished_keys, load_yaml_config, read_rows
)

CLEAN = "clean"  # the method name of a reference row
SEEDS_JUDGED = 3  # a reference is judged on (at least) this many seeds,
SAFE_SEED_SHARE = 2 / 3  # and is safe when at least this share of them is


@dataclass
class ReferencesConfig:
    """Which clean agents to train; read from YAML by `osrl-unlearn references`."""

    tasks: List[str] = field(default_factory=lambda: list(SUPPORTED_TASKS))
    algorithms: List[str] = field(default_factory=lambda: list(ALGORITHMS))
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    # None: each algorithm's default for the task (TASK_SETTINGS, else its config's)
    train_steps: Optional[int] = None
    eval_every: int = 2_500
    eval_episodes: int = 10
    threads: int = 1
    train_overrides: Dict[str, Any] = field(default_factory=dict)  # fields for every run
    logdir: str = "logs/references"
    results: str = "results/references/results.jsonl"
    # bench results files whose `retrain` rows are clean agents of these settings
    # (retraining on D_k is training on the clean data): their seeds are not trained again
    reuse_retrained: List[str] = field(default_factory=list)


def load_references_config(path: Path) -> ReferencesConfig:
    """Read and check a references YAML; a bad entry is one clear error."""
    config = load_yaml_config(ReferencesConfig, path, "references")
    for name, values, known in (("tasks", config.tasks, SUPPORTED_TASKS),
                                ("algorithms", config.algorithms, ALGORITHMS)):
        unknown = [value for value in values if value not in known]
        if unknown:
            raise UserInputError(f"{path}: unknown {name} {unknown}; known: {', '.join(known)}")
    return config


def reference_row(task: str, algorithm: str, seed: int, config: ReferencesConfig) -> Dict[str, Any]:
    """Train (or reuse) one clean agent and evaluate its last checkpoint."""
    from osrl_unlearn.evaluation import evaluate_run

    row = {**dict(zip(ROW_KEY, (task, algorithm, None, None, seed, CLEAN))),
           "dataset": variant_id(task), "train_steps": config.train_steps}
    started = time.perf_counter()
    try:
        run = ensure_trained(variant_id(task), algorithm, seed, config)
        result = evaluate_run(run, config.eval_episodes, best=False, seed=seed)
        result.pop("task")
        timing = json.loads((run / "timing.json").read_text())
        settings = get_adapter(algorithm).Config.TASK_SETTINGS.get(task, {})
        row.update(result, train_steps=timing["steps"], wall_time_s=timing["train_s"],
                   task_settings=settings, status="ok")
    except Exception as error:  # one agent's crash is its row's error, not the run's end
        row.update(status="error", error=f"{type(error).__name__}: {error}".splitlines()[0],
                   traceback=traceback.format_exc(limit=-3))
    row["bench_seconds"] = round(time.perf_counter() - started, 1)
    row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return row


def run_references(config: ReferencesConfig, out: Path) -> Path:
    """Train every unfinished clean agent, seeds outermost (a partly run table covers every
    cell once first); the report in `out` is rewritten after each row. Returns report.md."""
    from tqdm.auto import tqdm

    results = Path(config.results)
    done = finished_keys(read_rows(results) + reused_rows(config))
    todo = [(task, algorithm, seed) for seed in config.seeds for task in config.tasks
            for algorithm in config.algorithms
            if (task, algorithm, None, None, seed, CLEAN) not in done]
    print(f"references: {len(todo)} clean agents to train -> {results}")
    for task, algorithm, seed in tqdm(todo, desc="Clean agents", unit="agent"):
        row = reference_row(task, algorithm, seed, config)
        append_row(results, row)
        outcome = (f"reward {row['normalized_reward']:.3f} cost {row['normalized_cost']:.3f}"
                   if row["status"] == "ok" else f"ERROR {row['error']}")
        tqdm.write(f"{task} {algorithm} seed {seed}: {outcome}")
        if row["status"] == "ok":
            write_references_report(config, out)
    if not reference_verdicts(read_rows(results) + reused_rows(config)):
        raise UserInputError(f"no clean agent finished; see the errors in {results}")
    return write_references_report(config, out)


def reused_rows(config: ReferencesConfig) -> List[dict]:
    """The `retrain` rows of `config.reuse_retrained` that are agents of exactly these
    settings (the algorithm's steps for the task, no task settings, no overrides) and
    whose seed this grid has not trained itself, as `clean` rows that say where they
    come from."""
    trained = {(row["task"], row["algorithm"], row["seed"]) for row in read_rows(Path(config.results))
               if row["status"] == "ok"}
    rows = []
    for path in config.reuse_retrained:
        if not Path(path).exists():
            raise UserInputError(f"reuse_retrained: no results file {path}")
        for row in read_rows(Path(path)):
            algorithm = row["algorithm"]
            if (row["method"] != "retrain" or row["status"] != "ok" or config.train_overrides
                    or not kept_all_clean_data(row)
                    or (row["task"], algorithm, row["seed"]) in trained
                    or row["task"] not in config.tasks or algorithm not in config.algorithms
                    or get_adapter(algorithm).Config.TASK_SETTINGS.get(row["task"])
                    or row.get("train_steps") != default_steps(row["task"], algorithm, config)):
                continue
            rows.append({**row, "method": CLEAN, "attack": None, "ratio": None,
                         "reused_from": str(path)})
    return rows


def default_steps(task: str, algorithm: str, config: ReferencesConfig) -> int:
    """The training steps a clean agent of `config` gets on `task`."""
    if config.train_steps is not None:
        return config.train_steps
    adapter = get_adapter(algorithm)
    cfg = adapter.Config(task=variant_id(task))
    apply_task_settings(cfg, adapter.Config())
    return cfg.update_steps


def clean_agents(rows: List[dict]) -> Dict[tuple, dict]:
    """(task, algorithm, seed) -> the finished row of the agent trained on the clean data:
    a `clean` row of this module, else a bench's `retrain` row (training on D_k, the
    clean data); the last such row counts."""
    latest: Dict[tuple, dict] = {}
    for method in ("retrain", CLEAN):  # clean rows are read last, so they win a tie
        for row in rows:
            if row["status"] == "ok" and row["method"] == method and kept_all_clean_data(row):
                latest[(row["task"], row["algorithm"], row["seed"])] = row
    return latest


def trained_alike(clean_rows: List[dict], rows: List[dict]) -> List[dict]:
    """The clean agents (`clean` or `retrain` rows) among `clean_rows` trained as the
    agents of `rows` were: same task, algorithm and training steps, and no other task
    setting. A reference verdict over them speaks of those agents; one over agents
    trained otherwise (BCQ-L's 5,000 steps on BallCircle against a grid's 10,000) would not."""
    steps = {(row["task"], row["algorithm"], row.get("train_steps")) for row in rows}
    return [row for row in clean_rows if row["method"] in ("retrain", CLEAN)
            and (row["task"], row["algorithm"], row.get("train_steps")) in steps
            and not set(row.get("task_settings") or {}) - {"update_steps"}]


def kept_all_clean_data(row: dict) -> bool:
    """False for a retrain row whose imperfect forget set left poison in D_k or took
    clean episodes out (rows from before these fields were recorded had neither)."""
    return row.get("forget_recall", 1.0) == 1.0 and row.get("forget_precision", 1.0) == 1.0


def reference_verdicts(rows: List[dict]) -> Dict[tuple, Dict[str, Any]]:
    """(task, algorithm) -> mean and std over seeds, safe seeds, and whether the cell
    has a safe reference."""
    cells: Dict[tuple, List[dict]] = {}
    for (task, algorithm, _), row in sorted(clean_agents(rows).items()):
        cells.setdefault((task, algorithm), []).append(row)
    verdicts = {}
    for cell, cell_rows in cells.items():
        rewards = [row["normalized_reward"] for row in cell_rows]
        costs = [row["normalized_cost"] for row in cell_rows]
        safe, seeds = sum(is_safe(cost) for cost in costs), len(cell_rows)
        safe_reference = seeds >= SEEDS_JUDGED and safe / seeds >= SAFE_SEED_SHARE
        # settled before the last seeds when too many are unsafe already
        too_many_unsafe = seeds - safe > SEEDS_JUDGED * (1 - SAFE_SEED_SHARE)
        verdicts[cell] = {
            "reward": statistics.fmean(rewards), "reward_std": statistics.pstdev(rewards),
            "cost": statistics.fmean(costs), "cost_std": statistics.pstdev(costs),
            "safe_seeds": safe, "seeds": seeds, "safe_reference": safe_reference,
            "no_safe_reference": not safe_reference and (seeds >= SEEDS_JUDGED or too_many_unsafe),
        }
    return verdicts


def reference_status(verdict: Dict[str, Any]) -> str:
    """What a cell without a safe reference lacks: "no safe reference", or how many of the
    seeds a verdict needs it has so far ("" for a safe reference)."""
    if verdict["safe_reference"]:
        return ""
    if verdict["no_safe_reference"]:
        return "no safe reference"
    return f"not judged yet: {verdict['seeds']} of {SEEDS_JUDGED} seeds"


def verdict_text(verdict: Dict[str, Any]) -> str:
    """`reward±std / cost±std (k/n safe)`, marked when the cell has no safe reference."""
    text = (f"{verdict['reward']:.2f}±{verdict['reward_std']:.2f} / "
            f"{verdict['cost']:.2f}±{verdict['cost_std']:.2f} "
            f"({verdict['safe_seeds']}/{verdict['seeds']} safe)")
    if verdict["safe_reference"]:
        return f"**{text}**"
    return f"{text} {reference_status(verdict)}"


def write_references_report(config: ReferencesConfig, out: Path) -> Path:
    """report.md: the algorithm x task table of the clean agents, and each cell's settings."""
    results = Path(config.results)
    rows = read_rows(results) + reused_rows(config)
    verdicts = reference_verdicts(rows)
    if not verdicts:
        raise UserInputError(f"{results} has no finished clean agents yet")
    tasks = sorted({task for task, _ in verdicts})
    algorithms = [name for name in ALGORITHMS if any(name == algo for _, algo in verdicts)]
    lines = ["| algorithm | " + " | ".join(tasks) + " |", "|" + " --- |" * (len(tasks) + 1)]
    for algorithm in algorithms:
        cells = [verdict_text(verdicts[(task, algorithm)]) if (task, algorithm) in verdicts
                 else "–" for task in tasks]
        lines.append(f"| {algorithm} | " + " | ".join(cells) + " |")
    settings = sorted({(row["algorithm"], row["task"], row["train_steps"],
                        json.dumps(row.get("task_settings", {}), sort_keys=True))
                       for row in rows if row["status"] == "ok"})
    setting_lines = [f"- {algorithm} on {task}: {steps:,} steps, task settings {text}"
                     for algorithm, task, steps, text in settings]
    errors = [f"- {row['task']} {row['algorithm']} seed {row['seed']}: {row['error']}"
              for row in rows if row["status"] != "ok"]
    reused = [f"- {row['task']} {row['algorithm']} seed {row['seed']}: `{row['reused_from']}`"
              for row in rows if "reused_from" in row]
    sections = [
        "# Safe references: agents trained on the clean generated data",
        "Normalized reward / cost of the last checkpoint, mean ± std over seeds, and how "
        "many seeds are safe (normalized cost <= 1). **Bold**: a safe reference (safe in "
        "at least 2 of 3 seeds). Data: this project's generated datasets "
        "(`Offline<Task>-Generated-v0`), not DSRL's official data.",
        "\n".join(lines),
        "## Settings of each cell (OSRL's defaults at CPU scale, then the task's settings)",
        "\n".join(setting_lines),
    ]
    if reused:
        sections += ["## Agents trained by a bench (retraining on D_k, the clean data, with "
                     "the same settings), not trained again", "\n".join(reused)]
    if errors:
        sections += ["## Failed rows (rerun to try again)", "\n".join(errors)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.md"
    report.write_text("\n\n".join(sections) + "\n")
    return report
