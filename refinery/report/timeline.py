"""The report's timeline: the steps that matter, each with what it said or did.

A row that says only "llm assistant success" makes the reader open the trace for every step, so
each row carries a one-line gist of the run: the tool's arguments and result, the message a model
wrote or the call it made. Trace text is untrusted: the gist is inline code, one line, capped.

A long trace is cut to the steps that matter (the start, the origin or where to start reading with
the steps around it, the findings, the end, then what followed the focus); a row says how many steps
were left out between two shown.
"""

from __future__ import annotations

import re
from itertools import chain

from refinery.documents.ids import run_section
from refinery.documents.text import render_value
from refinery.report.sanitize import inline_code, table_cell
from refinery.trace.model import Run, Trace
from refinery.trace.tree_view import format_duration
from refinery.triage.model import TriageReport
from refinery.words import plural

TIMELINE_ROWS = 40
GIST_CHARS = 90
"""Characters of a run's gist in its row (the whole run is in ``trace.md``)."""
AROUND = 3
"""Steps shown before and after the step the report points at."""
OPENING = 8
"""Steps shown from the start of a long trace: the task as it was given."""
CLOSING = 4
"""Steps shown from the end of a long trace: how it ended."""

_EMPTY = re.compile(r"^(?:content|output|text|result): (?:null|None|\(none\)|\"\")\s*", re.MULTILINE)
_LABEL = re.compile(r"^(?:content|output|text|result|response):\s")
_ROLE = re.compile(r"^\[(?:assistant|ai|model)\]\s*")


def _one_line(value: object) -> str:
    if value is None or value == {}:
        return ""
    text = render_value(value, GIST_CHARS * 4)
    text = _EMPTY.sub("", text)
    return " ".join(_ROLE.sub("", _LABEL.sub("", text)).split())


def run_gist(run: Run) -> str:
    """What the run did, in one line: an error first; a tool's ``arguments → result`` (either alone when
    the other is empty); else its output."""
    if run.error:
        return "error: " + " ".join(run.error.split())
    if run.run_type in ("tool", "retriever"):
        args, result = _one_line(run.inputs), _one_line(run.outputs)
        return f"{args} → {result}" if args and result else args or result
    return _one_line(run.outputs)


def focus_steps(triage: TriageReport) -> list[int]:
    """Run orders the report points the reader at: the stated origin, else where to start reading."""
    steps = []
    if triage.stated_origin:
        steps.append(triage.stated_origin.step)
    elif triage.agent and triage.agent.first_step is not None:
        steps.append(triage.agent.first_step)
    return steps


def timeline_runs(trace: Trace, triage: TriageReport) -> list[Run]:
    """The runs the table shows, at most ``TIMELINE_ROWS``, taken in this order until it is full: the
    start, the focus with its neighbours, the findings, the end, what followed the focus, the rest."""
    total = len(trace.runs)
    focus = focus_steps(triage)
    by_id = {run.id: run for run in trace.runs}
    candidates = chain(
        range(OPENING),
        (order for step in focus for order in range(step - AROUND, step + AROUND + 1)),
        (by_id[f.run_id].order for f in triage.findings if f.run_id in by_id),
        range(total - CLOSING, total),
        range(min(focus, default=OPENING), total),
        range(total),
    )
    wanted: set[int] = set()
    for order in candidates:
        if len(wanted) == TIMELINE_ROWS:
            break
        if 0 <= order < total:
            wanted.add(order)
    return [run for run in trace.runs if run.order in wanted]


def _note(run: Run, triage: TriageReport) -> str:
    finding = next((f for f in triage.findings if f.run_id == run.id), None)
    note = f"{finding.id} {finding.category}" if finding else ""
    origin = triage.stated_origin
    if origin and run.id == origin.run_id:
        return (f"**origin** ({origin.confidence}) " + note).strip()
    if not origin and run.order in focus_steps(triage):
        return ("start reading here " + note).strip()
    return note


def timeline_table(trace: Trace, triage: TriageReport) -> list[str]:
    """The timeline as Markdown table lines. The note comes before the gist so that the origin's mark
    stays on screen when a wide table scrolls; the duration column only when some run has one."""
    runs = timeline_runs(trace, triage)
    timed = any(run.duration_ms is not None for run in runs)
    head = "| Run | Type | Name | Status |" + (" Duration |" if timed else "") + " Note | What it said or did |"
    out = [head, "|---" * (head.count("|") - 1) + "|"]
    for index, run in enumerate(runs):
        skipped = run.order - runs[index - 1].order - 1 if index else 0
        if skipped:
            out.append(f"| … | | _{plural(skipped, 'step')} not shown_ |" + " |" * (3 + timed))
        name = table_cell(run.name, 40) + (
            f" @{table_cell(run.agent, 24)}" if run.agent and run.agent != run.name else ""
        )
        gist = run_gist(run)
        what = inline_code(gist, GIST_CHARS).replace("|", "\\|") if gist else ""
        duration = f" {format_duration(run.duration_ms)} |" if timed else ""
        out.append(
            f"| {run_section(run.order)} | {run.run_type} | {name} | {run.status} |{duration}"
            f" {_note(run, triage)} | {what} |"
        )
    if len(runs) < len(trace.runs):
        out.append(f"\nShowing {len(runs)} of {len(trace.runs)} runs; all are in `trace.md`.")
    return out
