"""How much of a BCQ-L agent's behaviour is its perturbation? Roll each run out twice.

BCQ-L acts with its VAE's decoded action plus the actor's perturbation, at most
`phi * max_action` (0.05) per dimension. This rolls every given run out as it is and
with the perturbation switched off (phi = 0), and prints the mean perturbation over an
episode: on the generated CarCircle the decoded action alone leaves the car nearly
standing, so whether an agent drives hangs on a perturbation at its bound.

    python examples/bcql_perturbation_probe.py logs/<group>/<bcql run> [...] --episodes 5
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from fsrl.utils import DummyLogger

from osrl_unlearn.evaluation import env_dims, evaluate, make_eval_env
from osrl_unlearn.runs import load_run, load_weights


def probe(path: Path, episodes: int, seed: int) -> str:
    cfg, _, adapter, state, checkpoint = load_run(path, best=True)
    if adapter.NAME != "BCQL":
        raise SystemExit(f"{path} is a {adapter.NAME} run; this probe reads BCQ-L's perturbation")
    env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
    model = adapter.build_model(cfg, *env_dims(env))
    load_weights(model, state, path)
    trainer = adapter.build_trainer(model, env, cfg, logger=DummyLogger())

    torch.manual_seed(seed)
    as_is = evaluate(trainer, env, episodes, cfg.reward_scale, cfg.cost_scale, progress=False)
    observation, _ = env.reset()
    perturbations = []
    for _ in range(cfg.episode_len):
        observation = torch.as_tensor(observation[None], dtype=torch.float32)
        with torch.no_grad():
            decoded = model.vae.decode(observation)
            action = model.actor(observation, decoded)
        perturbations.append((action - decoded)[0].numpy())
        observation, _, terminated, truncated, _ = env.step(action[0].numpy())
        if terminated or truncated:
            break
    phi = model.actor.phi
    model.actor.phi = 0.0
    torch.manual_seed(seed)
    decoded_only = evaluate(trainer, env, episodes, cfg.reward_scale, cfg.cost_scale,
                            progress=False)
    model.actor.phi = phi
    return (f"{path} ({checkpoint.name}): as is {as_is['normalized_reward']:.3f} / "
            f"{as_is['normalized_cost']:.2f}; decoded action only "
            f"{decoded_only['normalized_reward']:.3f} / {decoded_only['normalized_cost']:.2f}; "
            f"mean perturbation ({', '.join(f'{x:+.3f}' for x in np.mean(perturbations, 0))}) "
            f"of bound {phi}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("normalized reward / cost; runs evaluated on model_best.pt where present")
    for run in args.runs:
        print(probe(run, args.episodes, args.seed), flush=True)


if __name__ == "__main__":
    main()
