"""How the origin is chosen among what the rules found (``triage/origin.py``), one principle per test.

The trace is an agent loop of tool calls built with ``TraceBuilder``; the findings are the ones the
rules write (``new_finding`` at a run), so each test states exactly which failures, departures, loops
and recoveries the chooser sees, and what it must make of them: the step, the basis, the level, the
reason and the notes the report shows."""

from __future__ import annotations

from typing import Any

import pytest

from refinery.trace.model import Trace
from refinery.trace.roles import Roles
from refinery.triage.classify import new_finding
from refinery.triage.confidence import precision_of
from refinery.triage.model import Finding
from refinery.triage.origin import choose_origin, score_finding
from tests.builders import TraceBuilder

TOOLS = ("get_order", "cancel_order", "get_user", "update_address", "send_email", "get_order")


def agent_loop(*, crashed: bool = False) -> Trace:
    """An agent that calls six tools in turn (R0001 … R0006), the last a read after the writes."""
    b = TraceBuilder("agent", error="ToolError: failed" if crashed else None)
    for name in TOOLS:
        b.add(name, b.root, "tool", inputs={"order_id": "#W1"}, outputs={"ok": True})
    return b.build()


def at(trace: Trace, step: int, rule: str, **fields: Any) -> Finding:
    """A finding of ``rule`` at the run in execution position ``step``."""
    run = next(r for r in trace.runs if r.order == step)
    values: dict[str, Any] = {
        "category": "Tool Execution Error",
        "severity": "high",
        "evidence": f"{rule} at {run.name}",
        "explanation": "",
    }
    return new_finding(run, rule=rule, **(values | fields))


def choose(trace: Trace, *findings: Finding) -> Any:
    origin = choose_origin(trace, list(findings), Roles.of(trace))
    assert origin is not None
    return origin


def test_the_earliest_unrecovered_failure_is_the_origin_with_its_level_and_measured_precision() -> None:
    trace = agent_loop()
    origin = choose(trace, at(trace, 4, "run_error"), at(trace, 2, "run_error"))
    assert (origin.section, origin.basis, origin.confidence) == ("R0002", "error", "low")
    assert origin.reason == "the earliest failure the run did not recover from"
    assert origin.precision == precision_of("low") and origin.run_type == "tool" and origin.name == "cancel_order"


def test_a_failure_the_run_gave_up_after_is_said_to_have_nothing_unrecovered_after_it() -> None:
    trace = agent_loop()
    last = choose(trace, at(trace, 6, "run_error"))
    assert "no unrecovered failure comes after it" in last.evidence  # no tool ran after R0006
    earlier = choose(trace, at(trace, 5, "run_error"))
    assert "no unrecovered failure comes after it" not in earlier.evidence  # R0006 ran after it


def test_a_failure_that_crashed_the_run_is_high() -> None:
    trace = agent_loop(crashed=True)
    origin = choose(trace, at(trace, 3, "run_error", related_sections=["R0000"]))
    assert origin.confidence == "high" and "the run failed with this error" in origin.evidence
    assert choose(trace, at(trace, 3, "run_error")).confidence == "low"  # the crash did not come from it


def test_code_that_failed_to_run_is_blamed_on_its_author_step() -> None:
    trace = agent_loop()
    author = next(r for r in trace.runs if r.order == 2)
    origin = choose(trace, at(trace, 3, "run_error", blamed_run_id=author.id))
    assert origin.section == "R0002" and origin.reason == "its output was executed and failed at R0003"


def test_recovered_failures_are_context_and_listed_as_such() -> None:
    trace = agent_loop()
    recovered = [at(trace, n, "run_error", recovered_at=f"R000{n + 1}") for n in (1, 2, 3)]
    origin = choose(trace, *recovered, at(trace, 5, "run_error"))
    assert origin.section == "R0005"
    assert "recovered failures left aside as context: R0001, R0002, R0003" in origin.evidence
    alone = choose(trace, *recovered)
    assert (alone.section, alone.basis) == ("R0001", "recovered_error")
    assert alone.reason.startswith("the run recovered from it (the same operation succeeded at R0002)")
    assert not [e for e in alone.evidence if e.startswith("recovered failures left aside")]


def test_at_most_five_recovered_failures_are_listed() -> None:
    trace = agent_loop()
    recovered = [at(trace, n, "run_error", recovered_at="R0006") for n in (1, 2, 3, 4, 5)]
    big = choose(trace, *recovered, at(trace, 6, "run_error"))
    assert "recovered failures left aside as context: R0001, R0002, R0003, R0004, R0005" in big.evidence


def test_the_first_departure_from_the_expected_actions_wins_over_failures_after_it() -> None:
    trace = agent_loop()
    departure = at(trace, 2, "expected_divergence", evidence="cancel_order: not among the expected actions")
    origin = choose(trace, departure, at(trace, 4, "run_error"))
    assert (origin.section, origin.basis, origin.confidence) == ("R0002", "expected_actions", "high")
    assert origin.reason == "here the run first parted from the expected actions"


def test_a_departure_from_a_passing_run_is_medium_and_says_so() -> None:
    trace = agent_loop()
    origin = choose(trace, at(trace, 4, "baseline_divergence", evidence="update_address: other arguments"))
    assert (origin.basis, origin.confidence) == ("baseline", "medium")
    assert origin.reason == "here the run first parted from the passing run"


def test_an_expected_call_never_made_only_anchors_the_gap_and_is_low() -> None:
    trace = agent_loop()
    origin = choose(trace, at(trace, 3, "expected_divergence", evidence="never called: refund(#W1)"))
    assert origin.confidence == "low"


def test_two_sources_departing_at_the_same_step_corroborate_each_other() -> None:
    trace = agent_loop()
    both = choose(trace, at(trace, 3, "expected_divergence"), at(trace, 3, "baseline_divergence"))
    assert both.confidence == "high" and "a second source points at the same step" in both.evidence
    apart = choose(trace, at(trace, 3, "baseline_divergence"), at(trace, 5, "expected_divergence"))
    assert (apart.section, apart.confidence) == ("R0003", "medium")


def test_a_failed_write_before_the_departure_is_the_origin_and_a_failed_read_the_run_moved_past_is_not() -> None:
    trace = agent_loop()
    departure = at(trace, 4, "expected_divergence")
    write = choose(trace, at(trace, 2, "run_error"), departure)  # cancel_order failed
    assert (write.section, write.basis) == ("R0002", "error")
    read = choose(trace, at(trace, 1, "run_error"), departure)  # get_order failed, then the run went on
    assert (read.section, read.basis) == ("R0004", "expected_actions")


def test_a_failure_at_the_departures_own_step_is_corroborated_by_it() -> None:
    trace = agent_loop()
    origin = choose(trace, at(trace, 4, "run_error"), at(trace, 4, "expected_divergence"))
    assert (origin.section, origin.basis, origin.confidence) == ("R0004", "error", "high")
    assert "the departure from the expected actions is at the same step" in origin.evidence
    baseline = choose(trace, at(trace, 4, "run_error"), at(trace, 4, "baseline_divergence"))
    assert "the departure from the passing run is at the same step" in baseline.evidence


def test_a_failure_after_the_departure_does_not_outrank_it() -> None:
    trace = agent_loop()
    origin = choose(trace, at(trace, 5, "run_error"), at(trace, 3, "baseline_divergence"))
    assert (origin.section, origin.basis) == ("R0003", "baseline")


def test_with_nothing_failed_a_loop_comes_before_an_empty_answer() -> None:
    trace = agent_loop()
    loop = at(trace, 5, "repeated_call", category="Resource Abuse")
    empty = at(trace, 6, "empty_output", category="Poor Information Retrieval")
    origin = choose(trace, empty, at(trace, 3, "repeated_call", category="Resource Abuse"), loop)
    assert (origin.section, origin.basis, origin.confidence) == ("R0003", "loop", "medium")
    assert origin.reason == "no step failed; the agent repeated the same action with the same result here"
    only_empty = choose(trace, empty)
    assert (only_empty.section, only_empty.basis) == ("R0006", "empty_output")
    assert only_empty.reason == "no step failed; the agent ended with an empty answer here"


def test_nothing_to_point_at_is_no_origin() -> None:
    trace = agent_loop()
    assert choose_origin(trace, [], Roles.of(trace)) is None
    gap = at(trace, 0, "eval_feedback", category="Eval Gap")
    assert choose_origin(trace, [gap], Roles.of(trace)) is None  # an evaluator's verdict is no step


@pytest.mark.parametrize(
    ("fields", "score"),
    [
        ({"severity": "critical"}, 4.0),
        ({"severity": "high"}, 3.0),
        ({"severity": "medium"}, 2.0),
        ({"severity": "low"}, 1.0),
        ({"severity": "high", "role": "origin"}, 5.0),
        ({"severity": "high", "role": "propagated"}, 2.0),
        ({"severity": "high", "role": "independent"}, 3.0),
        ({"severity": "high", "recovered_at": "R0005"}, 1.5),
        ({"severity": "high", "rule": "latency_outlier"}, 2.5),
        ({"severity": "high", "rule": "token_outlier"}, 2.5),
        ({"severity": "critical", "role": "origin", "recovered_at": "R0005"}, 4.5),
    ],
)
def test_findings_are_ranked_by_severity_raised_for_an_origin_lowered_for_what_followed(
    fields: dict[str, Any], score: float
) -> None:
    trace = agent_loop()
    assert score_finding(at(trace, 2, fields.pop("rule", "run_error"), **fields)) == score


def test_a_cause_behind_a_precondition_error_keeps_what_the_error_said_about_the_run() -> None:
    b = TraceBuilder("agent", error="ToolError: order is not pending")
    b.add("cancel_order", b.root, "tool", inputs={"order_id": "#W100"}, outputs={"ok": True})
    b.add("modify_order", b.root, "tool", inputs={"order_id": "#W100"}, error="ToolError: order is not pending")
    trace = b.build()
    origin = choose(trace, at(trace, 2, "run_error", related_sections=["R0000"]))
    assert (origin.section, origin.basis, origin.symptom_section) == ("R0001", "precondition", "R0002")
    assert origin.confidence == "high"  # the run itself failed with the symptom's error
    assert "R0002 failed on a precondition: the symptom, not the cause" in origin.evidence
    assert "no unrecovered failure comes after it" not in origin.evidence  # the crash says more
    b2 = TraceBuilder("agent")
    b2.add("cancel_order", b2.root, "tool", inputs={"order_id": "#W100"}, outputs={"ok": True})
    b2.add("modify_order", b2.root, "tool", inputs={"order_id": "#W100"}, error="ToolError: order is not pending")
    quiet = b2.build()
    ended = choose(quiet, at(quiet, 2, "run_error"))
    assert ended.confidence == "medium" and "no unrecovered failure comes after it" in ended.evidence


def test_a_later_retrieval_or_execution_means_the_run_did_not_give_up_after_the_failure() -> None:
    for later in ("retriever", "tool"):
        b = TraceBuilder("agent")
        b.add("search", b.root, "tool", error="ToolError: boom")
        b.add("lookup", b.root, later, outputs={"docs": []})
        trace = b.build()
        assert "no unrecovered failure comes after it" not in choose(trace, at(trace, 1, "run_error")).evidence
    b = TraceBuilder("agent")
    b.add("search", b.root, "tool", error="ToolError: boom")
    b.add("Computer_terminal", b.root, "agent", agent="Computer_terminal", outputs={"content": "exitcode: 0\nok"})
    b.add("Writer", b.root, "agent", agent="Writer", outputs={"content": "The final answer is three."})
    executed = b.build()
    assert "no unrecovered failure comes after it" not in choose(executed, at(executed, 1, "run_error")).evidence
    b = TraceBuilder("agent")
    b.add("search", b.root, "tool", error="ToolError: boom")
    b.add("Writer", b.root, "agent", agent="Writer", outputs={"content": "The final answer is three."})
    talked = b.build()
    assert "no unrecovered failure comes after it" in choose(talked, at(talked, 1, "run_error")).evidence


def test_of_several_departures_of_one_kind_the_earliest_counts_whatever_their_order() -> None:
    trace = agent_loop()
    origin = choose(trace, at(trace, 5, "baseline_divergence"), at(trace, 2, "baseline_divergence"))
    assert origin.section == "R0002"


def test_a_failure_with_no_step_is_never_the_origin() -> None:
    trace = agent_loop()
    stepless = at(trace, 3, "run_error").model_copy(update={"step": None})
    assert choose_origin(trace, [stepless], Roles.of(trace)) is None
    origin = choose(trace, stepless, at(trace, 5, "run_error"))
    assert origin.section == "R0005"


def test_six_recovered_failures_list_the_first_five() -> None:
    b = TraceBuilder("agent")
    for n in range(7):
        b.add(f"tool_{n}", b.root, "tool", outputs={"ok": True})
    trace = b.build()
    recovered = [at(trace, n, "run_error", recovered_at="R0007") for n in range(1, 7)]
    origin = choose(trace, *recovered, at(trace, 7, "run_error"))
    assert "recovered failures left aside as context: R0001, R0002, R0003, R0004, R0005" in origin.evidence
