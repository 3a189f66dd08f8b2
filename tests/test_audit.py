"""The audit, on tiny real OSRL runs in the real simulator."""

import json

import numpy as np
import pytest

from conftest import run_cli
from osrl_unlearn.audit import AuditConfig, audit, forgotten_verdicts
from osrl_unlearn.errors import UserInputError
from osrl_unlearn.unlearning.objective import UnlearnConfig
from osrl_unlearn.unlearning.stage import unlearn

FORGET_ID = "OfflineBallRun-Generated-MaxCost15-v0"
TINY = AuditConfig(references=2, reference_steps=4, relearn_steps=4, relearn_eval_every=2,
                   eval_episodes=1)


def test_verdicts_forgive_what_lies_within_the_references_spread_only():
    references = [np.array([[1.0, 5.0], [2.0, 5.0]]), np.array([[1.2, 5.2], [2.2, 5.2]])]
    audited = np.array([[1.1, 5.1],    # between the references: forgotten
                        [9.0, 5.1]])   # far off on one value: remembered
    assert forgotten_verdicts(audited, references, z_threshold=3.0).tolist() == [True, False]


@pytest.fixture(scope="module", params=["bcql", "coptidice"])
def audited_pair(request, poisoned_runs, tmp_path_factory):
    """A poisoned tiny run and its retrained counterpart."""
    folder = tmp_path_factory.mktemp(f"audit-{request.param}")
    source = poisoned_runs[request.param]
    retrained = unlearn(source, FORGET_ID, UnlearnConfig(method="retrain"),
                        out=str(folder / "retrain"), progress=False)
    return source, retrained, folder


def test_the_retrained_agent_audited_against_itself(audited_pair):
    _, retrained, folder = audited_pair
    report = audit(retrained, FORGET_ID, retrained, folder / "self", TINY, best=False)
    assert report["policy_distance_forget"] == 0.0 and report["policy_distance_keep"] == 0.0
    assert report["forget_episodes"] == len(report["episode_forgotten"]) > 0
    assert report["relearning"] == report["retrained_relearning"]
    steps = [point["step"] for point in report["relearning"]["curve"]]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] <= TINY.relearn_steps
    assert json.loads((folder / "self" / "audit.json").read_text()) == report


def test_the_poisoned_agent_differs_from_the_retrained_one_and_references_are_reused(audited_pair):
    source, retrained, folder = audited_pair
    report = audit(source, FORGET_ID, retrained, folder / "poisoned", TINY, best=False)
    assert report["policy_distance_forget"] > 0.0
    assert 0.0 <= report["share_forgotten"] <= 1.0
    references = sorted((retrained.parent / f"{retrained.name}-audit-references").glob("seed*"))
    assert len(references) == TINY.references
    written = [(run / "checkpoint" / "model.pt").stat().st_mtime_ns for run in references]
    audit(source, FORGET_ID, retrained, folder / "again", TINY, best=False)
    assert [(run / "checkpoint" / "model.pt").stat().st_mtime_ns for run in references] == written


def test_bad_audits_are_one_clear_error(poisoned_runs, tmp_path):
    with pytest.raises(UserInputError, match="at least 2"):
        audit(poisoned_runs["bcql"], FORGET_ID, poisoned_runs["bcql"], tmp_path,
              AuditConfig(references=1))
    with pytest.raises(UserInputError, match="relearn-eval-every"):
        audit(poisoned_runs["bcql"], FORGET_ID, poisoned_runs["bcql"], tmp_path,
              AuditConfig(relearn_eval_every=0))
    result = run_cli("audit", "--path", str(poisoned_runs["bcql"]), "--forget", FORGET_ID,
                     "--retrained", str(tmp_path / "missing"))
    assert result.returncode == 2 and "not an OSRL run" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
