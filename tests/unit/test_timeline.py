"""The report's timeline: each row says what its run said or did, as inert one-line code; a long trace
keeps the steps the report points at, their neighbours and the end, and says what it left out."""

from __future__ import annotations

import re
from typing import Any

from refinery.report.timeline import AROUND, CLOSING, OPENING, TIMELINE_ROWS, run_gist, timeline_runs, timeline_table
from refinery.trace.model import Trace
from refinery.triage.model import AgentClaim, Origin, TriageReport
from tests.builders import TraceBuilder, tool_call
from tests.unit.test_comment_render import structure


def one_tool_trace(**tool: Any) -> Trace:
    b = TraceBuilder("agent", inputs={"question": "refund order 7"})
    b.llm(b.root, None, tool_calls=[tool_call("refund", '{"order": 7}')])
    b.add("refund", b.root, "tool", inputs={"order": 7}, **tool)
    return b.build()


def report(trace: Trace, origin: Origin | None = None, **fields: Any) -> TriageReport:
    return TriageReport(trace_id=trace.id, findings=[], origin=origin, runs=len(trace.runs), errored_runs=0, **fields)


def long_trace(steps: int) -> Trace:
    b = TraceBuilder("agent", inputs={"question": "q"})
    for i in range(steps):
        b.add(f"step{i}", b.root, "tool", inputs={"i": i}, outputs={"output": f"result {i}"})
    return b.build()


def test_a_tool_row_gives_its_arguments_and_result_and_a_model_row_the_call_it_made() -> None:
    trace = one_tool_trace(outputs={"output": "refunded 7"})
    assert run_gist(trace.runs[2]) == "order: 7 → refunded 7"
    assert 'refund({"order": 7})' in run_gist(trace.runs[1])


def test_an_errored_run_shows_its_error_first_on_one_line() -> None:
    trace = one_tool_trace(error="ValueError: order 7\nis not pending", outputs={"output": "partial"})
    assert run_gist(trace.runs[2]) == "error: ValueError: order 7 is not pending"


def test_a_pipe_or_backtick_in_trace_text_cannot_break_the_row_or_leave_the_code_span() -> None:
    trace = one_tool_trace(outputs={"output": "a | b ` <img src=x onerror=alert(1)> `"})
    table = "\n".join(timeline_table(trace, report(trace)))
    parsed = structure(table)
    assert parsed.tables and all(width == parsed.tables[0][0] for width in parsed.tables[0])
    row = next(line for line in table.splitlines() if "| refund |" in line)
    assert "`order: 7 → a \\| b ' <img src=x onerror=alert(1)> '`" in row


def test_the_duration_column_is_shown_only_when_a_run_has_a_duration() -> None:
    timed = one_tool_trace(outputs={"output": "ok"})
    assert "Duration" in timeline_table(timed, report(timed))[0]
    untimed = timed.model_copy(
        update={"runs": [r.model_copy(update={"start_time": None, "end_time": None}) for r in timed.runs]}
    )
    head = timeline_table(untimed, report(untimed))[0]
    assert "Duration" not in head and head.count("|") == 7


def test_a_short_trace_is_shown_whole() -> None:
    trace = long_trace(TIMELINE_ROWS - 1)
    assert [r.order for r in timeline_runs(trace, report(trace))] == list(range(TIMELINE_ROWS))


def test_a_long_trace_keeps_the_start_the_origin_with_its_neighbours_and_the_end() -> None:
    trace = long_trace(200)
    origin = Origin(
        run_id=trace.runs[100].id, section="R0100", step=100, name="step99", agent=None, finding_id="F01", reason="r"
    )
    assert origin.stated  # no measured precision yet: stated
    kept = [r.order for r in timeline_runs(trace, report(trace, origin=origin))]
    assert len(kept) == TIMELINE_ROWS
    assert set(range(OPENING)) <= set(kept)
    assert set(range(100 - AROUND, 100 + AROUND + 1)) <= set(kept)
    assert set(range(201 - CLOSING, 201)) <= set(kept)
    assert kept == sorted(kept)


def test_left_out_steps_are_counted_in_a_row_of_their_own() -> None:
    trace = long_trace(200)
    claim = AgentClaim(agent="a", basis="most_work", reason="r", first_step=50)
    table = timeline_table(trace, report(trace, agent=claim))
    gaps = [int(m.group(1)) for line in table for m in [re.search(r"_(\d+) steps? not shown_", line)] if m]
    shown = sum(1 for line in table if re.match(r"\| R\d{4} \|", line))
    assert shown == TIMELINE_ROWS and sum(gaps) == len(trace.runs) - TIMELINE_ROWS
    assert any(line.startswith("| R0050 |") and "| start reading here |" in line for line in table)
    assert table[-1] == f"\nShowing {TIMELINE_ROWS} of {len(trace.runs)} runs; all are in `trace.md`."


def test_the_stated_origin_is_marked_and_where_to_start_reading_only_without_one() -> None:
    trace = one_tool_trace(error="ValueError: boom")
    origin = Origin(
        run_id=trace.runs[2].id, section="R0002", step=2, name="refund", agent=None, finding_id="F01", reason="r"
    )
    claim = AgentClaim(agent="a", basis="most_work", reason="r", first_step=1)
    rows = timeline_table(trace, report(trace, origin=origin, agent=claim))
    assert "| **origin** (low) |" in rows[4] and not any("start reading here" in line for line in rows)
    unstated = origin.model_copy(update={"precision": 0.3})
    rows = timeline_table(trace, report(trace, origin=unstated, agent=claim))
    assert "| start reading here |" in rows[3] and not any("**origin**" in line for line in rows)
