"""Train OSRL's BCQ-L on a DSRL or generated dataset id (OSRL's flags, CPU-scale defaults).

    python examples/train_bcql.py --task OfflineBallRun-MaxCost15-v0 --update_steps 10000
"""

import pyrallis

from osrl_unlearn.adapters import get_adapter
from osrl_unlearn.configs import BCQLTrainConfig
from osrl_unlearn.training import train


@pyrallis.wrap()
def main(cfg: BCQLTrainConfig):
    run_dir = train(cfg, get_adapter("bcql"))
    print(f"run saved to {run_dir}")


if __name__ == "__main__":
    main()
