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

from osrl_unlearn.data.registration import variant_id
from osrl_unlearn.data.tasks import import_dsrl
from osrl_unlearn.evaluation import env_dims, make_eval_env
from osrl_unlearn.runs import load_run, load_weights


def load_policy(path: Path, best: bool):
    cfg, _, adapter, state, _ = load_run(path, best=best)
    env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
    model = adapter.build_model(cfg, *env_dims(env), unlearnable=True)
    load_weights(model, state, path)
    return model.eval(), cfg


@torch.no_grad()
def main(source: Path, runs: list) -> None:
    source_model, cfg = load_policy(source, best=False)
    import_dsrl()
    clean = gym.make(variant_id(cfg.task.split("-")[0] + "-v0")).get_dataset()  # clean, generated
    observations = torch.as_tensor(clean["observations"][::50], dtype=torch.float32)
    source_actions = source_model.policy_actions(observations)
    print(f"{'run':50s} RMS/dim  L2")
    for run in runs:
        model, _ = load_policy(run, best=True)
        difference = model.policy_actions(observations) - source_actions
        rms = difference.pow(2).mean().sqrt().item() / float(model.max_action)
        print(f"{run.name:50s} {rms:7.3f} {difference.norm(dim=-1).mean().item():5.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(run) for run in sys.argv[2:]])
