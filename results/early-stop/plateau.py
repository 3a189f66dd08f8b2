"""Where do Safe-RULE's runs end with the early stop's plateau count (`forget_plateau`,
the default since 48df86f) and without it (`forget_plateau 0`, the stop before)?

Replayed over the runs that kept and scored every save (runs/, see README.md), so the
save each rule makes model_best has its simulator score. Writes plateau.md beside this file.

    python results/early-stop/plateau.py results/early-stop/runs/*
"""

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from first_entry import replay_table, without_plateau  # noqa: E402
from osrl_unlearn.unlearning.objective import UnlearnConfig  # noqa: E402
from osrl_unlearn.unlearning.stage import OfflineChoice  # noqa: E402

if __name__ == "__main__":
    replay_table(sys.argv[1:], [
        ("without the plateau count", without_plateau, OfflineChoice),
        ("with it (2%)", lambda ucfg: replace(ucfg, forget_plateau=UnlearnConfig.forget_plateau),
         OfflineChoice)],
        Path(__file__).parent / "plateau.md")
