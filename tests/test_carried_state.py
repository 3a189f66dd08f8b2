"""What OSRL's checkpoints drop (optimizers, multipliers) is carried into unlearning,
re-estimated when it is missing, and a resumed run ends exactly where a straight one does."""

import json
import shutil

import pytest
import torch

from osrl_unlearn.data import datasets
from osrl_unlearn.adapters import ALGORITHMS
from osrl_unlearn.evaluation import make_eval_env
from conftest import TINY_NETWORKS
from osrl_unlearn.runs import load_run, training_state_path
from osrl_unlearn.training import batches
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import (
    build_unlearner, carry_training_state, multiplier_values, resolve_forget, unlearn
)

FORGET_ID = "OfflineBallRun-Generated-MaxCost15-v0"


def unlearner(run, method="safe-rule"):
    """The run's unlearnable agent, its adapter, its checkpoint and a D_k batch stream."""
    cfg, _, adapter, state, checkpoint = load_run(run, best=False)
    keep, _ = datasets.split_keep_forget(*resolve_forget(FORGET_ID, cfg))
    env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
    model = build_unlearner(cfg, adapter, env, keep, UnlearnConfig(method=method), state, run)
    return model, adapter, checkpoint, batches(keep, cfg, adapter)


def flat(value):
    """Every tensor in a nested optimizer state or multiplier, in order."""
    if torch.is_tensor(value):
        return [value.detach().reshape(-1)]
    if isinstance(value, dict):
        return [t for key in sorted(value, key=str) for t in flat(value[key])]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in flat(item)]
    if hasattr(value, "__dict__"):  # OSRL's PID controller
        return flat(vars(value))
    return [torch.tensor([float(value)])] if isinstance(value, (int, float)) else []


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_training_state_saved_beside_the_checkpoint_comes_back_exactly(poisoned_runs, algorithm):
    model, adapter, checkpoint, stream = unlearner(poisoned_runs[algorithm])
    saved = torch.load(training_state_path(checkpoint), weights_only=False)
    assert set(saved["optimizers"]) == set(adapter.OPTIMIZERS)
    assert saved["optimizers"]["actor_optim"]["state"], "training's Adam moments were saved"
    carried = carry_training_state(model, adapter, checkpoint, stream, warmup_steps=0,
                                   progress=False)
    assert carried["source"].startswith("loaded")
    for name in adapter.OPTIMIZERS:
        restored, original = flat(getattr(model, name).state_dict()), flat(saved["optimizers"][name])
        assert len(restored) == len(original) > 0
        assert all(torch.equal(a, b) for a, b in zip(restored, original))
    for name in adapter.MULTIPLIERS:
        restored, original = flat(getattr(model, name)), flat(saved["multipliers"][name])
        assert all(torch.equal(a, b) for a, b in zip(restored, original))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_without_saved_state_only_the_multipliers_are_re_estimated(poisoned_runs, tmp_path,
                                                                   algorithm):
    run = tmp_path / algorithm
    shutil.copytree(poisoned_runs[algorithm], run)
    for state_file in run.glob("checkpoint/training_state*.pt"):
        state_file.unlink()  # as a run of unmodified OSRL
    model, adapter, checkpoint, stream = unlearner(run)
    weights = {key: value.clone() for key, value in model.state_dict().items()}
    before = multiplier_values(model, adapter.MULTIPLIERS)
    carried = carry_training_state(model, adapter, checkpoint, stream, warmup_steps=30,
                                   progress=False)
    assert carried["source"].startswith("re-estimated") and carried["warmup_steps"] == 30
    assert carried["initial"] == before
    assert all(torch.equal(weights[key], value) for key, value in model.state_dict().items())
    if algorithm in ("cpq", "coptidice"):  # multipliers that move every step
        assert multiplier_values(model, adapter.MULTIPLIERS) != before


def test_a_run_without_saved_state_still_unlearns(poisoned_runs, tmp_path):
    run = tmp_path / "osrl-run"
    shutil.copytree(poisoned_runs["cpq"], run)
    for state_file in run.glob("checkpoint/training_state*.pt"):
        state_file.unlink()
    out = unlearn(run, FORGET_ID, UnlearnConfig(steps=20, save_every=10, retention_warmup=5,
                                                multiplier_warmup=10),
                  out=str(tmp_path / "unlearned"), progress=False)
    carried = json.loads((out / "carried_state.json").read_text())
    assert carried["source"].startswith("re-estimated") and carried["warmup_steps"] == 10
    summary = json.loads((out / "unlearn_summary.json").read_text())
    assert summary["steps_run"] == 20 and summary["carried_state"] == carried


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_interrupted_run_resumed_ends_as_one_that_ran_straight_through(poisoned_runs,
                                                                          tmp_path, algorithm):
    """Forget terms active from step 5; the interruption falls at step 20 of 30."""
    settings = dict(save_every=10, retention_warmup=5, forget_weight=5.0)
    straight = unlearn(poisoned_runs[algorithm], FORGET_ID, UnlearnConfig(steps=30, **settings),
                       out=str(tmp_path / "straight"), progress=False)
    resumed = tmp_path / "resumed"
    unlearn(poisoned_runs[algorithm], FORGET_ID, UnlearnConfig(steps=20, **settings),
            out=str(resumed), progress=False)
    unlearn(poisoned_runs[algorithm], FORGET_ID, UnlearnConfig(steps=30, **settings),
            out=str(resumed), resume=True, progress=False)
    final = [torch.load(run / "checkpoint" / "model.pt")["model_state"] for run in (straight, resumed)]
    assert final[0].keys() == final[1].keys()
    assert all(torch.equal(final[0][key], final[1][key]) for key in final[0])
    logs = [(run / "progress.txt").read_text().splitlines() for run in (straight, resumed)]
    header = logs[0][0].split("\t")
    assert "unlearn/forget_satisfied" in header  # the forget terms ran
    wall = header.index("wall_time_s")
    strip = [[line.split("\t")[:wall] + line.split("\t")[wall + 1:] for line in log] for log in logs]
    assert strip[0] == strip[1]  # every logged metric too, wall time aside


@pytest.mark.parametrize("algorithm", ["bcql", "coptidice"])
def test_training_stopped_after_an_evaluation_resumes_to_the_same_weights(ball_run_file, tmp_path,
                                                                          algorithm):
    """Stopped at step 13 (last evaluation at 10) and resumed, or straight through: one model."""
    from osrl_unlearn.adapters import get_adapter
    from osrl_unlearn.training import train

    adapter = get_adapter(algorithm)
    extra = {"vae_hidden_sizes": 16} if "vae_hidden_sizes" in adapter.Config.__dataclass_fields__ else {}

    def config(name):
        return adapter.Config(task="OfflineBallRun-Generated-MaxCost15-v0", update_steps=20, eval_every=10,
                              eval_episodes=1, batch_size=32, logdir=str(tmp_path), name=name,
                              threads=1, **TINY_NETWORKS, **extra)

    straight = train(config("straight"), adapter, progress=False)

    class Stop(Exception):
        pass

    calls = {"count": 0}
    original = adapter.train_step

    def stopping_step(trainer, batch):
        calls["count"] += 1
        if calls["count"] > 13:
            raise Stop
        return original(trainer, batch)

    adapter.train_step = stopping_step
    try:
        with pytest.raises(Stop):
            train(config("stopped"), adapter, progress=False)
    finally:
        adapter.train_step = original
    resumed = train(config("stopped"), adapter, progress=False, resume=True)
    for name in ("model.pt", "training_state.pt"):
        first, second = (flat(torch.load(run / "checkpoint" / name, weights_only=False))
                         for run in (straight, resumed))
        assert len(first) == len(second) > 0
        assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert len((resumed / "progress.txt").read_text().splitlines()) == 3  # header, two rows
