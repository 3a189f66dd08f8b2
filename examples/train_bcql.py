"""Train OSRL's BCQL with OSRL's flags (CPU-scale defaults); `--unlearn true` then unlearns.

    python examples/train_bcql.py --task OfflineBallRun-Generated-MaxCost15-v0 --unlearn true \
        --unlearning.method safe-rule --unlearning.steps 5000
"""

import pyrallis

from osrl_unlearn.configs import BCQLTrainConfig
from osrl_unlearn.pipeline import train_and_unlearn

if __name__ == "__main__":
    train_and_unlearn(pyrallis.parse(config_class=BCQLTrainConfig), "bcql")
