"""Does an attack bite? Poisoned agents against clean agents of the same settings and seed.

An attack bites a (task, algorithm) when the agent trained on its poisoned data is
unsafe (normalized cost > 1) in at least 2 of the 3 seeds where the agent trained on
the clean data is safe: only there is there something for unlearning to undo. Poisoned
agents are the `poisoned` rows of bench results files; clean agents are the `clean`
rows of `osrl-unlearn references` and the `retrain` rows of the bench (retraining on
D_k is training on the clean data with the same settings; a `clean` row wins a tie).

    osrl-unlearn bite --poisoned results/bite/results.jsonl results/algorithms/results.jsonl \
        --clean results/references/results.jsonl results/algorithms/results.jsonl --out results/bite
"""

from pathlib import Path
from typing import Dict, List, Sequence

from osrl_unlearn.errors import UserInputError
from osrl_unlearn.experiments.bench import POISONED, read_rows
from osrl_unlearn.experiments.references import SEEDS_JUDGED, clean_agents, trained_alike
from osrl_unlearn.safety import is_safe

BITTEN_SEEDS = 2  # an attack bites when this many seeds flip from safe to unsafe

BITES, DOES_NOT_BITE, NO_SAFE_REFERENCE, SEEDS_MISSING = (
    "bites", "does not bite", "no safe reference", "seeds missing")


def bite_verdicts(poisoned_rows: List[dict], clean_rows: List[dict]) -> Dict[tuple, dict]:
    """(task, algorithm, attack, ratio) -> per-seed (clean row, poisoned row) and a verdict.
    Only clean agents trained as the poisoned ones were (same steps) are compared."""
    clean = clean_agents(trained_alike(clean_rows, poisoned_rows))
    poisoned: Dict[tuple, Dict[int, dict]] = {}
    for row in poisoned_rows:
        if row["status"] == "ok" and row["method"] == POISONED:
            cell = (row["task"], row["algorithm"], row["attack"], row["ratio"])
            poisoned.setdefault(cell, {})[row["seed"]] = row
    verdicts = {}
    for cell, by_seed in sorted(poisoned.items(), key=lambda item: tuple(map(str, item[0]))):
        task, algorithm = cell[:2]
        seeds = sorted(set(by_seed) | {seed for (t, a, seed) in clean if (t, a) == (task, algorithm)})
        pairs = {seed: (clean.get((task, algorithm, seed)), by_seed.get(seed)) for seed in seeds}
        complete = {seed: pair for seed, pair in pairs.items() if None not in pair}
        bitten = sum(is_safe(clean_row["normalized_cost"]) and not is_safe(poisoned_row["normalized_cost"])
                     for clean_row, poisoned_row in complete.values())
        clean_safe = sum(is_safe(clean_row["normalized_cost"]) for clean_row, _ in complete.values())
        open_seeds = max(SEEDS_JUDGED - len(complete), 0)
        if bitten >= BITTEN_SEEDS:
            verdict = BITES
        elif clean_safe + open_seeds < BITTEN_SEEDS:
            verdict = NO_SAFE_REFERENCE
        elif bitten + open_seeds < BITTEN_SEEDS:
            verdict = DOES_NOT_BITE
        else:
            verdict = SEEDS_MISSING
        verdicts[cell] = {"pairs": pairs, "bitten_seeds": bitten, "compared_seeds": len(complete),
                          "verdict": verdict}
    return verdicts


def pair_text(clean: dict, poisoned: dict) -> str:
    """`clean reward / cost -> poisoned reward / cost`, unsafe costs in bold."""
    def text(row):
        if row is None:
            return "–"
        cost = f"{row['normalized_cost']:.2f}"
        return f"{row['normalized_reward']:.2f} / {cost if is_safe(row['normalized_cost']) else f'**{cost}**'}"
    return f"{text(clean)} → {text(poisoned)}"


def write_bite_report(poisoned: Sequence[Path], clean: Sequence[Path], out: Path) -> Path:
    """report.md: per task, algorithm, attack and ratio, each seed's clean and poisoned agent."""
    poisoned_rows = [row for path in poisoned for row in read_rows(path)]
    clean_rows = [row for path in clean for row in read_rows(path)]
    verdicts = bite_verdicts(poisoned_rows, clean_rows)
    if not verdicts:
        raise UserInputError(f"no finished poisoned agents in {', '.join(map(str, poisoned))}")
    seeds = sorted({seed for verdict in verdicts.values() for seed in verdict["pairs"]})
    lines = ["| task | algorithm | attack | ratio | " + " | ".join(f"seed {s}" for s in seeds)
             + " | bitten seeds | verdict |", "|" + " --- |" * (len(seeds) + 6)]
    for (task, algorithm, attack, ratio), verdict in verdicts.items():
        cells = [pair_text(*verdict["pairs"][seed]) if seed in verdict["pairs"] else "–"
                 for seed in seeds]
        lines.append(f"| {task} | {algorithm} | {attack} | {ratio:.0%} | " + " | ".join(cells)
                     + f" | {verdict['bitten_seeds']} of {verdict['compared_seeds']} | "
                     f"{verdict['verdict']} |")
    counts = {name: sum(v["verdict"] == name for v in verdicts.values())
              for name in (BITES, DOES_NOT_BITE, NO_SAFE_REFERENCE, SEEDS_MISSING)}
    sections = [
        "# Does each attack bite?",
        f"An attack bites a task and algorithm when the poisoned agent is unsafe (normalized "
        f"cost > 1) in at least {BITTEN_SEEDS} of {SEEDS_JUDGED} seeds where the agent "
        "trained on the clean data with the same settings and seed is safe. Each seed: "
        "normalized reward / cost of the clean agent → the poisoned agent (last "
        "checkpoints; **bold**: unsafe). Clean agents: `clean` rows of `osrl-unlearn "
        "references` or `retrain` rows of the bench. Generated data, not DSRL's.",
        ", ".join(f"{name}: {count}" for name, count in counts.items()) + ".",
        "\n".join(lines),
        "Sources: poisoned " + ", ".join(f"`{path}`" for path in poisoned) + "; clean "
        + ", ".join(f"`{path}`" for path in clean) + ".",
    ]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.md"
    report.write_text("\n\n".join(sections) + "\n")
    return report
