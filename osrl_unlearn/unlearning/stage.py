"""The unlearning stage: from an existing OSRL run to a new, unlearned OSRL run.

    source run (never modified)  ->  <logdir>/<group>/<source name>-<method>/
        config.yaml      the source config plus `unlearning`, `source_run`, `forget`
        checkpoint/model.pt, model_best.pt     OSRL's format, read by load_config_and_model
        checkpoint/training_state.pt           optimizers and multipliers (as training saves)
        checkpoint/unlearn_state.pt            what `--resume` needs
        progress.txt     metrics every `save_every` steps
        tb/              the same metrics through OSRL's TensorboardLogger, as training logs
        unlearn_summary.json  wall time, the offline choice of model_best, forget report

`model_best.pt` is chosen offline, without the environment (`offline_rank`): among
saved steps that retain D_k (Bellman errors of both critics, COptiDICE: nu's, within
`retention_tolerance` of their starting levels), those whose policy stayed steady on
D_k (shift within `policy_shift_tolerance`) first, the one meeting the forget
constraints on the most D_f transitions. Steps that do not retain D_k rank below them
all, closest to retaining first; when no save retains, the summary says so
(`model_best_retains_keep`) and a warning line names the save taken. For Safe-RULE,
among saves that retain and keep most of the forgetting (`forget_share_band`) the
latest wins (`OfflineChoice`). With `stop_after_saves` N the run ends once N saves in a
row have not beaten model_best (for Safe-RULE, a model_best that retains D_k), or, for
Safe-RULE, once N saves that retain D_k have come since the share of D_f forgotten last
rose (`forget_plateau`).

Unlearning continues from the source's optimizer states and Lagrange multipliers when
training saved them beside its checkpoint (runs trained through this project). A run
from unmodified OSRL has none: its multipliers are then re-estimated on D_k for
`multiplier_warmup` steps with every network held fixed, before anything else.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml
from fsrl.utils import BaseLogger, TensorboardLogger
from tqdm.auto import trange

from osrl_unlearn.data import datasets
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.evaluation import env_dims, make_eval_env
from osrl_unlearn.data.registration import base_task
from osrl_unlearn.runs import (
    ProgressLog, close_logger, load_run, load_training_state, load_weights, random_state,
    set_random_state, training_state, training_state_path
)
from osrl_unlearn.training import RESUME_FILE, load_training_data, sampled_batches, train
from osrl_unlearn.unlearning.objective import METHODS, UnlearnConfig

STATE_FILE = "unlearn_state.pt"
# Bumped whenever what STATE_FILE holds changes, so an older run is refused, not misread
# (2: retention levels of both critics; 3: multipliers by name, python's random state;
# 4: retention measured every `retention_every` steps, batches drawn by `sampled_batches`;
# 5: the actor term's collapse guard; 6: `offline_rank` replaced a score, kept as best_rank;
# 7: the offline choice's state as `OfflineChoice` keeps it; 8: with its plateau count).
STATE_VERSION = 8
REFERENCE_SAMPLE = 10_000  # D_k transitions used for the reward reference percentile


def resolve_forget(forget: Optional[str], run_cfg, forget_episodes: Optional[str] = None
                   ) -> Tuple[datasets.Dataset, np.ndarray]:
    """The data to split and its forget mask, from an id, a poisoned HDF5 or a .npy mask,
    or from a list of episodes of the run's own training data (`forget_episodes`)."""
    if (forget is None) == (forget_episodes is None):
        raise UserInputError("name the forget set once: --forget or --forget_episodes")
    if forget_episodes is not None:
        data = load_training_data(run_cfg)
        episodes = datasets.read_episode_list(Path(forget_episodes))
        return data, datasets.episodes_mask(data, episodes)
    if forget.endswith(".npy"):
        path = Path(forget)
        if not path.exists():
            raise UserInputError(f"mask file not found: {path}")
        data = load_training_data(run_cfg)
        return data, datasets.check_mask(data, np.load(path))
    if forget.endswith((".hdf5", ".h5")):
        data, _ = datasets.read_hdf5(Path(forget))
        if datasets.FORGET_MASK_KEY not in data:
            raise UserInputError(f"{forget} has no forget_mask; poison it with `osrl-unlearn poison`")
        return data, data[datasets.FORGET_MASK_KEY]
    if base_task(forget) != base_task(run_cfg.task):
        raise UserInputError(
            f"--forget {forget} is for task {base_task(forget)}, but the run was trained "
            f"on {run_cfg.task} ({base_task(run_cfg.task)})"
        )
    data = load_training_data(replace(run_cfg, task=forget, dataset=None))
    if datasets.FORGET_MASK_KEY not in data:
        raise UserInputError(f"{forget} has no forget mask: name a poisoned id or a mask file")
    return data, data[datasets.FORGET_MASK_KEY]


def defender_mask(data: datasets.Dataset, mask: np.ndarray, ucfg: UnlearnConfig
                  ) -> Tuple[np.ndarray, Optional[dict]]:
    """The forget mask the defender acts on: `mask`; with `forget_recall` /
    `forget_precision` under 1, `mask` with misses and false alarms; with
    `detected_share`, what the poison detector flags. Also the recall and precision
    reached against `mask`, when it is not `mask` itself."""
    if ucfg.detected_share is not None:
        from osrl_unlearn.data.detection import flag_top, suspicion

        flagged = flag_top(suspicion(data)["suspicion"], ucfg.detected_share)
        detected = datasets.episodes_mask(data, np.flatnonzero(flagged))
        return detected, datasets.split_quality(data, detected, mask)
    if ucfg.forget_recall == 1.0 and ucfg.forget_precision == 1.0:
        return mask, None
    return datasets.imperfect_forget_mask(data, mask, ucfg.forget_recall,
                                          ucfg.forget_precision, ucfg.seed)


def check_dims(data: datasets.Dataset, state_dim: int, action_dim: int, source: str) -> None:
    """Refuse data whose observation or action size differs from the agent's."""
    observed = (data["observations"].shape[1], data["actions"].shape[1])
    if observed != (state_dim, action_dim):
        raise UserInputError(
            f"{source}: observations/actions have sizes {observed}, the agent expects "
            f"{(state_dim, action_dim)}"
        )


def as_trained(data: datasets.Dataset, cfg) -> datasets.Dataset:
    """Rewards and costs scaled, and `done` added, as OSRL's TransitionDataset serves them."""
    return {**data, "rewards": data["rewards"] * cfg.reward_scale,
            "costs": data["costs"] * cfg.cost_scale,
            "done": np.logical_or(data["terminals"], data["timeouts"]).astype(np.float32)}


def build_unlearner(run_cfg, adapter, env, keep: datasets.Dataset, ucfg: UnlearnConfig,
                    state: Optional[dict] = None, source: Optional[Path] = None):
    """The algorithm's unlearnable agent with OSRL's trainer attached, ready for `unlearn_step`.

    `state` is the source checkpoint (None: fresh weights, as the step-cost measurement
    uses). The reward reference is fixed here, on a sample of D_k.
    """
    model = adapter.build_model(run_cfg, *env_dims(env), unlearnable=True, data=keep)
    if state is not None:
        load_weights(model, state, source)
    trainer = adapter.build_trainer(model, env, run_cfg, BaseLogger())  # stores stats in memory
    sample = np.random.default_rng(ucfg.seed).permutation(len(keep["observations"]))
    sample = sample[:REFERENCE_SAMPLE]
    keep_sample = as_trained({key: value[sample] for key, value in keep.items()}, run_cfg)
    model.setup_unlearning(ucfg, keep_sample, trainer, adapter.train_step)
    return model


def multiplier_values(model, names) -> Dict[str, float]:
    """The agent's Lagrange multipliers as numbers for the log (a PID: its integral)."""
    values = {}
    for name in names:
        value = getattr(model, name)
        if hasattr(value, "error_integral"):  # OSRL's LagrangianPIDController
            values[f"multiplier/{name}_integral"] = float(value.error_integral)
        else:
            values[f"multiplier/{name}"] = float(value.detach() if torch.is_tensor(value) else value)
    return values


def carry_training_state(model, adapter, checkpoint: Path, keep_stream, warmup_steps: int,
                         progress: bool = True) -> dict:
    """Start from the optimizers and multipliers training left, or re-estimate the multipliers.

    Training through this project saves them beside the checkpoint. Without them (a
    run of unmodified OSRL) the multipliers restart from their initial values, which
    can be far from where training left them; the algorithm's own step is then run
    on D_k `warmup_steps` times, every network and its optimizer put back after each
    step, so that only the multipliers move.
    """
    saved = training_state_path(checkpoint)
    if saved.exists():
        load_training_state(model, torch.load(saved, weights_only=False))
        return {"source": f"loaded from {saved.name}", **multiplier_values(model, adapter.MULTIPLIERS)}
    initial = multiplier_values(model, adapter.MULTIPLIERS)
    tensors = [getattr(model, name) for name in adapter.MULTIPLIERS
               if isinstance(getattr(model, name), torch.Tensor)]
    networks = [name for name in adapter.OPTIMIZERS
                if not any(parameter is tensor for group in getattr(model, name).param_groups
                           for parameter in group["params"] for tensor in tensors)]
    weights = copy.deepcopy(model.state_dict())
    optimizers = {name: copy.deepcopy(getattr(model, name).state_dict()) for name in networks}
    for _ in trange(warmup_steps, desc="Re-estimating the multipliers", leave=False,
                    disable=not progress):
        model.retain_step(next(keep_stream))
        model.load_state_dict(weights)
        for name in networks:
            getattr(model, name).load_state_dict(copy.deepcopy(optimizers[name]))
    return {"source": f"re-estimated on D_k: no {saved.name} beside {checkpoint.name}",
            "warmup_steps": warmup_steps, "initial": initial,
            **multiplier_values(model, adapter.MULTIPLIERS)}


def offline_rank(forget_satisfied: float, retention_ratio: float, policy_shift: float,
                 ucfg: UnlearnConfig) -> Tuple[bool, bool, float]:
    """How a save ranks for model_best, without the environment (higher is better).

    First whether it retains D_k (Bellman errors within `retention_tolerance` of their
    starting levels), then whether the policy is steady on D_k (shift within
    `policy_shift_tolerance`), then, if it retains, its share of D_f transitions meeting
    the forget constraints, and if not, how close it is to retaining. Ranking saves that
    do not retain by what they forgot picked a COptiDICE agent's first save, still
    unsafe, while its later saves, as far over the tolerance but recovering, were safe.
    """
    retains = bool(retention_ratio <= 1.0 + ucfg.retention_tolerance)  # plain types: JSON
    steady = bool(policy_shift <= ucfg.policy_shift_tolerance)
    return retains, steady, float(forget_satisfied if retains else -retention_ratio)


class OfflineChoice:
    """Which save is model_best, decided save by save without the environment, and when
    the early stop ends the run: `stop_after_saves` saves in a row not chosen, for
    Safe-RULE (and reward-only) once model_best retains D_k and has forgotten some of
    D_f. Before any save retains it their run goes on (COptiDICE's go over the retention
    tolerance early and come back slowly: CarRun seed 1 stopped at its first save,
    unsafe, 1.56, while its first retaining save, at 3,500 steps, was safe).

    A save replaces model_best when it ranks higher (`offline_rank`). For Safe-RULE, with
    `forget_share_band` b > 0, saves that retain D_k and are as steady as model_best count
    as equal while they keep at least (1 - b) of the largest share of D_f forgotten so far
    among them, and the later one wins: it has had more of the algorithm's own training
    on D_k since the forgetting. Since the latest save inside the band keeps replacing
    model_best, Safe-RULE's early stop also ends the run once forgetting has levelled off:
    `stop_after_saves` saves that retain D_k since the largest share of D_f forgotten last
    rose by more than `forget_plateau` of it (saves that do not retain are not counted).
    """

    def __init__(self, ucfg: UnlearnConfig):
        self.cfg = ucfg
        # the band and the wait answer the forget terms' transient (the baselines have none
        # and keep the choice their rows were made with)
        self.forgets = ucfg.method in ("safe-rule", "reward-only")
        self.best_step: Optional[int] = None
        self.best_rank: Optional[Tuple[bool, bool, float]] = None
        self.top_share: Dict[str, float] = {}  # largest forget share per (retains, steady)
        self.saves_without_progress = 0  # retaining saves since the largest share last rose

    def offer(self, step: int, forget_satisfied: float, retention_ratio: float,
              policy_shift: float) -> bool:
        """Rank one save; True when it becomes model_best."""
        rank = offline_rank(forget_satisfied, retention_ratio, policy_shift, self.cfg)
        chosen = self.best_rank is None or rank > self.best_rank
        if rank[0] and self.forgets:
            # every level in top_share retains D_k: its largest is the plateau's reference
            top_retained = max(self.top_share.values(), default=0.0)
            progressed = rank[2] > (1.0 + self.cfg.forget_plateau) * top_retained
            self.saves_without_progress = 0 if progressed else self.saves_without_progress + 1
            level = str(rank[:2])
            top = self.top_share[level] = max(self.top_share.get(level, 0.0), rank[2])
            if self.cfg.forget_share_band > 0:
                within = rank[2] >= (1.0 - self.cfg.forget_share_band) * top
                chosen = chosen or (rank[:2] == tuple(self.best_rank[:2]) and within)
        if chosen:
            self.best_step, self.best_rank = step, rank
        return chosen

    def stop(self, step: int) -> bool:
        """Whether the early stop ends the run after the save at `step`."""
        saves = self.cfg.stop_after_saves
        if not saves or (self.forgets and not self.found_forgetting):
            return False
        levelled_off = self.forgets and self.cfg.forget_plateau > 0 \
            and self.saves_without_progress >= saves
        return levelled_off or step - self.best_step >= saves * self.cfg.save_every

    @property
    def found_forgetting(self) -> bool:
        """Whether model_best retains D_k and has forgotten some of D_f. A save that
        retains but forgot nothing is the source agent again: a 100,000-step BCQ-L whose
        forgetting waited for its critics to settle stopped there, still unsafe."""
        return bool(self.best_rank[0]) and self.best_rank[2] > 0.0

    def state_dict(self) -> dict:
        return {"best_step": self.best_step, "best_rank": self.best_rank,
                "top_share": dict(self.top_share),
                "saves_without_progress": self.saves_without_progress}

    def load_state_dict(self, state: dict) -> None:
        self.best_step, self.best_rank = state["best_step"], state["best_rank"]
        self.top_share = dict(state["top_share"])
        self.saves_without_progress = state["saves_without_progress"]


def replay_offline_choice(saves: Sequence[dict], ucfg: UnlearnConfig,
                          choice_class: type = OfflineChoice) -> Tuple[int, int]:
    """The save `OfflineChoice` makes model_best and the step its early stop ends the run
    at, replayed over a run's logged saves (steps in order, each with the keys of
    `progress.txt` the choice reads): a run that kept every save shows how each other
    setting of the choice, or another rule (`choice_class`, a subclass), would have done."""
    choice = choice_class(ucfg)
    for save in saves:
        choice.offer(save["step"], save["forget_satisfied"], save["retention_ratio"],
                     save["policy_shift"])
        if choice.stop(save["step"]):
            return choice.best_step, save["step"]
    return choice.best_step, saves[-1]["step"]


def resumable(target: Path) -> bool:
    """Whether `target` holds an unlearning run this version can resume (its state saved
    by this osrl-unlearn's state format)."""
    state_file = target / "checkpoint" / STATE_FILE
    return state_file.exists() and \
        torch.load(state_file, weights_only=False).get("version") == STATE_VERSION


def output_dir(source: Path, method: str, out: Optional[str]) -> Path:
    return Path(out) if out else source.parent / f"{source.name}-{method}"


def resume_state(model, adapter, choice: OfflineChoice, step: int, elapsed: float,
                 carried: Dict[str, Any]) -> Dict[str, Any]:
    """Everything `--resume` needs to continue a run saved after `step` exactly as if it
    had not stopped: the agent's optimizers and multipliers, the adaptive weight, the
    guard, the offline choice, the reward reference and the random streams."""
    return {
        "version": STATE_VERSION, "step": step,
        "offline_choice": choice.state_dict(), "elapsed_s": elapsed,
        "reward_reference": model.reward_reference,
        "forget_weight": model.forget_weight.state_dict(),
        "policy_guard": model.policy_guard.state_dict(),
        "agent": training_state(model, adapter.OPTIMIZERS, adapter.MULTIPLIERS),
        "carried_state": carried, **random_state(),
    }


def unlearn(source: Path, forget: Optional[str], ucfg: UnlearnConfig, out: Optional[str] = None,
            resume: bool = False, progress: bool = True,
            forget_episodes: Optional[str] = None) -> Path:
    """Run `ucfg.method` on the run at `source`; returns the new run directory.

    The forget set is `forget` (a poisoned id, a poisoned HDF5 file or a .npy mask) or
    `forget_episodes` (a file of episode indices into the run's training data).
    """
    if ucfg.method not in METHODS:
        raise UserInputError(f"unknown method {ucfg.method!r}; known: {', '.join(METHODS)}")
    if ucfg.source_checkpoint not in ("last", "best"):
        raise UserInputError(f"--unlearning.source_checkpoint must be last or best, got {ucfg.source_checkpoint!r}")
    for name in ("forget_recall", "forget_precision"):
        if not 0.0 < getattr(ucfg, name) <= 1.0:
            raise UserInputError(f"--unlearning.{name} must be in (0, 1], got {getattr(ucfg, name)}")
    if ucfg.detected_share is not None and not 0.0 < ucfg.detected_share < 1.0:
        raise UserInputError(f"--unlearning.detected_share must be strictly between 0 and 1, "
                             f"got {ucfg.detected_share}")
    if ucfg.detected_share is not None and (ucfg.forget_recall, ucfg.forget_precision) != (1.0, 1.0):
        raise UserInputError("--unlearning.detected_share picks the forget set itself: leave "
                             "forget_recall and forget_precision at 1")
    if ucfg.stop_after_saves < 0:
        raise UserInputError(f"--unlearning.stop_after_saves must be 0 (off) or more, got {ucfg.stop_after_saves}")
    if not 0.0 <= ucfg.forget_share_band < 1.0:
        raise UserInputError(f"--unlearning.forget_share_band must be in [0, 1), got {ucfg.forget_share_band}")
    if ucfg.forget_plateau < 0.0:
        raise UserInputError(f"--unlearning.forget_plateau must be 0 (off) or more, got {ucfg.forget_plateau}")
    for name in ("steps", "save_every", "retention_every"):
        if getattr(ucfg, name) < 1:
            raise UserInputError(f"--unlearning.{name} must be at least 1, got {getattr(ucfg, name)}")
    # a negative retention tolerance asks the Bellman errors to fall; at -1, to zero
    for name, least in (("retention_tolerance", -1.0), ("policy_shift_tolerance", 0.0)):
        if not getattr(ucfg, name) > least:
            raise UserInputError(f"--unlearning.{name} must be above {least:g}, got {getattr(ucfg, name)}")
    source = Path(source)
    if not source.exists():
        raise UserInputError(f"run not found: {source}")
    run_cfg, run_config, adapter, state, checkpoint = load_run(
        source, best=ucfg.source_checkpoint == "best")
    data, mask = resolve_forget(forget, run_cfg, forget_episodes)
    forget = forget or f"episodes listed in {forget_episodes}"
    mask, split = defender_mask(data, mask, ucfg)
    keep, forget_set = datasets.split_keep_forget(data, mask)
    env = make_eval_env(run_cfg.task, run_cfg.reward_scale, run_cfg.cost_limit)
    check_dims(data, *env_dims(env)[:2], forget)
    target = output_dir(source, ucfg.method, out)
    if target.resolve() == source.resolve():
        raise UserInputError("the output run must differ from the source run")
    if (target / "checkpoint" / "model.pt").exists() and not resume:
        raise UserInputError(f"{target} exists; pass --resume true to continue it, or another --out")
    state_file = RESUME_FILE if ucfg.method == "retrain" else STATE_FILE  # training's or ours
    if resume and not (target / "checkpoint" / state_file).exists():
        raise UserInputError(f"nothing to resume in {target}")

    record = {**run_config, "unlearning": asdict(ucfg), "source_run": str(source),
              "source_checkpoint": checkpoint.name, "forget": forget,
              **({"forget_split": split} if split else {})}
    if ucfg.method == "retrain":
        return _retrain(replace(run_cfg, unlearning=ucfg), adapter, keep, target, record, progress,
                        resume)

    target.joinpath("checkpoint").mkdir(parents=True, exist_ok=True)
    with open(target / "config.yaml", "w") as handle:
        yaml.safe_dump(json.loads(json.dumps(record, default=str)), handle, sort_keys=False)

    seed = ucfg.seed
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    if run_cfg.device == "cpu":
        torch.set_num_threads(run_cfg.threads)
    model = build_unlearner(run_cfg, adapter, env, keep, ucfg, state, source)
    forget_scaled = as_trained(forget_set, run_cfg)
    judge_cost = ucfg.method != "reward-only" and ucfg.cost_terms  # which constraints count

    batch_cfg = replace(run_cfg, batch_size=ucfg.batch_size or run_cfg.batch_size)
    keep_stream = sampled_batches(keep, batch_cfg, adapter)
    forget_stream = sampled_batches(forget_set, batch_cfg, adapter)
    start, elapsed, choice = 0, 0.0, OfflineChoice(ucfg)
    if resume:
        saved = torch.load(target / "checkpoint" / STATE_FILE, weights_only=False)
        if saved.get("version") != STATE_VERSION:
            raise UserInputError(
                f"{target} was saved by an older osrl-unlearn whose unlearning state differs; "
                "it cannot be resumed: start again with another --out")
        model.load_state_dict(torch.load(target / "checkpoint" / "model.pt")["model_state"])
        load_training_state(model, saved["agent"])
        model.forget_weight.load_state_dict(saved["forget_weight"])
        model.policy_guard.load_state_dict(saved["policy_guard"])
        model.reward_reference = saved["reward_reference"]
        start, elapsed, carried = saved["step"], saved["elapsed_s"], saved["carried_state"]
        choice.load_state_dict(saved["offline_choice"])
        set_random_state(saved)
    else:
        carried = carry_training_state(model, adapter, checkpoint, keep_stream,
                                       ucfg.multiplier_warmup, progress)
        (target / "carried_state.json").write_text(json.dumps(carried, indent=2))

    log = ProgressLog(target / "progress.txt")
    with contextlib.redirect_stdout(io.StringIO()):  # its "log dir exists" note: it does
        board = TensorboardLogger(str(target.parent), log_txt=False, name=target.name)
    try:  # a run that fails still closes its writer: a bench process goes on to the next
        window, steps_run = [], start
        for step in trange(start, ucfg.steps, initial=start, total=ucfg.steps,
                           desc=f"Unlearning ({ucfg.method})", disable=not progress):
            started = time.perf_counter()
            metrics = model.unlearn_step(next(keep_stream), next(forget_stream), step)
            elapsed += time.perf_counter() - started
            window.append(metrics)
            if (step + 1) % ucfg.save_every == 0 or step + 1 == ucfg.steps:
                summary = {key: float(np.mean([m[key] for m in window if key in m]))
                           for key in window[-1]}
                window = []
                report = model.forget_report(forget_scaled, cost_terms=judge_cost)
                retention = model.forget_weight.ratio
                shift = model.policy_guard.shift
                logged = {**summary, **report, "retention_ratio": retention, "policy_shift": shift,
                          **multiplier_values(model, adapter.MULTIPLIERS), "wall_time_s": elapsed}
                log.write(step + 1, logged)
                board.store(**logged)
                board.write_without_reset(step + 1)  # write() needs the text file we leave off
                board.reset_data()
                checkpoint_state = {"model_state": model.state_dict()}
                torch.save(checkpoint_state, target / "checkpoint" / "model.pt")
                if ucfg.keep_saves:
                    torch.save(checkpoint_state, target / "checkpoint" / f"model_{step + 1}.pt")
                if choice.offer(step + 1, report["forget_satisfied"], retention, shift):
                    torch.save(checkpoint_state, target / "checkpoint" / "model_best.pt")
                torch.save(resume_state(model, adapter, choice, step + 1, elapsed, carried),
                           target / "checkpoint" / STATE_FILE)
                steps_run = step + 1
                if choice.stop(steps_run):
                    break  # no later save has beaten model_best for `stop_after_saves` saves
    finally:
        close_logger(board)
    final = model.forget_report(forget_scaled, cost_terms=judge_cost)
    retains = bool(choice.best_rank[0])
    summary = {"method": ucfg.method, "steps": ucfg.steps, "steps_run": steps_run,
               "wall_time_s": elapsed, "best_step": choice.best_step, "best_rank": choice.best_rank,
               "model_best_retains_keep": retains,
               "keep_transitions": len(keep["observations"]),
               "forget_transitions": len(forget_set["observations"]), "forget_split": split,
               "carried_state": carried,
               "final_forget_report": final}
    (target / "unlearn_summary.json").write_text(json.dumps(summary, indent=2))
    if not retains:
        print(f"warning: {target}: no save kept D_k's Bellman errors within "
              f"{1.0 + ucfg.retention_tolerance:g} times their start (--unlearning."
              f"retention_tolerance); model_best.pt is the save closest to it (step "
              f"{choice.best_step}, ratio {-choice.best_rank[2]:.2f}), and what D_k taught may "
              "be damaged: evaluate it before use", file=sys.stderr)
    return target


def _retrain(run_cfg, adapter, keep: datasets.Dataset, target: Path, record: dict,
             progress: bool, resume: bool = False) -> Path:
    """Exact unlearning: train from scratch on D_k with the source run's settings
    (`resume`: continue a retraining stopped after one of its evaluations)."""
    cfg = replace(run_cfg, logdir=str(target.parent.parent), group=target.parent.name,
                  name=target.name)
    started = time.perf_counter()
    run_dir = train(cfg, adapter, data=keep, progress=progress, resume=resume)
    timing = json.loads((run_dir / "timing.json").read_text())
    with open(run_dir / "config.yaml", "a") as handle:  # `unlearning` is already in cfg
        kept = ("source_run", "forget", "forget_split")
        yaml.safe_dump({key: record[key] for key in kept if key in record}, handle,
                       sort_keys=False)
    summary = {"method": "retrain", "steps": cfg.update_steps, "wall_time_s": timing["train_s"],
               "forget_split": record.get("forget_split"),
               "total_time_s": time.perf_counter() - started,
               "keep_transitions": len(keep["observations"])}
    (run_dir / "unlearn_summary.json").write_text(json.dumps(summary, indent=2))
    return run_dir
