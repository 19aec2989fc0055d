"""How sure triage is, how often that was right, and how it is said (``triage/confidence.py``).

The level follows from the evidence by the module's principles; the precision quoted is the committed
measurement (``calibration.json``, written by ``python -m benchmarks quality --calibrate``); the
wording follows the level. A few tests swap in a calibration of their own through the module's one
reader of the file, to pin what is said when a level has too few labelled origins to quote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from refinery.triage import confidence
from refinery.triage.confidence import (
    MIN_SAMPLE,
    Evidence,
    agent_calibration,
    agent_sentence,
    failure_subject,
    level_of,
    precision_note,
    precision_of,
    unnamed_reason,
)
from refinery.triage.model import AgentClaim, Confidence, Origin

CALIBRATION = json.loads(
    (Path(__file__).resolve().parents[2] / "refinery" / "triage" / "calibration.json").read_text(encoding="utf-8")
)


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A calibration of the test's own: high well measured, medium under the sample, low absent."""
    table: dict[str, Any] = {
        "levels": {"high": {"named": 12, "right": 9}, "medium": {"named": MIN_SAMPLE - 1, "right": 2}},
        "agent": {"most_work": {"named": 20, "right": 13}, "first_answer": {"named": 3, "right": 3}},
    }
    monkeypatch.setattr(confidence, "calibration", lambda: table)
    yield table


def origin(level: Confidence, section: str = "R0004") -> Origin:
    return Origin(
        run_id="r4",
        section=section,
        step=4,
        name="search_flights",
        agent=None,
        finding_id="F01",
        reason="the earliest failure the run did not recover from",
        confidence=level,
    )


@pytest.mark.parametrize(
    ("evidence", "level"),
    [
        (Evidence(basis="expected_actions"), "high"),
        (Evidence(basis="expected_actions", missing=True), "low"),
        (Evidence(basis="baseline"), "medium"),
        (Evidence(basis="baseline", missing=True), "low"),
        (Evidence(basis="baseline", corroborated=True), "high"),
        (Evidence(basis="precondition"), "medium"),
        (Evidence(basis="loop"), "medium"),
        (Evidence(basis="error"), "low"),
        (Evidence(basis="error", ended_run=True), "low"),
        (Evidence(basis="error", crashed_run=True), "high"),
        (Evidence(basis="empty_output"), "low"),
        (Evidence(basis="recovered_error"), "low"),
        (Evidence(basis="recovered_error", corroborated=True), "high"),
    ],
)
def test_the_level_follows_from_the_evidence(evidence: Evidence, level: Confidence) -> None:
    assert level_of(evidence) == level


def test_the_evidence_is_described_in_words_with_what_corroborates_it() -> None:
    assert Evidence(basis="error").describe() == ["a failure the run did not recover from"]
    assert Evidence(basis="error", ended_run=True).describe() == [
        "a failure the run did not recover from",
        "no unrecovered failure comes after it",
    ]
    assert Evidence(basis="precondition", ended_run=True).describe()[1] == "no unrecovered failure comes after it"
    assert Evidence(basis="loop", ended_run=True).describe() == ["the same action with the same result, repeated"]
    assert Evidence(basis="error", ended_run=True, crashed_run=True).describe() == [
        "a failure the run did not recover from",
        "the run failed with this error",
    ]
    assert Evidence(basis="baseline", corroborated=True).describe() == [
        "departs from a passing run of the same task",
        "a second source points at the same step",
    ]
    assert Evidence(basis="a rule of a plugin").describe() == ["a rule of a plugin"]  # unknown bases say themselves


def test_precision_is_the_committed_measurement_and_none_under_the_sample() -> None:
    for level in ("high", "medium", "low"):
        row = CALIBRATION["levels"][level]
        expected = row["right"] / row["named"] if row["named"] >= MIN_SAMPLE else None
        assert precision_of(level) == expected


def test_precision_of_a_level_measured_too_rarely_or_never_is_not_a_number(measured: dict[str, Any]) -> None:
    assert precision_of("high") == 9 / 12
    assert precision_of("medium") is None  # MIN_SAMPLE - 1 labelled origins
    assert precision_of("low") is None  # never measured


def test_the_precision_note_gives_the_counts_or_says_they_are_too_few(measured: dict[str, Any]) -> None:
    assert precision_note(origin("high")) == "high confidence: right 9 of 12 times on labelled failures"
    assert precision_note(origin("medium")) == "medium confidence, not yet measured on enough labelled failures"
    assert precision_note(origin("low")) == "low confidence, not yet measured on enough labelled failures"


def test_with_nothing_named_the_report_says_what_was_checked_and_never_the_leads_step(
    measured: dict[str, Any],
) -> None:
    checked = ["6 steps of the system under test", "failures along the way: 0"]
    assert unnamed_reason(checked, None) == (
        "Triage names no origin step. It checked: 6 steps of the system under test; failures along the way: 0."
    )
    assert unnamed_reason([], None) == "Triage names no origin step. It checked: errors, loops and empty answers."
    said = unnamed_reason(checked, origin("high", section="R0042"))
    assert said == (
        "Triage names no origin step: its best lead has high confidence, which was right 9 of 12 times on "
        "labelled failures, under the 50% floor. It checked: 6 steps of the system under test; failures along the way: 0."
    )
    assert "R0042" not in said
    assert "right 0 of 0 times" in unnamed_reason(checked, origin("low"))


def test_agent_claims_read_their_own_basis_row(measured: dict[str, Any]) -> None:
    assert agent_calibration("most_work") == (20, 13)
    assert agent_calibration("first_answer") == (3, 3)
    assert agent_calibration("only_agent") == (0, 0)


def claim(basis: str, **update: Any) -> AgentClaim:
    values: dict[str, Any] = {
        "agent": "WebSurfer",
        "basis": basis,
        "reason": "the agent that did most of the work the answer rests on",
        "work_steps": 7,
        "all_work_steps": 9,
        "first_section": "R0005",
        "named": 20,
        "right": 13,
    }
    return AgentClaim.model_validate(values | update)


def test_the_agent_sentence_says_each_basis_its_own_way_with_the_measured_counts() -> None:
    assert agent_sentence(claim("most_work")) == (
        "The failure possibly lies in `WebSurfer`'s work (7 of 9 steps of work, the first at R0005): the agent "
        "that did most of the work the answer rests on. Low confidence: right 13 of 20 times on labelled "
        "multi-agent failures."
    )
    assert "(its first answer at R0005)" in agent_sentence(claim("first_answer"))
    only = agent_sentence(claim("only_agent", confidence="high"))
    assert only.startswith("The failure lies in `WebSurfer`'s work (start reading at R0005)")
    assert "High confidence" in only
    assert "lies in `WebSurfer`'s work: the agent" in agent_sentence(claim("most_work", first_section=None))
    assert agent_sentence(claim("most_work"), lambda name: f"<{name}>").startswith(
        "The failure possibly lies in <WebSurfer>"
    )


def test_the_share_of_work_says_all_or_only_when_one_agent_did_it_all() -> None:
    assert "(all 3 steps of work, the first at R0005)" in agent_sentence(
        claim("most_work", work_steps=3, all_work_steps=3)
    )
    assert "(both steps of work, the first at R0005)" in agent_sentence(
        claim("most_work", work_steps=2, all_work_steps=2)
    )
    only = agent_sentence(claim("most_work", work_steps=1, all_work_steps=1))
    assert "`WebSurfer`'s work (its only step of work, at R0005): the agent" in only
    assert "(1 of 2 steps of work, the first at R0005)" in agent_sentence(
        claim("most_work", work_steps=1, all_work_steps=2)
    )


def test_an_agent_claim_measured_too_rarely_says_so() -> None:
    assert "right 5 of 5 times" in agent_sentence(claim("most_work", named=MIN_SAMPLE, right=MIN_SAMPLE))
    rare = agent_sentence(claim("most_work", named=MIN_SAMPLE - 1, right=MIN_SAMPLE - 1))
    assert rare.endswith("Low confidence: not yet measured on enough labelled failures.")


@pytest.mark.parametrize(
    ("verdict", "subject"),
    [
        (None, "The failure"),
        ("failed", "The failure"),
        ("passed", "If this run failed, the failure"),
        ("unknown", "If this run failed, the failure"),
    ],
)
def test_a_run_not_known_to_have_failed_is_not_said_to_have_failed(verdict: str | None, subject: str) -> None:
    assert failure_subject(verdict) == subject


@pytest.mark.parametrize("verdict", [None, "failed", "passed", "unknown"])
def test_the_agent_sentence_calls_a_run_a_failure_only_when_it_is_not_known_to_have_passed(verdict: str | None) -> None:
    said = agent_sentence(claim("most_work"), verdict=verdict)
    assert said.startswith(f"{failure_subject(verdict)} possibly lies in `WebSurfer`'s work")


def test_a_level_measured_exactly_the_minimum_number_of_times_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {
        "levels": {"low": {"named": MIN_SAMPLE, "right": 2}},
        "agent": {"most_work": {"named": MIN_SAMPLE, "right": 4}},
    }
    monkeypatch.setattr(confidence, "calibration", lambda: table)
    assert precision_of("low") == 2 / MIN_SAMPLE
    assert precision_note(origin("low")) == f"low confidence: right 2 of {MIN_SAMPLE} times on labelled failures"
    assert "which was right 2 of 5 times" in unnamed_reason([], origin("low"))


def test_a_calibration_with_no_tables_measures_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confidence, "calibration", lambda: {})
    assert precision_of("high") is None
    assert agent_calibration("most_work") == (0, 0)
    assert precision_note(origin("high")) == "high confidence, not yet measured on enough labelled failures"
    assert "which was right 0 of 0 times" in unnamed_reason([], origin("medium"))


@pytest.mark.parametrize(
    ("verdict", "subject"), [("failed", "The failure"), ("passed", "If this run failed, the failure")]
)
def test_triage_md_calls_a_run_a_failure_only_when_it_is_not_known_to_have_passed(verdict: str, subject: str) -> None:
    from refinery.documents.render import RenderOptions
    from refinery.triage.document import render_triage_md
    from refinery.triage.model import TriageReport

    stated = origin("high").model_copy(update={"precision": 1.0})
    triage = TriageReport(trace_id="t", findings=[], runs=5, errored_runs=1, origin=stated)
    text = render_triage_md(triage, RenderOptions(), verdict).text
    assert f"{subject} starts at R0004 `search_flights`" in text
