"""The benchmark grid: tasks x algorithms x attacks x ratios x seeds, every method on each.

For each cell the poisoned agent is trained once (or reused), then each method is
applied to it, evaluated in the simulator, and one JSON row per result is appended
to the results file the moment it is done. A rerun skips finished rows; a row that
failed is recorded with its error and tried again on the next run. Runs live in
OSRL's layout under `logdir`:

    <logdir>/<poisoned id>-cost-<limit>/<algorithm>-seed<seed>            the poisoned agent
    <logdir>/<poisoned id>-cost-<limit>/<algorithm>-seed<seed>-<method>   each method's run
    <logdir>/<task>-keep-<D_k digest>/<algorithm>-seed<seed>-retrain       retraining

Retraining depends only on the data kept, D_k. The attacks append their episodes, so
D_k is the clean data for every attack and ratio of a task, and one retrained agent
per (task, algorithm, seed) serves them all; it is found by a digest of D_k's arrays,
so an attack whose D_k differs gets its own.
"""

import functools
import hashlib
import json
import os
import shutil
import subprocess
import time
import traceback
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pyrallis

from osrl_unlearn.adapters import ALGORITHMS, get_adapter
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.attacks import ATTACKS
from osrl_unlearn.data.registration import REGISTERED_PERCENTS, variant_id
from osrl_unlearn.data.tasks import SUPPORTED_TASKS
from osrl_unlearn.unlearning.objective import METHODS, UnlearnConfig

POISONED = "poisoned"  # the method name of the row that evaluates the agent before unlearning
ROW_KEY = ("task", "algorithm", "attack", "ratio", "seed", "method")


@dataclass
class GridConfig:
    """A benchmark grid; every list is one axis. Read from YAML by `osrl-unlearn bench`."""

    tasks: List[str] = field(default_factory=lambda: ["OfflineBallRun-v0"])
    algorithms: List[str] = field(default_factory=lambda: ["bcql"])
    attacks: List[str] = field(default_factory=lambda: ["max-cost"])
    ratios: List[float] = field(default_factory=lambda: [0.15])
    methods: List[str] = field(default_factory=lambda: list(METHODS))
    seeds: List[int] = field(default_factory=lambda: [0])
    # named Safe-RULE variants usable in `methods`, e.g. {p50: {reward_percentile: 50}}
    variants: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    # A defender who is not sure: every method also runs on the forget set that keeps this
    # share of the poisoned episodes (recall) and is this pure (precision), for each pair
    # but (1, 1), as "<method>@recall<R>-precision<P>"; retraining then trains on that D_k
    forget_recalls: List[float] = field(default_factory=lambda: [1.0])
    forget_precisions: List[float] = field(default_factory=lambda: [1.0])
    collect_episodes: int = 300  # clean episodes collected per task when its data is missing
    # None: each algorithm's default for the task (its config's TASK_SETTINGS, else 10,000);
    # as in OSRL, a value equal to the config's default also leaves the task's own
    train_steps: Optional[int] = None
    eval_every: int = 2_500
    unlearn_steps: int = 5_000
    # every unlearning method stops this many saves after its offline-chosen best (0: never)
    stop_after_saves: int = 2
    eval_episodes: int = 10
    threads: int = 2
    train_overrides: Dict[str, Any] = field(default_factory=dict)  # other training fields
    # UnlearnConfig fields every unlearning method of the grid takes, e.g. {reward_percentile: 50}
    unlearn_overrides: Dict[str, Any] = field(default_factory=dict)
    logdir: str = "logs/bench"
    results: str = "results/bench/results.jsonl"
    data_dir: Optional[str] = None  # generated data folder (default: OSRL_UNLEARN_DATA_DIR's)
    # results files of `osrl-unlearn references`: a retrain row reuses the agent trained
    # there on the clean data with the same steps (D_k is the clean data when the forget
    # set is the whole poison), instead of training it again
    reuse_clean: List[str] = field(default_factory=list)


def load_yaml_config(config_class, path: Path, what: str):
    """A pyrallis dataclass read from YAML; a missing file or a bad entry is one clear error."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{what} file not found: {path}")
    try:
        with open(path) as handle:
            return pyrallis.load(config_class, handle)
    except Exception as error:  # pyrallis reports unknown keys and wrong types
        raise UserInputError(f"{path}: {str(error).splitlines()[0]}") from None


def load_grid(path: Path) -> GridConfig:
    """Read and check a grid YAML; every bad entry is one clear error."""
    grid = load_yaml_config(GridConfig, path, "grid")
    for algorithm in grid.algorithms:
        if algorithm in ALGORITHMS:
            unknown = set(grid.train_overrides) - set(get_adapter(algorithm).Config.__dataclass_fields__)
            if unknown:
                raise UserInputError(f"{path}: train_overrides has fields {sorted(unknown)} "
                                     f"that {algorithm}'s training config does not know")
    shares = [share for share in grid.forget_recalls + grid.forget_precisions if not 0 < share <= 1]
    if shares:
        raise UserInputError(f"{path}: forget_recalls and forget_precisions must lie in (0, 1], "
                             f"got {shares}")
    checks = [("tasks", grid.tasks, SUPPORTED_TASKS), ("algorithms", grid.algorithms, ALGORITHMS),
              ("attacks", grid.attacks, ATTACKS),
              ("methods", grid.methods, (POISONED, *METHODS, *grid.variants))]
    for name, values, known in checks:
        unknown = [value for value in values if value not in known]
        if unknown:
            raise UserInputError(f"{path}: unknown {name} {unknown}; known: {', '.join(known)}")
    bad_ratios = [ratio for ratio in grid.ratios if round(ratio * 100) not in REGISTERED_PERCENTS]
    if bad_ratios:
        raise UserInputError(f"{path}: ratios {bad_ratios} are not registered; use "
                             f"{[percent / 100 for percent in REGISTERED_PERCENTS]}")
    unlearn_fields = {spec.name for spec in fields(UnlearnConfig)}
    unknown = set(grid.unlearn_overrides) - unlearn_fields
    if unknown:
        raise UserInputError(f"{path}: unlearn_overrides sets unknown fields {sorted(unknown)}")
    for name, overrides in grid.variants.items():
        unknown = set(overrides) - unlearn_fields
        if unknown:
            raise UserInputError(f"{path}: variant {name} sets unknown fields {sorted(unknown)}")
    return grid


def imperfect_name(method: str, recall: float, precision: float) -> str:
    """The grid's name of `method` run on an imperfect forget set."""
    return f"{method}@recall{recall:g}-precision{precision:g}"


def grid_methods(grid: GridConfig) -> Dict[str, Dict[str, Any]]:
    """Every method name a cell runs after its poisoned row, with the UnlearnConfig fields
    it sets: the grid's methods and named variants, then each again on every imperfect
    forget set of the recall and precision axes."""
    named = {name: {"method": "safe-rule", **grid.variants[name]} if name in grid.variants
             else {"method": name} for name in grid.methods if name != POISONED}
    methods = dict(named)
    for recall in grid.forget_recalls:
        for precision in grid.forget_precisions:
            if (recall, precision) != (1.0, 1.0):
                methods.update({imperfect_name(name, recall, precision): {
                    **settings, "forget_recall": recall, "forget_precision": precision}
                    for name, settings in named.items()})
    return methods


def unlearn_config(grid: GridConfig, method: str, seed: int) -> UnlearnConfig:
    """The unlearning settings of a method name, a named variant or an imperfect split."""
    settings = grid_methods(grid).get(method, {"method": method})
    return UnlearnConfig(**{"stop_after_saves": grid.stop_after_saves, **grid.unlearn_overrides,
                            "steps": grid.unlearn_steps, "seed": seed, **settings})


@dataclass(frozen=True)
class Cell:
    """One poisoned agent of the grid."""

    task: str
    algorithm: str
    attack: str
    ratio: float
    seed: int

    @property
    def dataset_id(self) -> str:
        return variant_id(self.task, self.attack, self.ratio)

    def key(self, method: str) -> Tuple:
        return (self.task, self.algorithm, self.attack, self.ratio, self.seed, method)


def cells(grid: GridConfig) -> Iterator[Cell]:
    """Every poisoned agent, seeds outermost and algorithms innermost: a partly run grid
    covers each setting once before it repeats any, and every algorithm early."""
    for seed in grid.seeds:
        for task in grid.tasks:
            for attack in grid.attacks:
                for ratio in grid.ratios:
                    for algorithm in grid.algorithms:
                        yield Cell(task, algorithm, attack, ratio, seed)


def read_rows(path: Path) -> List[Dict[str, Any]]:
    """All rows of a results file (a missing file has none)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def finished_keys(rows: List[Dict[str, Any]]) -> set:
    return {tuple(row[name] for name in ROW_KEY) for row in rows if row["status"] == "ok"}


def rows_of_another_agent(todo: Dict["Cell", List[str]], rows: List[Dict[str, Any]],
                          grid: GridConfig) -> Dict["Cell", List[str]]:
    """The finished methods of each cell with work left whose rows were made on another
    poisoned agent than the one its remaining methods will run on: its run is gone (it
    is trained again: a new machine, a cleaned logdir) or was trained after them.
    Training is not always the same to the digit across machines, so such rows are made
    again, the poisoned row first; retraining's depend on D_k only and stay."""
    finished_at: Dict[Tuple, float] = {}
    for row in rows:
        if row["status"] == "ok":
            finished_at[tuple(row[name] for name in ROW_KEY)] = time.mktime(
                time.strptime(row["finished_at"], "%Y-%m-%dT%H:%M:%S"))
    on_agent = [POISONED] + [name for name, settings in grid_methods(grid).items()
                             if settings["method"] != "retrain"]
    stale = {}
    for cell in todo:
        timing = training_run(cell.dataset_id, cell.algorithm, cell.seed, grid)[2] / "timing.json"
        trained_at = timing.stat().st_mtime if timing.exists() else float("inf")
        # finished_at keeps whole seconds: a row made after training is within one of it
        redo = [method for method in on_agent if cell.key(method) in finished_at
                and finished_at[cell.key(method)] + 1.0 <= trained_at]
        if redo:
            stale[cell] = redo
    return stale


def append_row(path: Path, row: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(row) + "\n")


def set_aside(run_dir: Path, why: str = "interrupted") -> None:
    """Move a run out of the way (never deleted) so it can start again."""
    target = run_dir.with_name(f"{run_dir.name}.{why}-{int(time.time())}")
    shutil.move(str(run_dir), str(target))
    print(f"moved the {why} run {run_dir} to {target}")


def ensure_dataset(cell: Cell, grid: GridConfig) -> None:
    """Collect the task's clean generated data if missing, then build the poisoned file."""
    from osrl_unlearn.data.collect import collect_to_file
    from osrl_unlearn.data.variants import base_dataset_path, build_poisoned_dataset

    base = base_dataset_path(cell.task)
    if not base.exists():
        collect_to_file(cell.task, grid.collect_episodes, base, seed=0)
    build_poisoned_dataset(cell.task, cell.attack, cell.ratio)


def training_run(dataset_id: str, algorithm: str, seed: int, settings):
    """The adapter, the config and the run folder of an agent trained on `dataset_id` with
    a grid's training settings (`train_steps`, `eval_every`, `threads`, `logdir`,
    `train_overrides`)."""
    from osrl_unlearn.training import resolve_run

    adapter = get_adapter(algorithm)
    cfg = adapter.Config(task=dataset_id, seed=seed, eval_every=settings.eval_every,
                         threads=settings.threads, logdir=settings.logdir,
                         name=f"{algorithm}-seed{seed}")
    if settings.train_steps is not None:
        cfg.update_steps = settings.train_steps
    cfg = replace(cfg, **settings.train_overrides)
    return adapter, cfg, resolve_run(cfg, adapter.Config())


def ensure_trained(dataset_id: str, algorithm: str, seed: int, settings) -> Path:
    """Train an agent on `dataset_id` with a grid's training settings, or reuse its
    finished run, or continue one stopped after an evaluation."""
    from osrl_unlearn.training import RESUME_FILE, train

    adapter, cfg, run_dir = training_run(dataset_id, algorithm, seed, settings)
    if (run_dir / "config.yaml").exists():
        refuse_other_settings(run_dir, cfg, settings.train_overrides)
    if (run_dir / "timing.json").exists():
        return run_dir
    if (run_dir / "checkpoint" / RESUME_FILE).exists():
        return train(cfg, adapter, resume=True)
    if run_dir.exists():
        set_aside(run_dir)
    return train(cfg, adapter)


def refuse_other_settings(run_dir: Path, cfg, overrides: Dict[str, Any]) -> None:
    """A run directory of the same name trained with other steps or overrides (say before
    a task setting changed) is not this agent: stop rather than reuse or resume it."""
    import yaml

    stored = yaml.safe_load((run_dir / "config.yaml").read_text())
    wanted = {"update_steps": cfg.update_steps, **{key: getattr(cfg, key) for key in overrides}}
    differing = {key: (stored.get(key), value) for key, value in wanted.items()
                 if stored.get(key) != value}
    if differing:
        found = ", ".join(f"{key} {old} (wanted {new})" for key, (old, new) in differing.items())
        raise UserInputError(f"{run_dir} was trained with other settings: {found}; "
                             "move it aside to train this agent")


def ensure_poisoned_agent(cell: Cell, grid: GridConfig) -> Path:
    """Train the cell's agent on the poisoned data, or reuse it if training finished."""
    return ensure_trained(cell.dataset_id, cell.algorithm, cell.seed, grid)


def keep_digest(source: Path, dataset_id: str, ucfg: UnlearnConfig) -> str:
    """A short digest of the D_k that unlearning `dataset_id` from `source` keeps (with the
    misses and false alarms of an imperfect forget set, if `ucfg` asks for one)."""
    import numpy as np

    from osrl_unlearn.data.datasets import split_keep_forget
    from osrl_unlearn.runs import load_run
    from osrl_unlearn.unlearning.stage import defender_mask, resolve_forget

    data, mask = resolve_forget(dataset_id, load_run(source, best=False)[0])
    keep, _ = split_keep_forget(data, defender_mask(data, mask, ucfg)[0])
    digest = hashlib.sha256()
    for key in sorted(keep):
        digest.update(key.encode() + np.ascontiguousarray(keep[key]).tobytes())
    return digest.hexdigest()[:12]


def retrain_dir(cell: Cell, grid: GridConfig, source: Path, ucfg: UnlearnConfig) -> Path:
    """The retrained agent of the cell's task, algorithm and seed on its D_k, shared."""
    digest = keep_digest(source, cell.dataset_id, ucfg)
    return Path(grid.logdir) / f"{cell.task}-keep-{digest}" / f"{cell.algorithm}-seed{cell.seed}-retrain"


def reusable_clean_row(cell: Cell, grid: GridConfig, train_steps: int) -> Optional[Dict[str, Any]]:
    """The `clean` row of `grid.reuse_clean` for the cell's task, algorithm and seed whose
    run is still there and was trained for the same steps with the grid's overrides."""
    import yaml

    found = None
    for path in grid.reuse_clean:
        if not Path(path).exists():
            raise UserInputError(f"reuse_clean: no results file {path}")
        for row in read_rows(Path(path)):
            if (row["method"] != "clean" or row["status"] != "ok"
                    or (row["task"], row["algorithm"], row["seed"]) != (cell.task, cell.algorithm, cell.seed)
                    or not (Path(row["run"]) / "config.yaml").exists()):
                continue
            config = yaml.safe_load((Path(row["run"]) / "config.yaml").read_text())
            if config.get("update_steps") == train_steps and all(
                    config.get(key) == value for key, value in grid.train_overrides.items()):
                found = row  # the last such row counts
    return found


def unlearning_settings(ucfg: UnlearnConfig) -> Dict[str, Any]:
    """The unlearning settings that differ from UnlearnConfig's defaults, as rows keep them."""
    return {name: value for name, value in asdict(ucfg).items()
            if value != getattr(UnlearnConfig, name, None)}


def recorded_retrain_row(grid: GridConfig, target: Path, ucfg: UnlearnConfig, steps: int
                         ) -> Optional[Dict[str, Any]]:
    """The grid's own finished row of the retrained agent at `target` (same task, algorithm,
    seed and D_k), made with the same steps and settings, when that agent's run is not on
    this machine: trained again it would be another agent (other threads, other floating
    point), and the attacks sharing it would each see a different retraining."""
    found = None
    for row in read_rows(Path(grid.results)):
        if (row["status"] == "ok" and row.get("base_method") == "retrain"
                and row["run"] == str(target) and row["steps"] == steps
                and row.get("unlearning") == unlearning_settings(ucfg)):
            found = row  # the last such row counts
    return found


def run_method(cell: Cell, grid: GridConfig, source: Path, method: str) -> Dict[str, Any]:
    """Apply one method to the poisoned agent (or reuse its finished run) and evaluate it."""
    from osrl_unlearn.evaluation import EVALUATION_KEYS, evaluate_run
    from osrl_unlearn.training import RESUME_FILE
    from osrl_unlearn.unlearning.stage import output_dir, resumable, unlearn

    if method == POISONED:
        result = evaluate_run(source, grid.eval_episodes, best=False, seed=cell.seed)
        result.pop("task")  # the dataset id; rows keep the base task
        timing = json.loads((source / "timing.json").read_text())
        return {**result, "wall_time_s": timing["train_s"], "steps": timing["steps"]}
    ucfg = unlearn_config(grid, method, cell.seed)
    if ucfg.method == "retrain" and ucfg.forget_recall == 1.0 and ucfg.forget_precision == 1.0:
        steps = json.loads((source / "timing.json").read_text())["steps"]
        clean = reusable_clean_row(cell, grid, steps)
        if clean is not None:
            evaluation = {key: clean[key] for key in EVALUATION_KEYS if key in clean}
            return {**evaluation, "wall_time_s": clean["wall_time_s"], "steps": steps,
                    "steps_run": steps, "forget_satisfied": None, "base_method": "retrain",
                    "forget_recall": 1.0, "forget_precision": 1.0,
                    "reused_from": "clean agent of " + clean["run"]}
    target = (retrain_dir(cell, grid, source, ucfg) if ucfg.method == "retrain"
              else output_dir(source, method, None))
    summary_file = target / "unlearn_summary.json"
    if ucfg.method == "retrain" and not summary_file.exists():
        steps = json.loads((source / "timing.json").read_text())["steps"]
        recorded = recorded_retrain_row(grid, target, ucfg, steps)
        if recorded is not None:
            kept = (*EVALUATION_KEYS, "wall_time_s", "steps", "steps_run", "forget_satisfied",
                    "base_method", "model_best_retains_keep", "forget_split", "forget_recall",
                    "forget_precision", "unlearning")
            return {**{key: recorded[key] for key in kept if key in recorded},
                    "reused_from": f"retrain row of {recorded['run']} "
                                   f"({recorded['attack']} {recorded['ratio']}, {recorded['finished_at']})"}
    started = target / "config.yaml"  # written as an unlearning run starts
    if ucfg.method != "retrain" and started.exists() \
            and started.stat().st_mtime < (source / "timing.json").stat().st_mtime:
        set_aside(target, "earlier-agent")  # started from the agent before it was trained again
    if not summary_file.exists():
        # a stopped run continues; one saved by an older state format is set aside
        resume = (target / "checkpoint" / RESUME_FILE).exists() if ucfg.method == "retrain" \
            else resumable(target)
        if target.exists() and not resume:
            set_aside(target)
        unlearn(source, cell.dataset_id, ucfg, out=str(target), resume=resume)
    summary = json.loads(summary_file.read_text())
    # Retraining's model_best.pt is OSRL's pick with the environment; unlearning's is
    # the offline pick. Retraining is judged on its last checkpoint, like the source.
    result = evaluate_run(target, grid.eval_episodes, best=ucfg.method != "retrain",
                          seed=cell.seed)
    result.pop("task")
    report = summary.get("final_forget_report", {})
    return {**result, "wall_time_s": summary["wall_time_s"], "steps": summary["steps"],
            "steps_run": summary.get("steps_run", summary["steps"]),
            "forget_satisfied": report.get("forget_satisfied"), "base_method": ucfg.method,
            # False: no save retained D_k, model_best is the closest (None: retraining)
            "model_best_retains_keep": summary.get("model_best_retains_keep"),
            # recall and precision of a forget set that is not the true one (None: it is)
            "forget_split": summary.get("forget_split"),
            # an imperfect forget set changes D_k: a retrain row is then not a clean agent
            "forget_recall": ucfg.forget_recall, "forget_precision": ucfg.forget_precision,
            "unlearning": unlearning_settings(ucfg)}


@functools.lru_cache(maxsize=None)
def code_version() -> Optional[str]:
    """The commit of the osrl_unlearn code that makes a row, "+changes" when its files
    differ from it (None outside a git checkout): rows outlive the runs they came from.
    Asked once per process: the code a process runs is what it imported."""
    package = Path(__file__).resolve().parents[1]

    def git(*arguments: str) -> str:
        return subprocess.run(["git", "-C", str(package), *arguments], capture_output=True,
                              text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if changed else "")


def cell_rows(cell: Cell, grid: GridConfig, methods: Sequence[str]) -> Iterator[Dict[str, Any]]:
    """Each method's row on one poisoned agent, as soon as it is done.

    The agent is trained (or reused) before its first method; a crash is that row's
    error, and if the agent itself fails every later row says so.
    """
    source: Optional[Path] = None
    train_steps: Optional[int] = None  # the agent's, once trained (the grid may leave it open)
    failure: Optional[str] = None
    for method in methods:
        row = {**dict(zip(ROW_KEY, cell.key(method))), "dataset": cell.dataset_id,
               "train_steps": grid.train_steps, "unlearn_steps": grid.unlearn_steps,
               "code": code_version()}
        started = time.perf_counter()
        try:
            if failure is not None:
                raise RuntimeError(f"the poisoned agent failed: {failure}")
            if source is None:
                try:
                    ensure_dataset(cell, grid)
                    source = ensure_poisoned_agent(cell, grid)
                    train_steps = json.loads((source / "timing.json").read_text())["steps"]
                except Exception as error:
                    failure = _describe(error)
                    raise
            row.update(run_method(cell, grid, source, method), train_steps=train_steps,
                       status="ok")
        except Exception as error:  # one cell's crash is its row's error, not the grid's end
            row.update(status="error", error=_describe(error),
                       traceback=traceback.format_exc(limit=-3))
        row["bench_seconds"] = round(time.perf_counter() - started, 1)
        row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        yield row


def run_grid(grid: GridConfig, results: Optional[Path] = None,
             shard: Tuple[int, int] = (0, 1), ray_address: Optional[str] = None,
             use_ray: bool = False) -> Path:
    """Run every unfinished row of the grid; returns the results file.

    In this process, row after row; or with `use_ray` as Ray tasks, on this machine's
    cores (`ray_address` None) or on the cluster at `ray_address`. Either way only
    this process appends to the results file, each row as it lands. `shard` (index,
    count) takes every count-th poisoned agent from index on, so that plain processes
    without Ray can share one grid and one results file.
    """
    from tqdm.auto import tqdm

    if grid.data_dir:
        os.environ["OSRL_UNLEARN_DATA_DIR"] = str(Path(grid.data_dir).resolve())
    results = Path(results or grid.results)
    grid = replace(grid, results=str(results))  # where methods look for their earlier rows
    rows = read_rows(results)
    done = finished_keys(rows)
    methods = [POISONED, *grid_methods(grid)]
    index, count = shard
    mine = [cell for number, cell in enumerate(cells(grid)) if number % count == index]
    todo = {cell: [method for method in methods if cell.key(method) not in done] for cell in mine}
    todo = {cell: remaining for cell, remaining in todo.items() if remaining}
    stale = rows_of_another_agent(todo, rows, grid)
    todo = {cell: [method for method in methods if method in remaining + stale.get(cell, [])]
            for cell, remaining in todo.items()}
    total, left = len(mine) * len(methods), sum(map(len, todo.values()))
    print(f"grid: {total} rows, {total - left} already finished, {left} to run -> {results}")
    if stale:
        print(f"{sum(map(len, stale.values()))} finished rows of {len(stale)} poisoned agents "
              "are made again: their agent is trained again or was trained after them")
    bar = tqdm(total=left, desc="Grid rows", unit="row", position=0)

    def record(row: Dict[str, Any]) -> None:
        append_row(results, row)
        outcome = (f"reward {row['normalized_reward']:.3f} cost {row['normalized_cost']:.3f}"
                   if row["status"] == "ok" else f"ERROR {row['error']}")
        bar.write(f"{row['dataset']} {row['algorithm']} seed {row['seed']} {row['method']}: "
                  f"{outcome}")
        bar.update(1)

    if use_ray:
        from osrl_unlearn.experiments.ray_engine import run_on_ray

        run_on_ray(todo, grid, record, ray_address)
    else:
        for cell, remaining in todo.items():
            for row in cell_rows(cell, grid, remaining):
                record(row)
    bar.close()
    return results


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]
