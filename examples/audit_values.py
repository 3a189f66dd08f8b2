"""What each audited agent has learnt of the forget set: the mean over D_f's episodes of
the values the audit's verdict compares (Q_r and Q_c for the Q-critic agents; COptiDICE's
correction weight and log-likelihood), for every agent `examples/audit_all.sh` audited.

    python examples/audit_values.py   ->   results/audit/values.md
"""

import json
from pathlib import Path

from osrl_unlearn.audit import episode_values, load_agent
from osrl_unlearn.data import datasets
from osrl_unlearn.runs import load_run
from osrl_unlearn.unlearning.stage import resolve_forget

AUDITS = Path("results/audit")


def main() -> None:
    lines = ["# Mean learnt values on the forget set's episodes (seed-0 cells)", "",
             "Made by `python examples/audit_values.py` from the agents of "
             "`results/audit/<cell>/<agent>.json`. BCQ-L: Q_r / Q_c; COptiDICE: correction "
             "weight / log-likelihood of the episode's actions. Generated data, not DSRL's.", "",
             "| cell | agent | values on D_f |", "| --- | --- | --- |"]
    for cell in sorted(folder for folder in AUDITS.iterdir() if folder.is_dir()):
        for report_path in sorted(cell.glob("*.json")):
            report = json.loads(report_path.read_text())
            best = report["checkpoint"] == "model_best.pt"
            data, mask = resolve_forget(report["forget"], load_run(Path(report["run"]), best)[0])
            keep, forget = datasets.split_keep_forget(data, mask)
            model, cfg, *_ = load_agent(Path(report["run"]), best, keep)
            means = episode_values(model, forget, cfg).mean(0)
            lines.append(f"| {cell.name} | {report_path.stem} | "
                         + " / ".join(f"{value:.2f}" for value in means) + " |")
    (AUDITS / "values.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
