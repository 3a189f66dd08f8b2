"""Train an OSRL agent on a DSRL or generated dataset id, in OSRL's run layout.

The loop is OSRL's (examples/train/train_*.py): sample a batch from OSRL's
TransitionDataset, call the algorithm's own `train_one_step`, evaluate every
`eval_every` steps, save `checkpoint/model.pt` and, by OSRL's rule (lowest cost,
then highest reward), `checkpoint/model_best.pt`. Beside each, the optimizer states
and Lagrange multipliers OSRL's checkpoint leaves out (`runs.training_state`), so
that unlearning continues from them; and what a stopped training needs to continue.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from fsrl.utils import TensorboardLogger
from osrl.common import TransitionDataset
from osrl.common.exp_util import auto_name, seed_all
from torch.utils.data import DataLoader
from tqdm.auto import trange

from osrl_unlearn.configs import apply_task_settings
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.evaluation import env_dims, evaluate, make_eval_env
from osrl_unlearn.data.registration import base_task
from osrl_unlearn.runs import (
    close_logger, load_training_state, random_state, set_random_state, training_state,
    training_state_path
)
from osrl_unlearn.data.tasks import episode_length, import_dsrl


def resolve_run(cfg, default_cfg) -> Path:
    """Fill in the task's settings and OSRL's derived fields (episode length, group,
    name); returns the run dir."""
    apply_task_settings(cfg, default_cfg)
    if cfg.episode_len is None:
        cfg.episode_len = episode_length(base_task(cfg.task))
    if cfg.group is None:
        cfg.group = f"{cfg.task}-cost-{int(cfg.cost_limit)}"
    if cfg.name is None:
        default_cfg.episode_len = cfg.episode_len  # derived, so not part of the name
        # the unlearning stage's options (unlearn, unlearn_forget, unlearning) and
        # resuming do not name it
        defaults = {key: value for key, value in asdict(default_cfg).items()
                    if not key.startswith("unlearn") and key != "resume"}
        cfg.name = auto_name(defaults, asdict(cfg), cfg.prefix, cfg.suffix)
    return Path(cfg.logdir) / cfg.group / cfg.name


def load_training_data(cfg) -> dict:
    """The task's (optionally processed) dataset, as OSRL's scripts load it."""
    import gymnasium as gym

    import_dsrl()
    env = gym.make(cfg.task)
    data = env.get_dataset(cfg.dataset)
    env.set_target_cost(cfg.cost_limit)
    processing = (cfg.outliers_percent, cfg.noise_scale, cfg.inpaint_ranges, cfg.epsilon)
    if any(option is not None for option in processing) or cfg.density != 1.0:
        data = env.pre_process_data(
            data, cfg.outliers_percent, cfg.noise_scale, cfg.inpaint_ranges, cfg.epsilon,
            cfg.density
        )
    env.close()
    return data


def batches(data: dict, cfg, adapter) -> Iterator[list]:
    """Endless batches from OSRL's TransitionDataset, as OSRL's scripts draw them.

    The loader's iterator is made here, not at the first batch: making it draws from
    torch's generator, so a resumed run that restores the generators afterwards
    draws the same batches as a run that never stopped.
    """
    dataset = TransitionDataset(data, reward_scale=cfg.reward_scale, cost_scale=cfg.cost_scale,
                                state_init=adapter.NEEDS_INITIAL_STATES)
    loader = iter(DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers))
    return ([tensor.to(cfg.device) for tensor in batch] for batch in loader)


def sampled_batches(data: dict, cfg, adapter) -> Iterator[list]:
    """Endless batches distributed as `batches` draws them, each in one indexing.

    OSRL's TransitionDataset draws every row with its own `np.random.choice` call and
    the DataLoader collates them one by one (about 6 ms a batch of 256 here); this draws
    a batch's rows uniformly in one call from the same numpy generator, with the same
    columns and scaling. Unlearning draws its D_k and D_f batches this way.
    """
    dataset = TransitionDataset(data, reward_scale=cfg.reward_scale, cost_scale=cfg.cost_scale,
                                state_init=adapter.NEEDS_INITIAL_STATES)
    table = dataset.dataset  # with OSRL's `done` (and `is_init`) columns added
    names = ["observations", "next_observations", "actions", "rewards", "costs", "done"]
    names += ["is_init"] if adapter.NEEDS_INITIAL_STATES else []
    scales = {"rewards": cfg.reward_scale, "costs": cfg.cost_scale}
    # the dtypes OSRL's per-row arithmetic gives (numpy 1.x: a float32 reward times the
    # scale is a float64), so that the algorithm's step computes in the same precision
    columns = []
    for name in names:
        column = np.asarray(table[name])
        if name in scales:
            column = column.astype(np.asarray(column[0] * scales[name]).dtype) * scales[name]
        columns.append(torch.as_tensor(column, device=cfg.device))
    size = dataset.dataset_size
    while True:
        rows = torch.as_tensor(np.random.choice(size, cfg.batch_size), device=cfg.device)
        yield [column[rows] for column in columns]


RESUME_FILE = "train_resume.pt"  # beside the checkpoints: what a stopped training needs


def train(cfg, adapter, data: Optional[dict] = None, progress: bool = True,
          resume: bool = False) -> Path:
    """Train `adapter`'s algorithm with `cfg`; returns the run directory.

    `data` replaces the task's dataset (retraining on D_k passes the keep set). The
    run's `timing.json` separates time spent training from time spent evaluating. At
    every evaluation the run also saves what continuing needs (`train_resume.pt`: the
    weights, optimizers, multipliers, step, best scores, random states); `resume`
    continues a run stopped after one, drawing the same batches as a run that never
    stopped.
    """
    run_dir = resolve_run(cfg, adapter.Config())
    checkpoints = run_dir / "checkpoint"
    if resume and not (checkpoints / RESUME_FILE).exists():
        raise UserInputError(f"nothing to resume in {run_dir}: no checkpoint/{RESUME_FILE}")
    if not resume and (checkpoints / "model.pt").exists():
        raise UserInputError(f"{run_dir} already holds a trained run; choose another --name")
    earlier_log = (run_dir / "progress.txt").read_text() if resume else ""
    logger = TensorboardLogger(str(run_dir.parent), log_txt=True, name=run_dir.name)
    try:  # a run that fails still closes its writer: a bench process goes on to the next
        if earlier_log:  # fsrl's logger opens progress.txt anew: keep what was logged before
            logger.output_file.write(earlier_log)
            logger.output_file.flush()
            logger.first_row = False
        logger.save_config(asdict(cfg), verbose=cfg.verbose)
        if cfg.device == "cpu":
            torch.set_num_threads(cfg.threads)
        if data is None:
            data = load_training_data(cfg)
        # Seeded once the data is there: building a poisoned file on first use runs the
        # simulator, which draws from the global generators.
        seed_all(cfg.seed)
        env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
        model = adapter.build_model(cfg, *env_dims(env), data=data)
        logger.setup_checkpoint_fn(lambda: {"model_state": model.state_dict()})
        trainer = adapter.build_trainer(model, env, cfg, logger)

        def save_state(checkpoint: str) -> None:
            """Keep what OSRL's checkpoint drops (optimizers, multipliers) beside it."""
            state = training_state(model, adapter.OPTIMIZERS, adapter.MULTIPLIERS)
            torch.save(state, training_state_path(checkpoints / checkpoint))

        start, best_reward, best_cost = 0, -np.inf, np.inf
        train_seconds = eval_seconds = 0.0
        stream = batches(data, cfg, adapter)
        if resume:
            saved = torch.load(checkpoints / RESUME_FILE, weights_only=False)
            model.load_state_dict(saved["model_state"])
            load_training_state(model, saved["training_state"])
            start, best_reward, best_cost = saved["step"], saved["best_reward"], saved["best_cost"]
            train_seconds, eval_seconds = saved["train_s"], saved["eval_s"]
            set_random_state(saved)
        for step in trange(start, cfg.update_steps, initial=start, total=cfg.update_steps,
                           desc=f"Training {adapter.NAME}", disable=not progress):
            started = time.perf_counter()
            adapter.train_step(trainer, next(stream))
            train_seconds += time.perf_counter() - started
            if (step + 1) % cfg.eval_every == 0 or step == cfg.update_steps - 1:
                started = time.perf_counter()
                # Evaluation draws from the global generators as many times as its episodes
                # last, which the simulator decides: keep it out of training's random stream.
                generators = random_state()
                result = evaluate(trainer, env, cfg.eval_episodes, cfg.reward_scale,
                                  cfg.cost_scale, progress=False)
                set_random_state(generators)
                eval_seconds += time.perf_counter() - started
                logger.store(tab="eval", Cost=result["cost"], Reward=result["reward"])
                logger.save_checkpoint()
                save_state("model.pt")
                if result["cost"] < best_cost or (result["cost"] == best_cost
                                                   and result["reward"] > best_reward):
                    best_cost, best_reward = result["cost"], result["reward"]
                    logger.save_checkpoint(suffix="best")
                    save_state("model_best.pt")
                logger.write(step, display=False)
                torch.save({"step": step + 1, "model_state": model.state_dict(),
                            "training_state": training_state(model, adapter.OPTIMIZERS,
                                                             adapter.MULTIPLIERS),
                            "best_reward": best_reward, "best_cost": best_cost,
                            "train_s": train_seconds, "eval_s": eval_seconds, **random_state()},
                           checkpoints / RESUME_FILE)
    finally:
        close_logger(logger)
    env.close()
    timing = {"train_s": train_seconds, "eval_s": eval_seconds, "steps": cfg.update_steps}
    (run_dir / "timing.json").write_text(json.dumps(timing, indent=2))
    return run_dir
