"""Every adapter's forget path, past the retention warm-up, on real (tiny) OSRL agents:
the forget terms move D_f towards its constraints where fine-tuning on the same data
does not, and the forget weight scales the one joint update it takes part in."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml

from osrl_unlearn.data import datasets
from osrl_unlearn.adapters import ALGORITHMS
from osrl_unlearn.evaluation import make_eval_env
from osrl_unlearn.runs import load_run
from osrl_unlearn.training import batches
from osrl_unlearn.unlearning.objective import UnlearnConfig, reward_forget_loss
from osrl_unlearn.unlearning.stage import build_unlearner, resolve_forget, unlearn

FORGET_ID = "OfflineBallRun-Generated-MaxCost15-v0"
STEPS = dict(steps=300, save_every=300, retention_warmup=10)


def source_run(poisoned_runs, tmp_path, algorithm):
    """The tiny poisoned run; COptiDICE's copy learns nu 100 times faster than its 1e-4,
    at which its weights on D_f barely move in a test's few hundred steps."""
    if algorithm != "coptidice":
        return poisoned_runs[algorithm]
    run = tmp_path / "coptidice-source"
    shutil.copytree(poisoned_runs[algorithm], run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "critic_lr": 0.01}))
    return run


def final_report(source, tmp_path, method, **settings):
    out = unlearn(source, FORGET_ID, UnlearnConfig(method=method, **STEPS, **settings),
                  out=str(tmp_path / method), progress=False)
    return json.loads((out / "unlearn_summary.json").read_text())["final_forget_report"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_safe_rule_meets_more_forget_constraints_than_fine_tuning(poisoned_runs, tmp_path,
                                                                 algorithm):
    source = source_run(poisoned_runs, tmp_path, algorithm)
    fixed = dict(adaptive_forget_weight=False, forget_weight=20.0)
    safe_rule = final_report(source, tmp_path, "safe-rule", **fixed)
    finetune = final_report(source, tmp_path, "finetune", **fixed)
    assert safe_rule["forget_satisfied"] >= finetune["forget_satisfied"] + 0.15
    if algorithm != "coptidice":  # the cost critic's own constraint, on its own
        assert safe_rule["forget_cost_at_floor"] >= finetune["forget_cost_at_floor"] + 0.15
        assert safe_rule["forget_mean_q_cost"] > finetune["forget_mean_q_cost"] + 3.0


@pytest.mark.parametrize("algorithm", ("bcql", "cpq"))
def test_reward_only_lowers_q_r_on_d_f_and_leaves_the_cost_critic_to_fine_tuning(
        poisoned_runs, tmp_path, algorithm):
    fixed = dict(adaptive_forget_weight=False, forget_weight=20.0)
    reward_only = final_report(poisoned_runs[algorithm], tmp_path, "reward-only", **fixed)
    finetune = final_report(poisoned_runs[algorithm], tmp_path, "finetune", **fixed)
    assert reward_only["forget_reward_under_reference"] >= \
        finetune["forget_reward_under_reference"] + 0.3
    assert reward_only["forget_cost_at_floor"] < 0.5  # no cost term: Q_c on D_f not lifted


def warmed_up_unlearner(source, ucfg: UnlearnConfig):
    """The source's unlearnable agent after one warm-up step (retention_warmup=1), seeded,
    with the D_k and D_f batch it goes on with: from the next step on, it forgets."""
    torch.manual_seed(0)
    np.random.seed(0)  # OSRL's batches are drawn from numpy's global generator
    cfg, _, adapter, state, _ = load_run(source, best=False)
    keep, forget = datasets.split_keep_forget(*resolve_forget(FORGET_ID, cfg))
    env = make_eval_env(cfg.task, cfg.reward_scale, cfg.cost_limit)
    model = build_unlearner(cfg, adapter, env, keep, replace(ucfg, retention_warmup=1), state,
                            source)
    keep_batch, forget_batch = next(batches(keep, cfg, adapter)), next(batches(forget, cfg, adapter))
    model.unlearn_step(keep_batch, forget_batch, step=0)  # the warm-up step: retention only
    return model, keep_batch, forget_batch


def critic_gradients(source, forget_weight: float):
    """What the reward critic's optimizer steps on in one Safe-RULE step past the warm-up,
    and the unweighted forget term's own gradient at the same parameters."""
    model, keep_batch, forget_batch = warmed_up_unlearner(
        source, UnlearnConfig(forget_weight=forget_weight, adaptive_forget_weight=False))
    seen = {}

    def capture(optimizer, args, kwargs):  # runs after the forget hook, before the step
        parameters = list(model.critic.parameters())
        seen["stepped"] = torch.cat([p.grad.flatten() for p in parameters])
        values = model.reward_members(*forget_batch[0:3:2])
        forget_gradient = torch.autograd.grad(
            reward_forget_loss(values, model.reward_reference), parameters)
        seen["forget"] = torch.cat([g.flatten() for g in forget_gradient])

    model.critic_optim.register_step_pre_hook(capture)
    model.unlearn_step(keep_batch, forget_batch, step=1)
    return seen


def test_the_critic_steps_on_the_weighted_objective(poisoned_runs):
    """grad(Bellman(D_k) + w * forget(D_f)): the weight scales the forget term's part of
    the one gradient the critic's optimizer steps on. (A separate Adam step for the
    forget term, as before, would be the same at any weight: Adam divides it out.)"""
    light, heavy = (critic_gradients(poisoned_runs["bcql"], weight) for weight in (1.0, 100.0))
    assert torch.allclose(light["forget"], heavy["forget"])
    assert light["forget"].norm() > 0
    assert torch.allclose(heavy["stepped"] - light["stepped"], 99.0 * light["forget"],
                          rtol=1e-4, atol=1e-6)


def bcql_parts_after_one_forget_step(source, method: str, actor_forget_weight: float):
    """BCQ-L's (perturbation actor, VAE decoder) after one step of `method` past the
    warm-up, gate off."""
    model, keep_batch, forget_batch = warmed_up_unlearner(
        source, UnlearnConfig(method=method, actor_gate=False,
                              actor_forget_weight=actor_forget_weight))
    model.unlearn_step(keep_batch, forget_batch, step=1)
    return tuple(torch.cat([p.detach().flatten() for p in part.parameters()])
                 for part in (model.actor, model.vae.d1))


@pytest.mark.parametrize("method", ("safe-rule", "trajdeleter"))
def test_bcql_forget_terms_move_its_decoder_too(poisoned_runs, method):
    """BCQ-L's action is the decoded action plus at most phi: Safe-RULE's actor term and
    TrajDeleter's value suppression reach the decoder as well as the perturbation actor
    (with the perturbation alone Safe-RULE left BallRun BCQ-L unsafe under RewardLure15:
    results/ballcircle-bcql/perturbation-only.md)."""
    (actor, decoder), (actor_without, decoder_without) = (
        bcql_parts_after_one_forget_step(poisoned_runs["bcql"], method, weight)
        for weight in (1.0, 0.0))
    assert not torch.equal(actor, actor_without)
    assert not torch.equal(decoder, decoder_without)


def policy_after_one_alarmed_step(source, cost_margin: float, actor_forget_weight: float,
                                  actor_gate_waits: bool = True):
    """BCQ-L's perturbation actor and actor gate share after one Safe-RULE step past the
    warm-up, its cost critic read 1,000 higher so that it judges the policy unsafe on
    every D_f state; the critic terms off, so only the actor term can move the policy."""
    model, keep_batch, forget_batch = warmed_up_unlearner(source, UnlearnConfig(
        cost_margin=cost_margin, forget_weight=0.0, adaptive_forget_weight=False,
        actor_forget_weight=actor_forget_weight, actor_gate_waits=actor_gate_waits))
    cost_members = type(model).cost_members
    model.cost_members = lambda observations, actions: \
        cost_members(model, observations, actions) + 1_000.0
    metrics = model.unlearn_step(keep_batch, forget_batch, step=1)
    actor = torch.cat([p.detach().flatten() for p in model.actor.parameters()])
    return actor, metrics["unlearn/actor_gate_share"]


def test_the_waiting_gate_waits_for_the_cost_critic_to_learn_the_poisoned_action(poisoned_runs):
    """Judged unsafe everywhere, with `actor_gate_waits` the policy is pushed only where the
    cost critic values a_f at its floor: with the floor out of reach the actor term leaves
    the policy as fine-tuning would; within reach it moves it. The default gate does not wait."""
    source = poisoned_runs["bcql"]
    unmoved, _ = policy_after_one_alarmed_step(source, cost_margin=0.5, actor_forget_weight=0.0)
    waiting, waiting_share = policy_after_one_alarmed_step(source, 1e9, actor_forget_weight=1.0)
    learnt, learnt_share = policy_after_one_alarmed_step(source, 0.5, actor_forget_weight=1.0)
    default, default_share = policy_after_one_alarmed_step(source, 1e9, 1.0, actor_gate_waits=False)
    assert waiting_share == 0.0 and torch.equal(waiting, unmoved)
    assert learnt_share == 1.0 and not torch.equal(learnt, unmoved)
    assert default_share == 1.0 and not torch.equal(default, unmoved)


def guard_scale_after_a_strong_actor_term(source, policy_shift_tolerance: float,
                                          **overrides) -> float:
    """The actor term's guard scale after 150 Safe-RULE steps with a strong actor term."""
    model, keep_batch, forget_batch = warmed_up_unlearner(source, UnlearnConfig(
        actor_gate=False, actor_forget_weight=50.0, retention_every=1, forget_weight_rate=0.05,
        policy_shift_tolerance=policy_shift_tolerance, **overrides))
    for step in range(1, 150):
        model.unlearn_step(keep_batch, forget_batch, step=step)
    return model.policy_guard.scale


def actor_after_one_guarded_step(source, actor_forget_weight: float, guard_scale: float):
    """BEAR-L's actor (its whole policy) after one Safe-RULE step past the warm-up, gate
    off, with the guard's scale set."""
    model, keep_batch, forget_batch = warmed_up_unlearner(
        source, UnlearnConfig(actor_gate=False, actor_forget_weight=actor_forget_weight))
    model.policy_guard.scale = guard_scale
    model.unlearn_step(keep_batch, forget_batch, step=1)
    return torch.cat([p.detach().flatten() for p in model.actor.parameters()])


def test_the_guard_turns_the_actor_term_off_past_its_tolerance(poisoned_runs):
    """The collapse guard: with the policy's shift on D_k over its tolerance the guard's
    scale falls (with the tolerance out of reach it stays 1), and a scaled-down actor
    term no longer moves the policy: at scale 0 the actor steps as without the term.
    (On these 20-step agents their own retention steps move the policy more than the
    term does, so the shift itself cannot tell the two runs apart.)"""
    source = poisoned_runs["bearl"]
    shift_only = dict(actor_guard_retention=False)  # retention's part: the next test
    assert guard_scale_after_a_strong_actor_term(source, 10.0, **shift_only) == 1.0
    assert guard_scale_after_a_strong_actor_term(source, 0.02, **shift_only) < 0.1
    without_term = actor_after_one_guarded_step(source, 0.0, guard_scale=1.0)
    assert not torch.equal(actor_after_one_guarded_step(source, 1.0, guard_scale=1.0), without_term)
    assert torch.equal(actor_after_one_guarded_step(source, 1.0, guard_scale=0.0), without_term)


@pytest.mark.parametrize("algorithm", ["bearl", "coptidice"])
def test_the_guard_also_watches_retention_where_the_critics_follow_the_policy(poisoned_runs,
                                                                             algorithm):
    """With the shift's tolerance out of reach and D_k's Bellman errors past theirs, the
    scale falls where the critics bootstrap from the policy's actions (BEAR-L), not with
    `actor_guard_retention` off, and not on COptiDICE, whose nu and chi take no actions."""
    source = poisoned_runs[algorithm]
    past_retention = dict(retention_tolerance=-0.999)  # any rise at all is past it
    watched = guard_scale_after_a_strong_actor_term(source, 10.0, **past_retention)
    unwatched = guard_scale_after_a_strong_actor_term(source, 10.0, actor_guard_retention=False,
                                                      **past_retention)
    assert unwatched == 1.0
    assert (watched < 0.1) if algorithm == "bearl" else (watched == 1.0)


def coptidice_forget_likelihood(source, actor_forget_weight: float, steps: int = 10) -> float:
    """COptiDICE's mean log pi(a_f | s) on a D_f batch after `steps` Safe-RULE steps with
    its weight term off and the gate open: the actor term's effect alone."""
    model, keep_batch, forget_batch = warmed_up_unlearner(source, UnlearnConfig(
        actor_gate=False, forget_weight=0.0, adaptive_forget_weight=False,
        actor_forget_weight=actor_forget_weight))
    for step in range(1, steps + 1):
        model.unlearn_step(keep_batch, forget_batch, step=step)
    with torch.no_grad():
        return model.action_log_likelihood(forget_batch[0], forget_batch[2]).mean().item()


def test_coptidice_actor_term_lowers_the_likelihood_of_poisoned_actions(poisoned_runs):
    """The term reaches COptiDICE's policy with the right sign: after the same steps on
    the same batches, D_f's actions are less likely with it than without (fine-tuning)."""
    with_term, without = (coptidice_forget_likelihood(poisoned_runs["coptidice"], weight)
                          for weight in (1.0, 0.0))
    assert with_term < without
