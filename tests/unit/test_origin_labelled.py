"""The origin and the agent claim on the shared labelled data (``../shared``): every high origin on the
development half is right, no agent-claim basis is below the floor there, the agent named beats
the better trivial baseline on each subset's development half (the first speaker on the
algorithm-generated logs, the last on the hand-crafted ones), no routing line or executor is ever the
origin of a real log, and ``refinery/triage/calibration.json`` is what the data gives.

Apart from ``test_origin.py``'s principles so that the origin mutation group (``benchmarks/mutation.py``)
does not pay the labelled cases' triage for every surviving mutant; these run in the suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from refinery.trace.roles import Roles
from refinery.triage.model import FLOOR
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def triaged() -> list[Any]:
    from benchmarks.origin_cases import all_cases, triage_cases
    from benchmarks.results import who_and_when_logs

    if not (SHARED / "datasets" / "who-and-when").is_dir():
        pytest.skip(f"../shared is absent: no labelled failures at {SHARED / 'datasets'} (set REFINERY_SHARED_DIR)")
    return triage_cases(all_cases(SHARED, who_and_when_logs(SHARED)))


@pytest.fixture(scope="module")
def scored(triaged: list[Any]) -> list[Any]:
    return [(case, triage.origin) for case, triage in triaged]


def test_agent_claims_from_the_work_done_are_right_more_often_than_not_on_the_development_half(
    triaged: list[Any],
) -> None:
    from benchmarks.origin_cases import agent_counts

    count = agent_counts([(c, t.agent) for c, t in triaged if c.half == "development"], "most_work")
    assert count.named >= 20, "too few agent claims on the development half to measure"
    assert count.right / count.named >= FLOOR


def test_every_agent_claim_of_a_single_agent_system_is_right_and_no_basis_is_below_the_floor(
    triaged: list[Any],
) -> None:
    from benchmarks.origin_cases import AGENT_BASES, agent_counts

    dev = [(c, t.agent) for c, t in triaged if c.half == "development"]
    only = agent_counts(dev, "only_agent")
    assert only.named >= 1 and only.right == only.named
    for basis in AGENT_BASES:
        count = agent_counts(dev, basis)
        assert count.named == 0 or count.right / count.named >= FLOOR, basis


@pytest.mark.parametrize(
    ("subset", "last"),
    [("algorithm-generated", False), ("hand-crafted", True)],
    ids=["algorithm-generated, the first speaker", "hand-crafted, the last speaker"],
)
def test_the_agent_named_beats_the_better_trivial_baseline_on_the_development_half(
    triaged: list[Any], subset: str, last: bool
) -> None:
    """The baseline is the better of naming the first or the last agent to speak on that subset."""
    from benchmarks.origin import _same_agent, _speaker

    dev = [(c, t) for c, t in triaged if c.half == "development" and c.dataset == f"Who&When {subset}"]
    named = sum(
        _same_agent(claim.agent, case.agent) for case, t in dev if (claim := t.agent) is not None and claim.stated
    )
    speaker = sum(_same_agent(_speaker(case, last), case.agent) for case, _ in dev)
    assert named > speaker, (
        f"the agent named: {named} of {len(dev)}; the {'last' if last else 'first'} speaker: {speaker}"
    )


def test_every_high_confidence_origin_on_the_development_half_is_right(scored: list[Any]) -> None:
    high = [(case, origin) for case, origin in scored if origin is not None and origin.confidence == "high"]
    dev = [(c, o) for c, o in high if c.half == "development" and c.step is not None]
    assert dev, "no high-confidence origin on the development half to check"
    wrong = [f"{c.name}: named {o.section}, labelled R{c.step:04d}" for c, o in dev if o.step != c.step]
    assert not wrong


def test_the_committed_calibration_is_what_the_labelled_data_gives(scored: list[Any], triaged: list[Any]) -> None:
    from benchmarks.origin_cases import calibration_table

    committed = json.loads((Path(__file__).parents[2] / "refinery" / "triage" / "calibration.json").read_text())
    claims = [(case, triage.agent) for case, triage in triaged]
    assert committed == json.loads(json.dumps(calibration_table(scored, claims))), (
        "run `python -m benchmarks quality --calibrate`"
    )


def test_a_real_who_and_when_log_names_no_routing_and_no_executor_as_origin(triaged: list[Any]) -> None:
    logs = [(case, triage) for case, triage in triaged if case.dataset.startswith("Who&When")]
    assert len(logs) == 123
    for case, triage in logs:
        origin = triage.origin
        if origin is not None:
            assert Roles.of(case.trace).acts(case.trace.get(origin.run_id)), case.name
