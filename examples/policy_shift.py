"""How far each run's policy has moved from a source run's on the source's clean states.

The measure of Safe-RULE's collapse guard (RMS difference per action dimension, as a
fraction of the action bound) and the mean L2 distance, over every 50th state of the
clean generated data of the source's task, for each run's model_best.pt (model.pt for
the source). Used for results/collapse/carcircle-bcql-revision2.md:

    python examples/policy_shift.py SOURCE_RUN RUN [RUN ...]
"""

import sys
from pathlib import Path

import gymnasium as gym
import torch

from osrl_unlearn.audit import load_agent, policy_distance
from osrl_unlearn.data.registration import variant_id
from osrl_unlearn.data.tasks import import_dsrl


@torch.no_grad()
def main(source: Path, runs: list) -> None:
    source_model, cfg = load_agent(source, best=False, keep=None)[:2]
    import_dsrl()
    clean = gym.make(variant_id(cfg.task.split("-")[0] + "-v0")).get_dataset()  # clean, generated
    observations = clean["observations"][::50]
    states = torch.as_tensor(observations, dtype=torch.float32)
    torch.manual_seed(0)
    source_actions = source_model.policy_actions(states)
    print(f"{'run':50s} RMS/dim  L2")
    for run in runs:
        model = load_agent(run, best=True, keep=None)[0]
        torch.manual_seed(0)  # the same noise draw as the source's (BCQ-L's decoder)
        difference = model.policy_actions(states) - source_actions
        rms = difference.pow(2).mean().sqrt().item() / float(model.max_action)
        distance = policy_distance(model, source_model, observations, seed=0)
        print(f"{run.name:50s} {rms:7.3f} {distance:5.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(run) for run in sys.argv[2:]])
