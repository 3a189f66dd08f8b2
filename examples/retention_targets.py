"""BCQ-L's D_k Bellman residuals under two targets: the retention measure's and its own.

Safe-RULE's retention ratio compares each critic's squared residual on a fixed D_k
sample, with the target taken at the source policy's next action (the members' mean
there), against its level at the start. BCQ-L's own critic loss bootstraps instead
from the soft minimum of its double critic at `sample_action_num` decoded next
actions, the largest of them. This prints both for a source run and for each run
unlearned from it (their checkpoint/model.pt), on the sample unlearning measures on
(current critics, one fixed noise draw). Used for results/retention-measure/:

    python examples/retention_targets.py SOURCE_RUN FORGET_ID RUN [RUN ...]
"""

import sys
from pathlib import Path
from typing import Dict

import torch

from osrl_unlearn.data import datasets
from osrl_unlearn.evaluation import make_eval_env
from osrl_unlearn.runs import load_run
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import build_unlearner, resolve_forget


@torch.no_grad()
def own_target_residuals(model) -> Dict[str, float]:
    """Each member's squared residual against BCQ-L's own backup, averaged over members."""
    observations, next_observations, actions, rewards, costs, done, _ = model._retention_sample
    repeated = torch.repeat_interleave(next_observations, model.sample_action_num, 0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        candidates = model.actor(repeated, model.vae.decode(repeated))
    residuals = {}
    for name, critic, signal, mask in (("reward", model.critic, rewards, 1.0 - done),
                                       ("cost", model.cost_critic, costs, torch.ones_like(done))):
        first, second, _, _ = critic.predict(repeated, candidates)
        soft_min = model.lmbda * torch.min(first, second) + (1.0 - model.lmbda) * torch.max(first, second)
        backup = signal + model.gamma * mask * soft_min.reshape(len(rewards), -1).max(1)[0]
        _, _, members_first, members_second = critic.predict(observations, actions)
        residuals[name] = torch.stack([(member - backup).pow(2).mean()
                                       for member in members_first + members_second]).mean().item()
    return residuals


def main(source: Path, forget: str, runs: list) -> None:
    torch.set_num_threads(1)
    run_cfg, _, adapter, state, _ = load_run(source, best=False)
    if adapter.NAME != "BCQL":
        sys.exit(f"{source} is a {adapter.NAME} run; this diagnostic knows BCQ-L's targets only")
    data, mask = resolve_forget(forget, run_cfg)
    keep, _ = datasets.split_keep_forget(data, mask)
    env = make_eval_env(run_cfg.task, run_cfg.reward_scale, run_cfg.cost_limit)
    torch.manual_seed(0)  # BCQ-L's decoder samples the source policy's fixed next actions
    model = build_unlearner(run_cfg, adapter, env, keep, UnlearnConfig(method="finetune"), state, source)
    print("| run | measured: reward | measured: cost | own target: reward | own target: cost |")
    print("| --- | --- | --- | --- | --- |")
    for name, path in [("source", None)] + [(Path(run).name, Path(run)) for run in runs]:
        if path is not None:
            model.load_state_dict(torch.load(path / "checkpoint" / "model.pt")["model_state"])
        # the retention measure, at the source policy's next actions fixed at build time
        measured, own = model.keep_bellman_losses({}), own_target_residuals(model)
        print(f"| {name} | {measured['reward']:.3f} | {measured['cost']:.3f} | "
              f"{own['reward']:.3f} | {own['cost']:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
