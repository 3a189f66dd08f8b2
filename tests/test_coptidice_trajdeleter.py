"""COptiDICE's TrajDeleter forgetting lowers D_f's likelihood only down to its floor."""

import torch

from osrl_unlearn.data import datasets
from osrl_unlearn.evaluation import make_eval_env
from osrl_unlearn.runs import load_run
from osrl_unlearn.training import batches, load_training_data
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import build_unlearner


def test_forgetting_stops_at_the_likelihood_floor(poisoned_runs):
    cfg, _, adapter, state, _ = load_run(poisoned_runs["coptidice"])
    cfg.actor_lr = 0.01  # move fast, so an unbounded push would run far past the floor
    data = load_training_data(cfg)  # the run was trained on the poisoned id
    keep, forget = datasets.split_keep_forget(data, data[datasets.FORGET_MASK_KEY])
    env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
    model = build_unlearner(cfg, adapter, env, keep, UnlearnConfig(method="trajdeleter"), state)
    stream = batches(forget, cfg, adapter)
    for _ in range(300):
        loss, _ = model.value_suppression_term(next(stream))
        model.actor_optim.zero_grad()
        loss.backward()
        model.actor_optim.step()
    with torch.no_grad():
        observations, actions = (torch.as_tensor(forget[key]) for key in ("observations", "actions"))
        likelihood = model.action_log_likelihood(observations, actions)
    assert torch.isfinite(likelihood).all()
    assert likelihood.mean() > model.likelihood_floor - 1.0
