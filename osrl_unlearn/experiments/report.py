"""The report of a benchmark results file: tables in markdown and PNG figures.

    osrl-unlearn report results/bench/results.jsonl --out results/bench/report

writes `report.md` (the headline figures, a table in the layout of the paper's
Table 1, the field's statistics with rliable (`stats.py`), wall times against
retraining, where Safe-RULE falls short, named variants, imperfect forget sets, failed
rows), `cost_reward_<task>.png` per task, `safe_share.png`, `statistics.png` and, for a
grid with forget recall / precision axes, `imperfect_forget_<cell>.png`. A result is
safe when its mean normalized cost is at most 1 (DSRL's convention).

`compare_runs` (`osrl-unlearn compare RUN...`) tables unlearning runs made by hand,
from what each run stores: its settings, summary and evaluation.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from osrl_unlearn.experiments import stats
from osrl_unlearn.experiments.bench import POISONED, ROW_KEY, read_rows
from osrl_unlearn.experiments.references import (
    reference_status, reference_verdicts, trained_alike
)
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.runs import read_progress
from osrl_unlearn.safety import is_safe

LABELS = {POISONED: "Poisoned", "safe-rule": "Safe-RULE", "finetune": "Fine-tune",
          "trajdeleter": "TrajDeleter", "reward-only": "Reward-only", "retrain": "Retrain"}
TABLE_METHODS = (POISONED, "safe-rule", "finetune", "trajdeleter", "reward-only", "retrain")
CELL = ("task", "algorithm", "attack", "ratio")  # one line of Table 1; seeds are averaged
IMPERFECT_METHODS = ("safe-rule", "finetune", "retrain")  # compared on imperfect forget sets
LOW_REWARD_FRACTION = 0.5  # below this share of retraining's reward, a result is reported


def latest_rows(rows: List[dict]) -> Tuple[List[dict], List[dict]]:
    """The last row of each key (a rerun supersedes), split into finished and failed."""
    latest: Dict[tuple, dict] = {}
    for row in rows:
        latest[tuple(row[name] for name in ROW_KEY)] = row
    finished = [row for row in latest.values() if row["status"] == "ok"]
    failed = [row for row in latest.values() if row["status"] != "ok"]
    return finished, failed


def _mean_spread(rows: List[dict], metric: str) -> Tuple[float, float, bool]:
    """Mean over seeds and its spread: the std over seeds, or with one seed the std over
    its evaluation episodes (third value True)."""
    values = [row[metric] for row in rows]
    if len(values) > 1:
        return statistics.fmean(values), statistics.pstdev(values), False
    return values[0], rows[0][f"{metric}_std"], True


def _cell_text(rows: List[dict]) -> str:
    if not rows:
        return "–"
    reward, reward_spread, per_episode = _mean_spread(rows, "normalized_reward")
    cost, cost_spread, _ = _mean_spread(rows, "normalized_cost")
    text = f"{reward:.2f}±{reward_spread:.2f} / {cost:.2f}±{cost_spread:.2f}"
    text += "†" if per_episode else ""
    return f"**{text}**" if is_safe(cost) else text


def group(rows: List[dict], keys: Sequence[str]) -> Dict[tuple, List[dict]]:
    grouped: Dict[tuple, List[dict]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[key] for key in keys)].append(row)
    return dict(sorted(grouped.items(), key=lambda item: tuple(map(str, item[0]))))


def method_table(rows: List[dict], methods: Sequence[str],
                 clean_rows: Sequence[dict] = ()) -> str:
    """One line per task, algorithm, attack and ratio; `reward / cost` per method, and
    whether retraining (the agent trained on the clean data) is a safe reference, judged
    over the seeds of `rows` and of `clean_rows` (agents trained alike elsewhere)."""
    header = (["task", "algorithm", "attack", "ratio", "seeds"] + [LABELS.get(m, m) for m in methods]
              + ["reference"])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    verdicts = reference_verdicts([*clean_rows, *rows])
    for cell, cell_rows in group(rows, CELL).items():
        by_method = group(cell_rows, ("method",))
        seeds = len({row["seed"] for row in cell_rows})
        texts = [_cell_text(by_method.get((method,), [])) for method in methods]
        task, algorithm, attack, ratio = cell
        verdict = verdicts.get((task, algorithm))
        if verdict is None:
            reference = "no retraining"
        else:  # "safe k/n", then what a cell without a safe reference lacks
            reference = f"safe {verdict['safe_seeds']}/{verdict['seeds']}"
            status = reference_status(verdict)
            if status:
                reference += f": {status}" if verdict["no_safe_reference"] else f" ({status})"
        lines.append("| " + " | ".join([task, algorithm, attack, f"{ratio:g}", str(seeds),
                                         *texts, reference]) + " |")
    return "\n".join(lines)


def paired(rows: List[dict], method: str, other: str) -> List[Tuple[dict, dict]]:
    """Rows of `method` and `other` on the same poisoned agent (same cell and seed)."""
    by_agent = group(rows, CELL + ("seed",))
    pairs = []
    for agent_rows in by_agent.values():
        by_method = {row["method"]: row for row in agent_rows}
        if method in by_method and other in by_method:
            pairs.append((by_method[method], by_method[other]))
    return pairs


def _median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def matters_pairs(rows: List[dict], method: str) -> List[Tuple[dict, dict]]:
    """(method's row, retraining's row) on every agent where unlearning is needed and has
    a reference: retraining safe, the poisoned agent not."""
    return [(by_method[method], by_method["retrain"])
            for by_method in ({row["method"]: row for row in agent_rows}
                              for agent_rows in group(rows, CELL + ("seed",)).values())
            if {method, POISONED, "retrain"} <= set(by_method)
            and by_method[POISONED]["normalized_cost"] > 1
            and is_safe(by_method["retrain"]["normalized_cost"])]


def method_summary(rows: List[dict], method: str) -> Dict[str, Optional[float]]:
    """The headline figures of one method against the poisoned agent and retraining."""
    against_poisoned = paired(rows, method, POISONED)
    was_unsafe = [(row, before) for row, before in against_poisoned if before["normalized_cost"] > 1]
    against_retrain = paired(rows, method, "retrain")
    fractions = [row["normalized_reward"] / reference["normalized_reward"]
                 for row, reference in against_retrain if reference["normalized_reward"] > 0]
    time_ratios = [row["wall_time_s"] / reference["wall_time_s"]
                   for row, reference in against_retrain]
    results = [row for row in rows if row["method"] == method]
    matters = matters_pairs(rows, method)
    return {
        "results": len(results),
        "safe_share": (sum(is_safe(row["normalized_cost"]) for row in results) / len(results))
        if results else None,
        "agents_poisoned_unsafe": len(was_unsafe),
        "made_safe_share": (sum(is_safe(row["normalized_cost"]) for row, _ in was_unsafe)
                            / len(was_unsafe)) if was_unsafe else None,
        "median_reward_fraction_of_retrain": _median(fractions),
        "median_wall_time_ratio_to_retrain": _median(time_ratios),
        "agents_that_matter": len(matters),
        "safe_where_it_matters": sum(is_safe(row["normalized_cost"]) for row, _ in matters),
        "median_reward_fraction_where_it_matters": _median(
            [row["normalized_reward"] / reference["normalized_reward"]
             for row, reference in matters if reference["normalized_reward"] > 0]),
    }


def _fmt(value: Optional[float], pattern: str = "{:.2f}") -> str:
    return "–" if value is None else pattern.format(value)


def summary_table(rows: List[dict], methods: Sequence[str]) -> str:
    lines = ["| method | results | ends safe | made safe (poisoned agent unsafe) | "
             "median reward / retraining's | median wall time / retraining's | "
             "where it matters (retraining safe, poisoned agent not): safe | its median "
             "reward / retraining's |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for method in methods:
        if method in (POISONED, "retrain"):
            continue
        figures = method_summary(rows, method)
        made_safe = _fmt(figures["made_safe_share"], "{:.0%}")
        if figures["agents_poisoned_unsafe"]:
            made_safe += f" of {figures['agents_poisoned_unsafe']}"
        lines.append(
            f"| {LABELS.get(method, method)} | {figures['results']} | "
            f"{_fmt(figures['safe_share'], '{:.0%}')} | {made_safe} | "
            f"{_fmt(figures['median_reward_fraction_of_retrain'])} | "
            f"{_fmt(figures['median_wall_time_ratio_to_retrain'], '{:.2f}')} | "
            f"{figures['safe_where_it_matters']} of {figures['agents_that_matter']} | "
            f"{_fmt(figures['median_reward_fraction_where_it_matters'])} |")
    return "\n".join(lines)


def wall_time_table(rows: List[dict], methods: Sequence[str]) -> str:
    """Each method's wall time against retraining's on the same agent, and against the
    poisoned agent's own training (the same steps as retraining, run just before the
    method in the same process, so on the same machine under the same load: a shared
    retraining may have run elsewhere), with the steps it ran; means over seeds."""
    lines = ["| task | algorithm | attack | ratio | method | steps run | wall time (s) | "
             "retraining (s) | ratio | training the agent (s) | ratio |",
             "|" + " --- |" * 11]
    for cell, cell_rows in group(rows, CELL).items():
        for method in methods:
            if method in (POISONED, "retrain"):
                continue
            pairs = paired(cell_rows, method, "retrain")
            if not pairs:
                continue
            own = statistics.fmean(row["wall_time_s"] for row, _ in pairs)
            reference = statistics.fmean(ref["wall_time_s"] for _, ref in pairs)
            ratio = statistics.fmean(row["wall_time_s"] / ref["wall_time_s"] for row, ref in pairs)
            steps = statistics.fmean(row.get("steps_run") or row["steps"] for row, _ in pairs)
            trained = paired(cell_rows, method, POISONED)
            training = "– | –"
            if trained:
                agent_time = statistics.fmean(agent["wall_time_s"] for _, agent in trained)
                agent_ratio = statistics.fmean(row["wall_time_s"] / agent["wall_time_s"]
                                               for row, agent in trained)
                training = f"{agent_time:.0f} | {agent_ratio:.2f}"
            task, algorithm, attack, ratio_value = cell
            lines.append(f"| {task} | {algorithm} | {attack} | {ratio_value:g} | "
                         f"{LABELS.get(method, method)} | {steps:,.0f} | {own:.0f} | "
                         f"{reference:.0f} | {ratio:.2f} | {training} |")
    return "\n".join(lines)


def shortfalls(rows: List[dict]) -> str:
    """Where Safe-RULE ends unsafe or keeps under half of retraining's reward, and by what."""
    pairs = paired(rows, "safe-rule", "retrain")
    if not pairs:
        return "No Safe-RULE result has a retraining result beside it yet."
    lines = ["| by | value | agents | Safe-RULE unsafe | reward under half of retraining's |",
             "| --- | --- | --- | --- | --- |"]
    for axis in ("attack", "algorithm", "ratio", "task"):
        for value, axis_pairs in group([{**row, "_pair": ref} for row, ref in pairs],
                                       (axis,)).items():
            unsafe = sum(row["normalized_cost"] > 1 for row in axis_pairs)
            low = sum(row["_pair"]["normalized_reward"] > 0 and row["normalized_reward"]
                      < LOW_REWARD_FRACTION * row["_pair"]["normalized_reward"]
                      for row in axis_pairs)
            lines.append(f"| {axis} | {value[0]} | {len(axis_pairs)} | {unsafe} | {low} |")
    return "\n".join(lines)


def plot_cost_reward(rows: List[dict], task: str, methods: Sequence[str], out: Path) -> Path:
    """Normalized cost against normalized reward of every result on one task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = "oX^sDvP*"
    figure, axis = plt.subplots(figsize=(6.4, 4.6))
    for index, method in enumerate(methods):
        chosen = [row for row in rows if row["task"] == task and row["method"] == method]
        if chosen:
            axis.scatter([row["normalized_cost"] for row in chosen],
                         [row["normalized_reward"] for row in chosen],
                         marker=markers[index % len(markers)], s=46, alpha=0.8,
                         label=LABELS.get(method, method))
    axis.axvline(1.0, color="k", linestyle="--", linewidth=1, label="cost limit")
    axis.set_xlabel("normalized cost (safe: <= 1)")
    axis.set_ylabel("normalized reward")
    axis.set_title(f"{task}: every algorithm, attack, ratio and seed (generated data)",
                   fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def is_imperfect(row: dict) -> bool:
    """A result of a method run on an imperfect forget set (recall or precision under 1)."""
    return row.get("forget_recall", 1.0) < 1.0 or row.get("forget_precision", 1.0) < 1.0


def split_rows(rows: List[dict]) -> Dict[tuple, Dict[Tuple[float, float, str], List[dict]]]:
    """Per cell with imperfect results: every (recall, precision, base method)'s rows,
    the grid's perfect-forget-set rows as recall = precision = 1."""
    cells = {tuple(row[key] for key in CELL) for row in rows if is_imperfect(row)}
    splits: Dict[tuple, Dict[Tuple[float, float, str], List[dict]]] = {}
    for cell, chosen in group(rows, CELL).items():
        if cell not in cells:
            continue
        by_split: Dict[Tuple[float, float, str], List[dict]] = defaultdict(list)
        for row in chosen:
            base = row.get("base_method", row["method"])
            if base in IMPERFECT_METHODS and (is_imperfect(row) or row["method"] == base):
                by_split[(row.get("forget_recall", 1.0), row.get("forget_precision", 1.0),
                          base)].append(row)
        splits[cell] = dict(by_split)
    return splits


def imperfect_table(rows: List[dict]) -> str:
    """Reward / cost of each method on each imperfect forget set, per cell."""
    header = ["task", "algorithm", "attack", "ratio", "recall", "precision"] + [
        LABELS[method] for method in IMPERFECT_METHODS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for (task, algorithm, attack, ratio), by_split in split_rows(rows).items():
        for recall, precision in sorted({key[:2] for key in by_split}, reverse=True):
            cells = [_cell_text(by_split.get((recall, precision, method), []))
                     for method in IMPERFECT_METHODS]
            lines.append(f"| {task} | {algorithm} | {attack} | {ratio:g} | {recall:g} | "
                         f"{precision:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_imperfect(rows: List[dict], out: Path) -> List[Path]:
    """Per cell, heatmaps over recall x precision of each method's mean normalized cost
    (centred on the cost limit) and reward over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    paths = []
    for (task, algorithm, attack, ratio), by_split in split_rows(rows).items():
        recalls = sorted({key[0] for key in by_split}, reverse=True)
        precisions = sorted({key[1] for key in by_split})
        means = {metric: np.full((len(IMPERFECT_METHODS), len(recalls), len(precisions)), np.nan)
                 for metric in ("normalized_cost", "normalized_reward")}
        for (recall, precision, method), chosen in by_split.items():
            for metric, values in means.items():
                values[IMPERFECT_METHODS.index(method), recalls.index(recall),
                       precisions.index(precision)] = statistics.fmean(
                    row[metric] for row in chosen)
        figure, axes = plt.subplots(2, len(IMPERFECT_METHODS), figsize=(10, 6.4), squeeze=False,
                                    constrained_layout=True)
        cost_top = max(2.0, float(np.nanmax(means["normalized_cost"])))
        styles = {"normalized_cost": ("RdYlGn_r", TwoSlopeNorm(1.0, 0.0, cost_top)),
                  "normalized_reward": ("viridis", plt.Normalize(
                      float(np.nanmin(means["normalized_reward"])),
                      float(np.nanmax(means["normalized_reward"]))))}
        for row_index, (metric, values) in enumerate(means.items()):
            colours, norm = styles[metric]
            for column, method in enumerate(IMPERFECT_METHODS):
                axis = axes[row_index, column]
                image = axis.imshow(values[column], cmap=colours, norm=norm)
                for (y, x), value in np.ndenumerate(values[column]):
                    if not np.isnan(value):
                        axis.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=8)
                axis.set_xticks(range(len(precisions)), [f"{p:g}" for p in precisions])
                axis.set_yticks(range(len(recalls)), [f"{r:g}" for r in recalls])
                axis.set_xlabel("forget-set precision")
                if column == 0:
                    axis.set_ylabel("forget-set recall")
                axis.set_title(f"{LABELS[method]}: {metric.replace('_', ' ')}", fontsize=9)
            figure.colorbar(image, ax=axes[row_index].tolist(), shrink=0.8)
        figure.suptitle(f"{task} {algorithm} {attack} {ratio:g}: a defender who is not sure "
                        f"(mean over seeds; cost limit 1; generated data)", fontsize=9)
        path = out / f"imperfect_forget_{task}-{algorithm}-{attack}-{ratio:g}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


def plot_safe_share(rows: List[dict], methods: Sequence[str], out: Path) -> Path:
    """How often each method ends safe, over every finished result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares, counts = [], []
    for method in methods:
        results = [row for row in rows if row["method"] == method]
        counts.append(len(results))
        shares.append(sum(is_safe(row["normalized_cost"]) for row in results) / max(len(results), 1))
    figure, axis = plt.subplots(figsize=(6.4, 3.6))
    bars = axis.bar([LABELS.get(method, method) for method in methods], shares, color="tab:green")
    for bar, count in zip(bars, counts):
        axis.annotate(f"n={count}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)
    axis.set_ylim(0, 1.1)
    axis.set_ylabel("share of results that end safe")
    axis.set_title("How often each method ends safe (normalized cost <= 1)", fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def compare_runs(run_dirs: Sequence[Path]) -> str:
    """A markdown line per unlearning run: the settings that differ, steps, wall time,
    the offline choice of model_best.pt (its step, the share of D_f meeting the forget
    constraints there, its retention ratio) and the stored evaluation of model_best.pt."""
    import yaml

    from osrl_unlearn.unlearning.objective import UnlearnConfig

    defaults = UnlearnConfig()
    lines = ["| run | method | settings (other than defaults) | steps | wall time (s) | "
             "model_best step | D_f meeting the constraints there | retention ratio there | "
             "normalized reward | normalized cost |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run_dir in map(Path, run_dirs):
        summary_file, evaluation_file = run_dir / "unlearn_summary.json", run_dir / "eval_model_best.json"
        if not summary_file.exists():
            raise UserInputError(f"{run_dir} is not a finished unlearning run (no unlearn_summary.json)")
        if not evaluation_file.exists():
            raise UserInputError(f"{run_dir} has no evaluation yet: osrl-unlearn eval --path {run_dir}")
        summary = json.loads(summary_file.read_text())
        evaluation = json.loads(evaluation_file.read_text())
        settings = yaml.safe_load((run_dir / "config.yaml").read_text())["unlearning"]
        changed = ", ".join(f"{name}={value}" for name, value in settings.items()
                            if name not in ("method", "steps")
                            and value != getattr(defaults, name, value))
        chosen = read_progress(run_dir / "progress.txt").get(summary.get("best_step"), {})
        lines.append(
            f"| {run_dir.name} | {summary['method']} | {changed or '–'} | {summary['steps']} | "
            f"{summary['wall_time_s']:.0f} | {_fmt(summary.get('best_step'), '{}')} | "
            f"{_fmt(chosen.get('forget_satisfied'), '{:.0%}')} | "
            f"{_fmt(chosen.get('retention_ratio'), '{:.2f}')} | "
            f"{evaluation['normalized_reward']:.3f} ± {evaluation['normalized_reward_std']:.3f} | "
            f"{evaluation['normalized_cost']:.3f} ± {evaluation['normalized_cost_std']:.3f} |")
    return "\n".join(lines)


def statistics_sections(rows: List[dict], methods: Sequence[str], out: Path
                        ) -> Tuple[List[str], List[Path]]:
    """The rliable section: IQM with intervals, Safe-RULE's probability of improvement,
    and the headline where it matters with bootstrap intervals; and its figure."""
    matrices_reward, cells, seeds = stats.score_matrices(rows, methods, "normalized_reward")
    if not cells:
        return ["## Statistics (rliable)", "No cell has a result of every method yet."], []
    matrices_cost, _, _ = stats.score_matrices(rows, methods, "normalized_cost")
    reward, cost = stats.iqm_intervals(matrices_reward), stats.iqm_intervals(matrices_cost)
    note = f"{cells} cells x {seeds} seeds, {stats.REPS:,} resamples"
    lines = ["| method | IQM normalized reward [95% CI] | IQM normalized cost [95% CI] |",
             "| --- | --- | --- |"]
    for method in methods:
        lines.append(f"| {LABELS.get(method, method)} | "
                     f"{reward[0][method]:.3f} [{reward[1][method][0]:.3f}, {reward[1][method][1]:.3f}] | "
                     f"{cost[0][method]:.2f} [{cost[1][method][0]:.2f}, {cost[1][method][1]:.2f}] |")
    sections = ["## Statistics (rliable)",
                f"Interquartile mean over the {cells} cells x {seeds} seeds where every method "
                f"has a result (the largest such block), with stratified-bootstrap 95% "
                f"intervals (seeds resampled within each cell; {stats.REPS:,} resamples).",
                "\n".join(lines)]
    if "safe-rule" in methods:
        more_reward = stats.improvement_probabilities(matrices_reward, "safe-rule")
        less_cost = stats.improvement_probabilities(matrices_cost, "safe-rule", lower_is_better=True)
        lines = ["| Safe-RULE against | P(more reward) [95% CI] | P(less cost) [95% CI] |",
                 "| --- | --- | --- |"]
        for other, (value, interval) in more_reward.items():
            cost_value, cost_interval = less_cost[other]
            lines.append(f"| {LABELS.get(other, other)} | {value:.2f} [{interval[0]:.2f}, "
                         f"{interval[1]:.2f}] | {cost_value:.2f} [{cost_interval[0]:.2f}, "
                         f"{cost_interval[1]:.2f}] |")
        sections += ["Probability of improvement: for a cell, the chance that a seed of "
                     "Safe-RULE beats a seed of the other method, averaged over cells "
                     "(0.5: no difference).", "\n".join(lines)]
    lines = ["| method | where it matters: agents | ends safe [95% CI] | "
             "median reward / retraining's [95% CI] |", "| --- | --- | --- | --- |"]
    for method in methods:
        if method in (POISONED, "retrain"):
            continue
        matters = matters_pairs(rows, method)
        safe = stats.bootstrap_interval([float(is_safe(row["normalized_cost"]))
                                         for row, _ in matters], np.mean)
        fraction = stats.bootstrap_interval(
            [row["normalized_reward"] / reference["normalized_reward"]
             for row, reference in matters if reference["normalized_reward"] > 0], np.median)
        lines.append(f"| {LABELS.get(method, method)} | {len(matters)} | "
                     f"{_interval_text(safe, '{:.0%}')} | {_interval_text(fraction, '{:.2f}')} |")
    sections += ["Where unlearning matters (retraining safe, the poisoned agent not), with "
                 "bootstrap 95% intervals over those agents:", "\n".join(lines)]
    figure = stats.plot_iqm(reward, cost, LABELS, out / "statistics.png", note)
    return sections, [figure]


def _interval_text(estimate: Optional[Tuple[float, float, float]], pattern: str) -> str:
    if estimate is None:
        return "–"
    value, low, high = estimate
    return f"{pattern.format(value)} [{pattern.format(low)}, {pattern.format(high)}]"


def retraining_note(rows: List[dict]) -> str:
    """How many retrained agents the retraining rows stand on (they are shared across attacks)."""
    retrained = [row for row in rows if row["method"] == "retrain"]
    if not retrained:
        return ""
    runs = len({row.get("run") for row in retrained})
    return (f" Retraining: {runs} agent{'s' * (runs != 1)} for {len(retrained)} rows, one per "
            f"task, algorithm, seed and kept data D_k, shared by every attack and ratio whose "
            f"D_k is the same.")


def read_results(results: Path) -> List[dict]:
    """The rows of a bench (or references) results file; a clear error if it is not one."""
    results = Path(results)
    if not results.exists():
        raise UserInputError(f"results file not found: {results}")
    try:
        rows = read_rows(results)
    except ValueError as error:
        raise UserInputError(f"{results} is not a JSON-lines results file ({error})") from None
    needed = set(ROW_KEY) | {"status"}
    if any(needed - set(row) for row in rows):
        raise UserInputError(f"{results} has rows without {sorted(needed)}: not a bench results file")
    return rows


def references_note(elsewhere: List[dict], clean: Sequence[Path]) -> str:
    """Where the reference verdicts' other seeds come from, if from anywhere."""
    if not clean:
        return ""
    agents = {(row["task"], row["algorithm"], row["seed"]) for row in elsewhere}
    return (f" Reference verdicts also count {len(agents)} clean agents trained alike (same "
            f"task, algorithm and steps) from {', '.join(str(path) for path in clean)}.")


def write_report(results: Path, out: Path, clean: Sequence[Path] = ()) -> Path:
    """Write report.md and the figures for a results file; returns report.md.

    `clean`: results files whose clean agents (`references` rows, a bench's `retrain`
    rows) trained as this file's agents were also count in each cell's reference verdict,
    so that a one-seed grid says which cells have no safe reference.
    """
    results = Path(results)
    rows = read_results(results)
    finished, failed = latest_rows(rows)
    if not finished:
        raise UserInputError(f"{results} has no finished results yet")
    imperfect = [row for row in finished if is_imperfect(row)]
    finished = [row for row in finished if not is_imperfect(row)]
    elsewhere = trained_alike([row for path in clean for row in read_results(path)], finished)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    present = {row["method"] for row in finished}
    table_methods = [method for method in TABLE_METHODS if method in present]
    variants = sorted(present - set(TABLE_METHODS))
    all_methods = table_methods + variants

    figures = [plot_cost_reward(finished, task, all_methods, out / f"cost_reward_{task}.png")
               for task in sorted({row["task"] for row in finished})]
    figures.append(plot_safe_share(finished, all_methods, out / "safe_share.png"))
    agents = len(group(finished, CELL + ("seed",)))
    bench_hours = sum(row.get("bench_seconds", 0.0) for row in finished) / 3600
    steps = sorted({(row["train_steps"], row["unlearn_steps"]) for row in finished})
    sections = [
        f"# Benchmark report: {results.name}",
        f"{len(finished)} finished results on {agents} poisoned agents, {len(failed)} failed "
        f"rows. Data: this project's generated datasets (not DSRL's official data). "
        f"Training / unlearning steps: {', '.join(f'{t:,} / {u:,}' for t, u in steps)}. "
        f"Poisoned and retrained agents are evaluated on their last checkpoint, unlearned "
        f"ones on model_best.pt, chosen offline. Bench time of the finished rows: "
        f"{bench_hours:.1f} h, {60 * bench_hours / agents:.0f} min per poisoned agent with "
        f"all its methods.{retraining_note(finished)}{references_note(elsewhere, clean)}",
        "## Headline", summary_table(finished, all_methods),
        "## Normalized reward / cost (Table 1 layout)",
        "Mean ± spread over seeds; † marks a single seed, whose spread is over its "
        "evaluation episodes. **Bold**: safe (normalized cost <= 1).",
        method_table(finished, table_methods, elsewhere),
    ]
    if variants:
        sections += ["## Named variants", method_table(finished, [POISONED, *variants], elsewhere)]
    statistics_text, statistics_figures = statistics_sections(finished, table_methods, out)
    figures += statistics_figures
    sections += [
        *statistics_text,
        "## Wall time against retraining",
        "Retraining is one agent shared by every attack and ratio, and may have been trained "
        "on another machine or beside other work; the poisoned agent's own training ran the "
        "same steps as retraining in the same process just before its methods, so the last "
        "ratio is the one measured in one run.",
        wall_time_table(finished, all_methods),
        "## Where Safe-RULE falls short", shortfalls(finished),
    ]
    if imperfect:
        figures += plot_imperfect(finished + imperfect, out)
        sections += [
            "## A defender who is not sure: imperfect forget sets",
            "Each method on forget sets that keep a share (recall) of the poisoned episodes "
            "and are that pure (precision); retraining trains on the D_k each leaves. "
            "Recall = precision = 1 is the grid's own rows. Reward / cost as above.",
            imperfect_table(finished + imperfect)]
    sections += [
        "## Figures", *[f"![{figure.stem}]({figure.name})" for figure in figures],
    ]
    if failed:
        sections += ["## Failed rows", "\n".join(
            f"- {row['task']} {row['algorithm']} {row['attack']} {row['ratio']:g} seed "
            f"{row['seed']} {row['method']}: {row['error']}" for row in failed)]
    report = out / "report.md"
    report.write_text("\n\n".join(sections) + "\n")
    return report
