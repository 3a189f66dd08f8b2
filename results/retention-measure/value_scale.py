"""How much of a rise in the retention ratio is the critics' values growing, not their fit.

For a source agent and runs unlearned from it with every save kept (`keep_saves`), each
critic's squared D_k residual (as the retention ratio measures it: the fixed 2,048-row
sample, the target at the source policy's next action) at every save, over the
source's: raw, and relative to the mean square of its targets (scale-free).

    python results/retention-measure/value_scale.py SOURCE_RUN POISONED_ID RUN [RUN ...]
"""

import json
import sys
from pathlib import Path

import torch

from osrl_unlearn.data import datasets
from osrl_unlearn.evaluation import make_eval_env
from osrl_unlearn.runs import load_run
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import build_unlearner, resolve_forget


@torch.no_grad()
def residuals(model) -> dict:
    """Per critic: (squared residual, squared residual / mean squared target)."""
    observations, next_observations, actions, rewards, costs, done, next_actions = \
        model._retention_sample
    out = {}
    for name, members, signal in (("reward", model.reward_members, rewards),
                                  ("cost", model.cost_members, costs)):
        target = signal + model.gamma * (1.0 - done) * members(next_observations, next_actions).mean(0)
        residual = (members(observations, actions) - target).pow(2).mean().item()
        out[name] = (residual, residual / target.pow(2).mean().item())
    return out


def main(source: Path, poisoned_id: str, runs: list) -> None:
    torch.set_num_threads(1)
    run_cfg, _, adapter, state, _ = load_run(source, best=False)
    data, mask = resolve_forget(poisoned_id, run_cfg)
    keep, _ = datasets.split_keep_forget(data, mask)
    env = make_eval_env(run_cfg.task, run_cfg.reward_scale, run_cfg.cost_limit)
    torch.manual_seed(0)
    model = build_unlearner(run_cfg, adapter, env, keep, UnlearnConfig(method="finetune"),
                            state, source)
    base = residuals(model)
    print("| run | step | sim reward / cost | ratio | reward raw | reward scale-free "
          "| cost raw | cost scale-free |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in map(Path, runs):
        for save in json.loads((run / "saves.json").read_text()):
            checkpoint = run / "checkpoint" / f"model_{save['step']}.pt"
            model.load_state_dict(torch.load(checkpoint)["model_state"])
            now = residuals(model)
            cells = " | ".join(f"x{now[n][i] / base[n][i]:.2f}" for n in ("reward", "cost")
                               for i in (0, 1))
            print(f"| {run.name} | {save['step']} | {save['normalized_reward']:.3f} / "
                  f"{save['normalized_cost']:.2f} | {save['retention_ratio']:.2f} | {cells} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
