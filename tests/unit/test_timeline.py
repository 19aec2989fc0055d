"""The report's timeline: each row says what its run said or did, as inert one-line code; a long trace
keeps the steps the report points at, their neighbours and the end, and says what it left out."""

from __future__ import annotations

import re
from typing import Any

import pytest

from refinery.report.timeline import run_gist, timeline_runs, timeline_table
from refinery.trace.model import Trace
from refinery.triage.classify import new_finding
from refinery.triage.model import AgentClaim, Finding, Origin, TriageReport
from tests.builders import TraceBuilder, tool_call
from tests.unit.test_comment_render import structure

# The README's promises, written out (a test that imports the module's constants moves with them).
TIMELINE_ROWS = 40
"""Rows at most."""
AROUND = 3
"""Runs either side of the origin, or of where to start reading."""
OPENING = 8
"""Runs from the start."""
CLOSING = 4
"""Runs from the end."""
GIST_CHARS = 90
"""Characters of what a run said or did."""

HEAD = "| Run | Type | Name | Status | Note | What it said or did |"
TIMED_HEAD = "| Run | Type | Name | Status | Duration | Note | What it said or did |"


def one_tool_trace(**tool: Any) -> Trace:
    b = TraceBuilder("agent", inputs={"question": "refund order 7"})
    b.llm(b.root, None, tool_calls=[tool_call("refund", '{"order": 7}')])
    b.add("refund", b.root, "tool", inputs={"order": 7}, **tool)
    return b.build()


def report(
    trace: Trace, origin: Origin | None = None, findings: list[Finding] | None = None, **fields: Any
) -> TriageReport:
    return TriageReport(
        trace_id=trace.id, findings=findings or [], origin=origin, runs=len(trace.runs), errored_runs=0, **fields
    )


def long_trace(steps: int, **runs: Any) -> Trace:
    b = TraceBuilder("agent", inputs={"question": "q"})
    for i in range(steps):
        b.add(f"step{i}", b.root, "tool", inputs={"i": i}, outputs={"output": f"result {i}"}, **runs)
    return b.build()


def untimed(trace: Trace) -> Trace:
    runs = [r.model_copy(update={"start_time": None, "end_time": None}) for r in trace.runs]
    return trace.model_copy(update={"runs": runs})


def report_of(trace: Trace) -> TriageReport:
    from refinery.triage import run_triage

    return run_triage(trace)


def origin_at(trace: Trace, step: int) -> Origin:
    run = trace.runs[step]
    origin = Origin(
        run_id=run.id, section=f"R{step:04d}", step=step, name=run.name, agent=None, finding_id="F01", reason="r"
    )
    assert origin.stated  # no measured precision: stated
    return origin


def kept(trace: Trace, triage: TriageReport) -> list[int]:
    return [r.order for r in timeline_runs(trace, triage)]


def rows_of(table: list[str]) -> list[str]:
    return [line for line in table if re.match(r"\| R\d{4} \|", line)]


# -- what each row says ----------------------------------------------------------------------------


def test_a_tool_row_gives_its_arguments_and_result_and_a_model_row_the_call_it_made() -> None:
    trace = one_tool_trace(outputs={"output": "refunded 7"})
    assert run_gist(trace.runs[2]) == "order: 7 → refunded 7"
    assert run_gist(trace.runs[1]) == '→ refund({"order": 7})'  # no role tag, no empty content


def test_a_tool_without_arguments_gives_its_result_alone_and_a_retriever_its_query_too() -> None:
    b = TraceBuilder("agent")
    b.add("run_speed_test", b.root, "tool", inputs={}, outputs={"output": "Speed test failed: No Connection."})
    b.add("docs", b.root, "retriever", inputs={"query": "refund policy"}, outputs={"documents": ["30 days"]})
    trace = b.build()
    assert run_gist(trace.runs[1]) == "Speed test failed: No Connection."
    pending = TraceBuilder("agent")
    pending.add("finish", pending.root, "tool", inputs={"answer": "42"}, outputs=None)
    assert run_gist(pending.build().runs[1]) == "answer: 42"  # no result yet: no dangling arrow
    assert run_gist(trace.runs[2]) == 'query: refund policy → documents: ["30 days"]'


def test_a_message_loses_its_role_tag_and_a_null_content_beside_a_tool_call() -> None:
    b = TraceBuilder("agent")
    b.add("assistant", b.root, "llm", outputs={"role": "assistant", "content": "Roaming is now on."})
    calls = [tool_call("enable_roaming", '{"line_id": "L1"}')]
    b.add("assistant", b.root, "llm", outputs={"content": None, "tool_calls": calls})
    b.add("user", b.root, "llm", outputs={"role": "user", "content": "It still fails."})
    b.add("empty", b.root, "chain", outputs={})
    trace = b.build()
    assert run_gist(trace.runs[1]) == "Roaming is now on."
    assert run_gist(trace.runs[2]) == '→ enable_roaming({"line_id": "L1"})'
    assert run_gist(trace.runs[3]) == "[user] It still fails."  # who spoke, when it is not the model
    assert run_gist(trace.runs[4]) == ""


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


def test_a_row_names_the_agent_beside_the_run_and_cuts_long_names() -> None:
    b = TraceBuilder("agent")
    b.add("n" * 50, b.root, "agent", agent="a" * 30, outputs={"content": "hi"})
    b.add("Planner", b.root, "agent", agent="Planner", outputs={"content": "plan"})
    trace = b.build()
    rows = rows_of(timeline_table(trace, report(trace)))
    assert f"| {'n' * 39}… @{'a' * 23}… |" in rows[1]
    assert "| Planner |" in rows[2] and "@" not in rows[2]  # an agent named as its run is said once


def test_a_finding_is_noted_on_its_run() -> None:
    trace = one_tool_trace(outputs={"output": "Error: 503 Service Unavailable"})
    finding = new_finding(trace.runs[2], rule="tool_output_error", category="Service Errors", severity="high",
                          evidence="503", explanation="e")  # fmt: skip
    rows = rows_of(timeline_table(trace, report(trace, findings=[finding.model_copy(update={"id": "F02"})])))
    assert "| F02 Service Errors |" in rows[2]
    assert "F02" not in rows[0] + rows[1]


def test_the_duration_column_is_shown_only_when_a_run_has_a_duration() -> None:
    timed = one_tool_trace(outputs={"output": "ok"})
    assert timeline_table(timed, report(timed))[0] == TIMED_HEAD
    assert rows_of(timeline_table(timed, report(timed)))[2].startswith("| R0002 | tool | refund | success | 100ms |")
    partly = timed.model_copy(update={"runs": [*untimed(timed).runs[:2], timed.runs[2]]})
    assert rows_of(timeline_table(partly, report(partly)))[1].startswith("| R0001 | llm | ChatOpenAI | success | — |")
    assert timeline_table(untimed(timed), report(untimed(timed)))[0] == HEAD


def test_a_run_that_said_nothing_has_an_empty_cell_and_a_long_gist_is_cut() -> None:
    b = TraceBuilder("agent")
    b.add("quiet", b.root, "chain", outputs={})
    b.add("chatty", b.root, "chain", outputs={"output": "word " * 100})
    trace = untimed(b.build())
    rows = rows_of(timeline_table(trace, report(trace)))
    assert rows[1] == "| R0001 | chain | quiet | success |  |  |"
    gist = rows[2].split(" | ")[-1].removesuffix(" |")
    assert gist.startswith("`word word") and gist.endswith("…`") and len(gist) == GIST_CHARS + 2


def test_the_stated_origin_is_marked_and_where_to_start_reading_only_without_one() -> None:
    trace = one_tool_trace(error="ValueError: boom")
    origin = origin_at(trace, 2)
    claim = AgentClaim(agent="a", basis="most_work", reason="r", first_step=1)
    rows = rows_of(timeline_table(trace, report(trace, origin=origin, agent=claim)))
    assert "| **origin** (low) |" in rows[2] and not any("start reading here" in line for line in rows)
    unstated = origin.model_copy(update={"precision": 0.3})
    rows = rows_of(timeline_table(trace, report(trace, origin=unstated, agent=claim)))
    assert [i for i, line in enumerate(rows) if "| start reading here |" in line] == [1]
    assert not any("**origin**" in line for line in rows)


# -- what a long trace keeps -----------------------------------------------------------------------


def test_a_trace_that_fits_is_shown_whole_whatever_the_focus() -> None:
    trace = long_trace(TIMELINE_ROWS - 1)
    assert kept(trace, report(trace)) == list(range(TIMELINE_ROWS))
    assert kept(trace, report(trace, origin=origin_at(trace, 30))) == list(range(TIMELINE_ROWS))
    table = timeline_table(trace, report(trace))
    assert not any("not shown" in line or "Showing" in line for line in table)


def test_a_long_trace_keeps_the_start_the_focus_with_its_neighbours_the_end_then_what_followed() -> None:
    trace = long_trace(200)
    rows = kept(trace, report(trace, origin=origin_at(trace, 100)))
    window = list(range(100 - AROUND, 100 + AROUND + 1))
    closing = list(range(201 - CLOSING, 201))
    followed = list(range(window[-1] + 1, window[-1] + 1 + TIMELINE_ROWS - OPENING - len(window) - CLOSING))
    assert rows == [*range(OPENING), *window, *followed, *closing]


def test_findings_are_kept_before_the_end_and_the_rest_of_the_budget() -> None:
    trace = long_trace(200)
    finding = new_finding(trace.runs[150], rule="run_error", category="c", severity="high", evidence="e",
                          explanation="e")  # fmt: skip
    stranger = finding.model_copy(update={"run_id": "not-in-this-trace"})
    rows = kept(trace, report(trace, origin=origin_at(trace, 100), findings=[stranger, finding]))
    assert 150 in rows and len(rows) == TIMELINE_ROWS


def test_the_focus_window_is_three_steps_either_side_even_when_findings_fill_the_rest() -> None:
    trace = long_trace(200)
    spare = TIMELINE_ROWS - OPENING - (2 * AROUND + 1)
    findings = [
        new_finding(trace.runs[20 + i], rule="run_error", category="c", severity="high", evidence="e", explanation="e")
        for i in range(spare + 5)
    ]
    rows = kept(trace, report(trace, origin=origin_at(trace, 100), findings=findings))
    assert rows == [*range(OPENING), *range(20, 20 + spare), *range(100 - AROUND, 100 + AROUND + 1)]


def test_without_a_focus_the_start_the_end_and_then_what_came_next_are_kept() -> None:
    trace = long_trace(200)
    rows = kept(trace, report(trace))
    assert rows == [*range(TIMELINE_ROWS - CLOSING), *range(201 - CLOSING, 201)]


@pytest.mark.parametrize("step", [1, 199, 200])
def test_a_focus_at_either_end_still_fills_the_table(step: int) -> None:
    trace = long_trace(200)
    rows = kept(trace, report(trace, origin=origin_at(trace, step)))
    assert len(rows) == TIMELINE_ROWS and rows == sorted(set(rows)) and 0 in rows and 200 in rows
    assert set(range(max(0, step - AROUND), min(200, step + AROUND) + 1)) <= set(rows)


def test_a_focus_near_the_end_gives_the_spare_rows_to_the_steps_after_the_opening() -> None:
    trace = long_trace(60)
    rows = kept(trace, report(trace, origin=origin_at(trace, 58)))
    window = range(58 - AROUND, 61)  # steps 55 to 60: the window stops at the trace's end
    assert rows == [*range(TIMELINE_ROWS - len(window)), *window]


@pytest.mark.parametrize("timed", [True, False])
def test_left_out_steps_are_counted_in_a_row_as_wide_as_the_others(timed: bool) -> None:
    trace = long_trace(200) if timed else untimed(long_trace(200))
    claim = AgentClaim(agent="a", basis="most_work", reason="r", first_step=50)
    table = timeline_table(trace, report(trace, agent=claim))
    assert table[0] == (TIMED_HEAD if timed else HEAD)
    # As many cells as the header, written out (a renderer pads a short row, so count the pipes).
    assert {line.count("|") for line in table[:-1]} == {table[0].count("|")}
    parsed = structure("\n".join(table[:-1]))
    assert all(width == (7 if timed else 6) for width in parsed.tables[0])
    gaps = [int(m.group(1)) for line in table for m in [re.search(r"_(\d+) steps not shown_", line)] if m]
    assert len(rows_of(table)) == TIMELINE_ROWS and sum(gaps) == len(trace.runs) - TIMELINE_ROWS
    assert any(line.startswith("| R0050 |") and "| start reading here |" in line for line in table)
    assert table[-1] == f"\nShowing {TIMELINE_ROWS} of {len(trace.runs)} runs; all are in `trace.md`."


def test_a_single_left_out_step_is_counted_in_the_singular() -> None:
    trace = untimed(long_trace(200))
    # The opening ends at step 7 and the focus's window starts at step 9: step 8 alone is left out.
    table = timeline_table(trace, report(trace, origin=origin_at(trace, 9 + AROUND)))
    gap = table.index("| … | | _1 step not shown_ | | | |")
    assert table[gap - 1].startswith("| R0007 |") and table[gap + 1].startswith("| R0009 |")


def test_the_run_tree_is_drawn_only_when_runs_nest() -> None:
    from refinery.report.offline import render_offline_report
    from refinery.trace.files.chat import load_history

    [flat] = load_history(
        {
            "question": "Where is the nearest dojo?",
            "history": [
                {"role": "Orchestrator", "content": "Search the web for dojos near the stock exchange."},
                {"role": "WebSurfer", "content": "I typed 'dojo near the stock exchange' into the search bar."},
                {"role": "Orchestrator", "content": "The nearest dojo is Downtown Dojo."},
            ],
        }
    )
    errored = one_tool_trace(error="ValueError: boom")  # flat too: every run under the root
    b = TraceBuilder("agent")
    step = b.add("plan", b.root, "chain")
    b.add("search", step, "tool", outputs={"output": "3 dojos"})
    nested = b.build()
    for trace, drawn in ((flat, False), (errored, False), (nested, True)):
        report = render_offline_report(trace, report_of(trace))
        assert ("## Run tree" in report) == drawn and ("```mermaid" in report) == drawn, trace.root.name
