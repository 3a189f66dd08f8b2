"""The `osrl-unlearn` command line. Each subcommand only parses and calls the package."""

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from osrl_unlearn.errors import UserInputError
from osrl_unlearn.data.tasks import DEFAULT_COST_LIMIT
from osrl_unlearn.unlearning.objective import UnlearnConfig


def _cmd_doctor(args: argparse.Namespace) -> int:
    from osrl_unlearn.doctor import doctor

    return doctor()


def _cmd_collect(args: argparse.Namespace) -> int:
    from osrl_unlearn.data import datasets
    from osrl_unlearn.data.collect import collect_to_file, summarise
    from osrl_unlearn.data.plots import plot_dataset
    from osrl_unlearn.data.tasks import check_task
    from osrl_unlearn.data.variants import base_dataset_path

    check_task(args.task)
    out = Path(args.out) if args.out else base_dataset_path(args.task)
    collect_to_file(args.task, args.episodes, out, args.seed)
    data, _ = datasets.read_hdf5(out)
    summary = summarise(data, args.cost_limit)
    picture = plot_dataset(data, args.cost_limit, f"{args.task} (generated)", out.with_suffix(".png"))
    print(json.dumps({"task": args.task, "file": str(out), "plot": str(picture), **summary}))
    return 0


def _cmd_poison(args: argparse.Namespace) -> int:
    from osrl_unlearn.data import datasets
    from osrl_unlearn.data.collect import summarise
    from osrl_unlearn.data.plots import plot_dataset
    from osrl_unlearn.data.attacks import ATTACKS
    from osrl_unlearn.data.registration import variant_id
    from osrl_unlearn.data.tasks import check_task
    from osrl_unlearn.data.variants import build_poisoned_dataset

    check_task(args.task)
    if args.attack not in ATTACKS:
        raise UserInputError(f"unknown attack {args.attack!r}; known attacks: {', '.join(ATTACKS)}")
    if not 0.0 < args.ratio < 1.0:
        raise UserInputError(f"--ratio must be strictly between 0 and 1, got {args.ratio}")
    out = build_poisoned_dataset(
        args.task, args.attack, args.ratio, args.seed,
        base_path=Path(args.base) if args.base else None,
        out=Path(args.out) if args.out else None,
        donors_path=Path(args.donors) if args.donors else None,
        copies=args.copies,
    )
    data, _ = datasets.read_hdf5(out)
    name = variant_id(args.task, args.attack, args.ratio, args.copies)
    picture = plot_dataset(data, args.cost_limit, f"{name} (generated)", out.with_suffix(".png"))
    forget = data[datasets.FORGET_MASK_KEY]
    print(json.dumps({
        "id": name, "file": str(out), "plot": str(picture),
        "forget_transitions": int(forget.sum()), "forget_fraction": round(float(forget.mean()), 4),
        **summarise(data, args.cost_limit),
    }))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from osrl_unlearn.evaluation import evaluate_run

    result = evaluate_run(Path(args.path), args.episodes, best=not args.last, seed=args.seed)
    print(
        f"{result['run']} ({result['checkpoint']}, {args.episodes} episodes): "
        f"normalized reward {result['normalized_reward']:.3f} +- {result['normalized_reward_std']:.3f}, "
        f"normalized cost {result['normalized_cost']:.3f} +- {result['normalized_cost_std']:.3f}, "
        f"{'safe' if result['safe'] else 'UNSAFE'}"
    )
    return 0


def _cmd_saves(args: argparse.Namespace) -> int:
    from osrl_unlearn.evaluation import OFFLINE_CHOICE_KEYS, evaluate_saves

    rows = evaluate_saves(Path(args.path), args.episodes, args.seed)
    print("step\tretention ratio\tpolicy shift\tD_f forgotten\treward\tcost")
    for row in rows:
        offline = "\t".join("-" if row[key] is None else f"{row[key]:.3f}"
                            for key in OFFLINE_CHOICE_KEYS)
        print(f"{row['step']}{' (model_best)' if row['model_best'] else ''}\t{offline}\t"
              f"{row['normalized_reward']:.3f}\t{row['normalized_cost']:.2f}"
              f"{'' if row['safe'] else ' UNSAFE'}")
    print(f"written: {Path(args.path) / 'saves.json'}")
    return 0


# Parsed by pyrallis, as OSRL's training scripts are: the unlearning options are
# --unlearning.<field> here, in examples/train_*.py and in the patched OSRL scripts.
@dataclass
class UnlearnCommand:
    """Unlearn a forget set from an OSRL run into a new run; spelled as OSRL's scripts are."""

    # source run directory logs/<group>/<name> (required)
    path: Optional[str] = None
    # forget set: a poisoned dataset id, a poisoned HDF5 file, or a .npy mask
    forget: Optional[str] = None
    # forget set: a text file of episode indices (0-based) of the run's data, one per line or a-b
    forget_episodes: Optional[str] = None
    # new run directory (None: <path>-<method>)
    out: Optional[str] = None
    # continue an interrupted run (--resume true)
    resume: bool = False
    unlearning: UnlearnConfig = field(default_factory=UnlearnConfig)


def parse_unlearn_command(argv: List[str]) -> UnlearnCommand:
    """Parse `osrl-unlearn unlearn`'s options with pyrallis; a bad value is a UserInputError."""
    import pyrallis
    from pyrallis.utils import ParsingError

    parser = pyrallis.argparsing.ArgumentParser(config_class=UnlearnCommand,
                                                prog="osrl-unlearn unlearn")
    try:
        command = parser.parse_args(argv)
    except ParsingError as error:
        found = re.search(r"value='(.*)' into field \"<class '[\w.]+\.(\w+)'>\.(\w+)\" of type "
                          r"<class '(\w+)'>", str(error))
        if not found:
            raise UserInputError(str(error).splitlines()[0]) from None
        value, owner, name, kind = found.groups()
        prefix = "unlearning." if owner == "UnlearnConfig" else ""
        raise UserInputError(f"--{prefix}{name} must be {kind}, got {value!r}") from None
    if command.path is None:
        raise UserInputError("--path is required: the source run directory logs/<group>/<name>")
    return command


def _cmd_unlearn(argv: List[str]) -> int:
    command = parse_unlearn_command(argv)
    from osrl_unlearn.unlearning.stage import unlearn

    run_dir = unlearn(Path(command.path), command.forget, command.unlearning, out=command.out,
                      resume=command.resume, forget_episodes=command.forget_episodes)
    summary = json.loads((run_dir / "unlearn_summary.json").read_text())
    print(f"unlearned run: {run_dir}")
    print(json.dumps(summary))
    return 0


def load_dataset(dataset: str):
    """A dataset id's data, or an HDF5 file's."""
    from osrl_unlearn.data import datasets
    from osrl_unlearn.data.variants import load_variant_dataset

    if dataset.endswith((".hdf5", ".h5")):
        if not Path(dataset).exists():
            raise UserInputError(f"dataset file not found: {dataset}")
        return datasets.read_hdf5(Path(dataset))[0]
    return load_variant_dataset(dataset)


def _print_detection(report: dict, out: Path) -> None:
    for name, quality in report.get("quality", {}).items():
        print(f"{name}: ROC AUC {quality['auc']:.3f}, precision {quality['precision']:.3f}, "
              f"recall {quality['recall']:.3f} ({quality['flagged']} flagged, "
              f"{quality['poisoned']} poisoned episodes)")
    print(f"forget mask: {out / 'forget_mask.npy'} (unlearn with --forget); ranking: "
          f"{out / 'ranking.csv'}")


def _cmd_detect(args: argparse.Namespace) -> int:
    from osrl_unlearn.data.detection import detect

    out = Path(args.out)
    _print_detection(detect(load_dataset(args.dataset), out, args.share, args.neighbours,
                            args.dataset), out)
    return 0


def _cmd_defend(args: argparse.Namespace) -> int:
    from osrl_unlearn.pipeline import defend

    summary = defend(Path(args.path), args.dataset, Path(args.out), args.share, args.neighbours,
                     args.episodes)
    _print_detection(summary["detection"], Path(args.out) / "detection")
    result = summary["evaluation"]
    print(f"unlearned run: {summary['run']}: normalized reward {result['normalized_reward']:.3f}, "
          f"normalized cost {result['normalized_cost']:.3f}, "
          f"{'safe' if result['safe'] else 'UNSAFE'}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from osrl_unlearn.audit import AuditConfig, audit

    config = AuditConfig(references=args.references, reference_steps=args.reference_steps,
                         z_threshold=args.z_threshold, relearn_steps=args.relearn_steps,
                         relearn_eval_every=args.relearn_eval_every,
                         eval_episodes=args.episodes, seed=args.seed)
    out = Path(args.out or Path(args.path) / "audit")
    report = audit(Path(args.path), args.forget, Path(args.retrained), out, config,
                   best=args.checkpoint == "best")
    mine, theirs = report["relearning"], report["retrained_relearning"]
    print(f"audit of {args.path} on {args.forget} against {args.retrained}:")
    print(f"  forget episodes judged forgotten: {report['share_forgotten']:.2f} of "
          f"{report['forget_episodes']}")
    print(f"  action distance to the retrained agent: {report['policy_distance_forget']:.3f} "
          f"on D_f states, {report['policy_distance_keep']:.3f} on D_k states")
    print(f"  relearning on D_f until unsafe: {mine['unsafe_after_steps']} steps "
          f"(retrained agent: {theirs['unsafe_after_steps']}; None: safe throughout "
          f"{config.relearn_steps} steps)")
    print(f"  written to {out / 'audit.json'}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from osrl_unlearn.experiments.bench import load_grid, run_grid

    grid = load_grid(Path(args.config))
    if args.threads is not None:
        grid.threads = args.threads
    shard = _parse_shard(args.shard)
    if args.ray is not None and shard != (0, 1):
        raise UserInputError("--ray and --shard do not mix: Ray shares the grid out itself")
    results = run_grid(grid, Path(args.results) if args.results else None, shard,
                       ray_address=None if args.ray in (None, LOCAL_RAY) else args.ray,
                       use_ray=args.ray is not None)
    print(f"results: {results}; report: osrl-unlearn report {results} --out <dir>")
    return 0


LOCAL_RAY = "local"  # `--ray` without an address


def _cmd_references(args: argparse.Namespace) -> int:
    from osrl_unlearn.experiments.references import load_references_config, run_references

    config = load_references_config(Path(args.config))
    if args.threads is not None:
        config.threads = args.threads
    # beside the config's results file unless told: a second config must not overwrite
    # the first one's report
    out = Path(args.out) if args.out else Path(config.results).parent
    print(f"report: {run_references(config, out)}")
    return 0


def _cmd_bite(args: argparse.Namespace) -> int:
    from osrl_unlearn.experiments.bite import write_bite_report

    for path in [*args.poisoned, *args.clean]:
        if not Path(path).exists():
            raise UserInputError(f"no results file {path}")
    print(f"report: {write_bite_report(args.poisoned, args.clean, Path(args.out))}")
    return 0


def _parse_shard(text: str):
    """`I/N` -> (I, N), with 0 <= I < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserInputError(f"--shard must look like 0/2, got {text!r}") from None
    if not 0 <= index < count:
        raise UserInputError(f"--shard {text}: the index must be in 0..{count - 1}")
    return index, count


def _cmd_report(args: argparse.Namespace) -> int:
    from osrl_unlearn.experiments.report import write_report

    clean = [Path(path) for path in args.clean]
    print(f"report: {write_report(Path(args.results), Path(args.out), clean)}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from osrl_unlearn.experiments.report import compare_runs

    table = compare_runs([Path(path) for path in args.runs])
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table + "\n")
    return 0


def _cmd_step_cost(args: argparse.Namespace) -> int:
    from osrl_unlearn.adapters import get_adapter
    from osrl_unlearn.experiments.profiling import measure_step_cost
    from osrl_unlearn.data.registration import parse_variant_id

    get_adapter(args.algorithm)
    if parse_variant_id(args.task).attack is None:
        raise UserInputError(f"--task must be a poisoned id (it needs a forget set), got {args.task}")
    if args.repeats < 1 or args.steps < 1:
        raise UserInputError("--repeats and --steps must be at least 1")
    figures = measure_step_cost(args.task, args.algorithm, args.steps, args.batch_size,
                                args.threads, args.repeats)
    print(f"{args.algorithm} on {args.task}, batch {args.batch_size}, {args.steps} timed steps, "
          f"{args.threads} threads, {args.repeats} repeats (medians):")
    print(f"  one OSRL train_one_step    {1000 * figures['train_seconds_per_step']:.1f} ms")
    print(f"  one unlearning step        {1000 * figures['unlearn_seconds_per_step']:.1f} ms")
    low, high = figures["step_time_ratio_range"]
    print(f"  ratios (unlearning / training): step time {figures['step_time_ratio']:.2f} "
          f"(repeats {low:.2f}-{high:.2f}), peak memory {figures['peak_memory_ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osrl-unlearn", description="Safe-RULE unlearning for OSRL agents"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    doctor = commands.add_parser("doctor", help="check the installed stack and simulators")
    doctor.set_defaults(run=_cmd_doctor)

    collect = commands.add_parser("collect", help="build a generated DSRL-format dataset")
    collect.add_argument("--task", required=True)
    collect.add_argument("--episodes", type=int, default=200)
    collect.add_argument("--out", help="HDF5 file (default: the generated-data folder)")
    collect.add_argument("--seed", type=int, default=0)
    collect.add_argument("--cost-limit", type=float, default=DEFAULT_COST_LIMIT)
    collect.set_defaults(run=_cmd_collect)

    poison = commands.add_parser("poison", help="build a poisoned variant of a generated dataset")
    poison.add_argument("--task", required=True)
    poison.add_argument("--attack", required=True, help="max-cost, reward-lure or cost-swap")
    poison.add_argument("--ratio", type=float, default=0.15)
    poison.add_argument("--seed", type=int, default=0)
    poison.add_argument("--base", help="clean HDF5 file (default: the task's generated file)")
    poison.add_argument("--out", help="poisoned HDF5 file (default: the generated-data folder)")
    poison.add_argument("--donors", help="HDF5 of the attacker's own episodes to inject "
                        "(default: the task's attacker episodes, collected on first use)")
    poison.add_argument("--copies", action="store_true",
                        help="inject relabelled copies of the clean data's own episodes instead "
                             "(the ids named <Attack>Copies<Percent>)")
    poison.add_argument("--cost-limit", type=float, default=DEFAULT_COST_LIMIT)
    poison.set_defaults(run=_cmd_poison)

    evaluate = commands.add_parser("eval", help="evaluate a saved OSRL run in the simulator")
    evaluate.add_argument("--path", required=True, help="run directory logs/<group>/<name>")
    evaluate.add_argument("--episodes", type=int, default=10)
    evaluate.add_argument("--last", action="store_true", help="use model.pt, not model_best.pt")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(run=_cmd_eval)

    saves = commands.add_parser(
        "saves", help="evaluate every save an unlearning run kept (--unlearning.keep_saves) "
                      "beside what the offline choice of model_best saw of it")
    saves.add_argument("--path", required=True, help="unlearning run directory")
    saves.add_argument("--episodes", type=int, default=10)
    saves.add_argument("--seed", type=int, default=0)
    saves.set_defaults(run=_cmd_saves)

    # parsed by pyrallis in `main` (OSRL's spelling); listed here for `osrl-unlearn --help`
    commands.add_parser("unlearn", help="unlearn a forget set from an OSRL run "
                                        "(osrl-unlearn unlearn --help for its options)")

    detect = commands.add_parser(
        "detect", help="score every episode of a dataset by how poisoned it looks; a forget mask")
    detect.add_argument("--dataset", required=True, help="a dataset id or an HDF5 file")
    detect.add_argument("--share", type=float, default=0.15,
                        help="share of the episodes to flag as poisoned (default 0.15)")
    detect.add_argument("--neighbours", type=int, default=10,
                        help="(state, action) neighbours from other episodes a label is "
                             "compared with (default 10)")
    detect.add_argument("--out", required=True, help="folder for forget_mask.npy, ranking.csv, "
                                                     "detection.json")
    detect.set_defaults(run=_cmd_detect)

    defend = commands.add_parser(
        "defend", help="the whole defence: detect the poisoned episodes of a run's data, "
                       "unlearn them with Safe-RULE (default settings), evaluate")
    defend.add_argument("--path", required=True, help="the run trained on the suspect data")
    defend.add_argument("--dataset", required=True, help="the dataset id it was trained on")
    defend.add_argument("--out", required=True,
                        help="folder for detection/ and the unlearned run unlearned/")
    defend.add_argument("--share", type=float, default=0.15,
                        help="share of the episodes to treat as poisoned (default 0.15)")
    defend.add_argument("--neighbours", type=int, default=10)
    defend.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    defend.set_defaults(run=_cmd_defend)

    audit = commands.add_parser(
        "audit", help="how completely a forget set is gone from an agent, against retraining")
    audit.add_argument("--path", required=True, help="the audited run (unlearned, poisoned, ...)")
    audit.add_argument("--forget", required=True, help="the forget set: a poisoned dataset id, "
                       "a poisoned HDF5 file or a .npy mask")
    audit.add_argument("--retrained", required=True, help="a run retrained on D_k (the reference)")
    audit.add_argument("--out", help="folder for audit.json (default: RUN/audit)")
    audit.add_argument("--checkpoint", choices=("best", "last"), default="best",
                       help="the audited run's model_best.pt (default) or model.pt")
    audit.add_argument("--references", type=int, default=3,
                       help="reference agents: the retrained one fine-tuned on D_k, one seed each")
    audit.add_argument("--reference-steps", type=int, default=300)
    audit.add_argument("--z-threshold", type=float, default=3.0,
                       help="an episode is forgotten within this many reference deviations")
    audit.add_argument("--relearn-steps", type=int, default=2000)
    audit.add_argument("--relearn-eval-every", type=int, default=250)
    audit.add_argument("--episodes", type=int, default=5, help="evaluation episodes")
    audit.add_argument("--seed", type=int, default=0)
    audit.set_defaults(run=_cmd_audit)

    bench = commands.add_parser("bench", help="run a benchmark grid (resumable)")
    bench.add_argument("--config", required=True, help="grid YAML (see examples/grids/)")
    bench.add_argument("--results", help="results JSONL (default: the grid's `results`)")
    bench.add_argument("--threads", type=int, help="torch threads per run (default: the grid's)")
    bench.add_argument("--ray", nargs="?", const=LOCAL_RAY, metavar="ADDRESS",
                       help="run the poisoned agents as Ray tasks: alone, on a local Ray on "
                            "this machine's cores; with an address, on that cluster")
    bench.add_argument("--shard", default="0/1",
                       help="I/N: run only every N-th poisoned agent from the I-th, so N "
                            "processes without Ray can share a grid and its results file "
                            "(default 0/1)")
    bench.set_defaults(run=_cmd_bench)

    references = commands.add_parser(
        "references", help="train each algorithm on each task's clean data: is it safe? (resumable)")
    references.add_argument("--config", required=True,
                            help="references YAML (see examples/grids/references.yaml)")
    references.add_argument("--out", help="folder for report.md (default: the folder of "
                                           "the file's `results`)")
    references.add_argument("--threads", type=int, help="torch threads per run (default: the file's)")
    references.set_defaults(run=_cmd_references)

    bite = commands.add_parser(
        "bite", help="does each attack make the clean agent unsafe? poisoned against clean agents")
    bite.add_argument("--poisoned", nargs="+", required=True,
                      help="bench results JSONL files whose `poisoned` rows are judged")
    bite.add_argument("--clean", nargs="+", required=True,
                      help="results JSONL files with the clean agents (`references` rows, "
                           "or a bench's `retrain` rows)")
    bite.add_argument("--out", required=True, help="folder for report.md")
    bite.set_defaults(run=_cmd_bite)

    report = commands.add_parser("report", help="tables and figures of a results file")
    report.add_argument("results", help="results JSONL written by `osrl-unlearn bench`")
    report.add_argument("--out", required=True, help="folder for report.md and the PNGs")
    report.add_argument("--clean", nargs="+", default=[],
                        help="results JSONL files whose clean agents trained alike (same task, "
                             "algorithm and steps) also count in the reference verdicts")
    report.set_defaults(run=_cmd_report)

    compare = commands.add_parser("compare", help="table of finished, evaluated unlearning runs")
    compare.add_argument("runs", nargs="+", help="unlearning run directories")
    compare.add_argument("--out", help="also write the markdown table to this file")
    compare.set_defaults(run=_cmd_compare)

    step_cost = commands.add_parser(
        "step-cost", help="time and peak memory of one unlearning step against one training step")
    step_cost.add_argument("--task", default="OfflineBallRun-Generated-MaxCost15-v0",
                           help="a poisoned dataset id")
    step_cost.add_argument("--algorithm", default="bcql")
    step_cost.add_argument("--steps", type=int, default=300)
    step_cost.add_argument("--batch-size", type=int, default=256)
    step_cost.add_argument("--threads", type=int, default=2)
    step_cost.add_argument("--repeats", type=int, default=3,
                           help="training/unlearning pairs measured; the median ratio is reported")
    step_cost.add_argument("--json", help="also write the figures to this JSON file")
    step_cost.set_defaults(run=_cmd_step_cost)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run a subcommand; bad input ends with one `error:` line and exit code 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv else None
    try:
        if command == "unlearn":
            return _cmd_unlearn(argv[1:])
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UserInputError as error:
        print(f"osrl-unlearn {command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
