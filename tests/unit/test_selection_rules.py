"""Which traces are selected as failing, and why, at the edges of the rule (trace/source.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from refinery.trace.model import Feedback, Trace
from refinery.trace.source import SelectionCriteria, select_from_traces, stats_reasons, stats_unknown, verdict_of
from tests.builders import TraceBuilder

START = datetime(2026, 12, 1, 12, tzinfo=UTC)


def trace(
    feedback: list[Feedback] | None = None,
    *,
    error: str | None = None,
    minutes: int = 0,
    example: str | None = None,
    trace_id: str | None = None,
) -> Trace:
    root: dict[str, Any] = {"start_time": START + timedelta(minutes=minutes), "error": error}
    builder = TraceBuilder("agent", inputs={"q": "x"}, **root)
    builder.llm(builder.root)
    metadata = {"reference_example_id": example} if example else {}
    built = builder.build(feedback or [], metadata=metadata)
    return built.model_copy(update={"id": trace_id}) if trace_id else built


def score(value: float | None, key: str = "correctness", **fields: Any) -> Feedback:
    return Feedback(key=key, score=value, **fields)


def test_a_score_exactly_at_max_score_fails_and_just_above_passes() -> None:
    criteria = SelectionCriteria(max_score=0.5)
    at = verdict_of(trace([score(0.5, comment="  wrong city ")]), criteria)
    assert at.verdict == "failed" and at.reasons == ["feedback correctness=0.5 ≤ 0.5 (wrong city)"]
    above = verdict_of(trace([score(0.51)]), criteria)
    assert above.verdict == "passed" and above.reasons == ["feedback correctness=0.51, above 0.5"]


def test_only_the_chosen_keys_decide() -> None:
    criteria = SelectionCriteria(feedback_keys=["correctness"])
    judged = trace([score(0.0, "style"), score(1.0, "correctness")])
    assert verdict_of(judged, criteria).verdict == "passed"
    assert verdict_of(judged, SelectionCriteria()).verdict == "failed"  # every key counts by default


def test_a_producers_own_rule_decides_its_score() -> None:
    reward = score(0.99, "reward", fails_below=1.0, source="tau-bench")
    failed = verdict_of(trace([reward]), SelectionCriteria(max_score=0.5))
    assert failed.verdict == "failed" and failed.reasons == ["tau-bench reward 0.99 (a pass needs 1)"]
    passed = verdict_of(trace([score(1.0, "reward", fails_below=1.0)]), SelectionCriteria())
    assert passed.verdict == "passed" and passed.reasons == ["benchmark reward 1 (a pass needs 1)"]


def test_an_informational_score_decides_nothing_and_is_said_so_beside_a_pass() -> None:
    composite = score(0.2, "reward", informational=True)
    checks = score(1.0, "r_actions", fails_below=1.0, source="tau-bench")
    judged = verdict_of(trace([composite, checks]), SelectionCriteria())
    assert judged.verdict == "passed"
    assert judged.reasons[-1] == "its reward 0.2 is lower only by what the harness adds on top; it decides nothing"
    alone = verdict_of(trace([composite]), SelectionCriteria())
    assert alone.verdict == "unknown" and alone.reasons == ["no error and no feedback score to judge by"]


def test_a_score_that_is_no_number_is_unknown_never_passing() -> None:
    judged = verdict_of(trace([score(None, invalid_score="NaN"), score(0.9, "style")]), SelectionCriteria())
    assert judged.verdict == "unknown" and judged.reasons == ["feedback correctness score 'NaN' is not a number"]
    # A failing score elsewhere still fails the trace.
    assert (
        verdict_of(trace([score(None, invalid_score="NaN"), score(0.1, "style")]), SelectionCriteria()).verdict
        == "failed"
    )


def test_a_root_error_fails_by_its_first_line_clipped() -> None:
    judged = verdict_of(trace(error="\n  TimeoutError: tool took 30s\n  at line 3"), SelectionCriteria())
    assert judged.reasons == ["error: TimeoutError: tool took 30s"]
    long = verdict_of(trace(error="word " * 100), SelectionCriteria()).reasons[0]
    assert long.startswith("error: word word") and long.endswith("…") and len(long) <= 210
    assert verdict_of(trace(error="   "), SelectionCriteria()).reasons == ["error: error"]


def test_repetitions_of_one_example_are_one_selection_newest_failure_first() -> None:
    runs = [
        trace([score(0.0)], minutes=1, example="ex-1", trace_id="t-old-fail"),
        trace([score(1.0)], minutes=2, example="ex-1", trace_id="t-pass"),
        trace([score(0.0)], minutes=3, example="ex-1", trace_id="t-new-fail"),
    ]
    [selected] = select_from_traces(runs, SelectionCriteria())
    assert selected.trace_id == "t-new-fail" and selected.example_id == "ex-1"
    assert selected.failed_trace_ids == ["t-new-fail", "t-old-fail"] and selected.passed_trace_ids == ["t-pass"]
    assert selected.flaky_note == "flaky: failed 2 of 3 repetitions"
    every = [trace([score(0.0)], minutes=m, example="ex-2") for m in (1, 2)]
    [steady] = select_from_traces(every, SelectionCriteria())
    assert steady.flaky_note is None and steady.repetitions == 2


def test_the_limit_keeps_the_newest_failures() -> None:
    runs = [trace([score(0.0)], minutes=m, trace_id=f"t{m}") for m in (5, 1, 9, 3)]
    runs.append(trace([score(1.0)], minutes=10, trace_id="t-pass"))
    chosen = select_from_traces(runs, SelectionCriteria(limit=2))
    assert [s.trace_id for s in chosen] == ["t9", "t5"]
    assert len(select_from_traces(runs, SelectionCriteria(limit=4))) == 4


def test_langsmith_feedback_stats_follow_the_same_rule() -> None:
    criteria = SelectionCriteria(max_score=0.5, feedback_keys=["correctness"])
    assert stats_reasons(None, {"correctness": {"n": 1, "avg": 0.5}}, criteria) == ["feedback correctness=0.5 ≤ 0.5"]
    assert stats_reasons(None, {"correctness": {"n": 3, "avg": 0.33}}, criteria) == [
        "feedback correctness averaged 0.33 over 3 scores ≤ 0.5"
    ]
    assert stats_reasons(None, {"correctness": {"n": 3, "avg": 0.51}, "style": {"avg": 0.0}}, criteria) == []
    assert stats_reasons("boom", None, criteria) == ["error: boom"]
    assert stats_unknown({"correctness": {"avg": "NaN"}}, criteria)
    assert not stats_unknown({"correctness": {"avg": 0.2}, "style": {"avg": "NaN"}}, criteria)


def _keyed(metadata: dict[str, Any], root: dict[str, Any], minutes: int) -> Trace:
    builder = TraceBuilder("agent", start_time=START + timedelta(minutes=minutes), metadata=root)
    builder.llm(builder.root)
    return builder.build([score(0.0 if minutes == 1 else 1.0)], metadata=metadata, trace_id=f"t{minutes}")


@pytest.mark.parametrize(
    ("metadata", "root", "example"),
    [
        ({"reference_example_id": "ex-9"}, {}, "ex-9"),  # a LangSmith run of a dataset example
        ({"example_id": "ex-9"}, {}, "ex-9"),
        ({"task_id": 9}, {}, "9"),  # a benchmark's task (tau-bench)
        ({}, {"ls_reference_example_id": "ex-9"}, "ex-9"),  # a LangSmith export's root run
    ],
)
def test_runs_of_one_example_are_known_by_each_key_producers_write_it_under(
    metadata: dict[str, Any], root: dict[str, Any], example: str
) -> None:
    [selected] = select_from_traces([_keyed(metadata, root, m) for m in (1, 2)], SelectionCriteria())
    assert (selected.example_id, selected.repetitions, selected.passed_trace_ids) == (example, 2, ["t2"])
    assert selected.flaky_note == "flaky: failed 1 of 2 repetitions"
    assert verdict_of(_keyed(metadata, root, 1), SelectionCriteria()).example_id == example


def test_an_empty_example_id_groups_nothing() -> None:
    [chosen] = select_from_traces([_keyed({"example_id": ""}, {}, m) for m in (1, 2)], SelectionCriteria())
    assert (chosen.trace_id, chosen.repetitions, chosen.example_id, chosen.flaky_note) == ("t1", 1, None, None)


def test_a_trace_judged_on_its_own_keeps_its_time_and_link_and_counts_itself_failed_only_when_it_is() -> None:
    failed = verdict_of(trace([score(0.0)], minutes=4).model_copy(update={"url": "https://x/r/1"}), SelectionCriteria())
    assert failed.start_time == START + timedelta(minutes=4) and failed.url == "https://x/r/1"
    assert failed.failed_trace_ids == [failed.trace_id]
    passed = verdict_of(trace([score(1.0)]), SelectionCriteria())
    assert passed.verdict == "passed" and passed.failed_trace_ids == []
    # A failure is a failure whatever else it holds: an unreadable score beside it does not make it unknown.
    both = verdict_of(trace([score(0.0), score(None, key="style", invalid_score="high")]), SelectionCriteria())
    assert both.verdict == "failed" and both.reasons == ["feedback correctness=0 ≤ 0.5"]


def test_a_failure_is_said_in_the_scores_own_terms_for_the_keys_that_decide() -> None:
    both = [score(0.0, "style"), score(0.0, "correctness")]
    assert verdict_of(trace(both), SelectionCriteria(feedback_keys=["style"])).reasons == ["feedback style=0 ≤ 0.5"]
    checks = Feedback(key="reward", score=0.0, fails_below=1.0, value="0 of 4 checks")  # the producer's words
    assert verdict_of(trace([checks]), SelectionCriteria()).reasons == [
        "benchmark reward 0 of 4 checks (score 0; a pass needs 1)"
    ]
    passed = Feedback(key="reward", score=1.0, fails_below=1.0, value="4 of 4 checks")
    assert verdict_of(trace([passed]), SelectionCriteria()).reasons == [
        "benchmark reward 4 of 4 checks (score 1; a pass needs 1)"
    ]
    long = verdict_of(trace([score(0.0, comment="wrong " * 60)]), SelectionCriteria()).reasons[0]
    quoted = long.removeprefix("feedback correctness=0 ≤ 0.5 (").removesuffix(")")
    assert quoted.startswith("wrong wrong") and quoted.endswith("…") and len(quoted) < 210  # clipped whole words


def test_an_informational_score_is_said_only_for_the_keys_that_decide() -> None:
    extra = score(0.9, "reward", informational=True)
    judged = verdict_of(trace([score(1.0, "correctness"), extra]), SelectionCriteria(feedback_keys=["correctness"]))
    assert judged.reasons == ["feedback correctness=1, above 0.5"]  # the reward's note belongs to no chosen key
