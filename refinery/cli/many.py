"""``analyze`` of several traces: the grouped report.md on top, and what could not be analysed."""

from __future__ import annotations

from pathlib import Path

from refinery.analysis.control import Cancelled
from refinery.batch import TraceOutcome
from refinery.cli.output import echo
from refinery.errors import RefineryError
from refinery.settings import Settings
from refinery.trace.model import Trace


def report_many(traces: list[Trace], settings: Settings, out_dir: Path, outcomes: list[TraceOutcome]) -> None:
    """Several traces at once; one failing never sinks the rest; a grouped report on top."""
    from refinery.report.comment import build_comment, sticky_marker

    results = [o.result for o in outcomes if o.result is not None]
    failures = [f"{o.trace.id}: {o.error}" for o in outcomes if o.error is not None]
    if results:
        report = out_dir / "report.md"
        body = build_comment(results, marker=sticky_marker("cli", "", "analyze"), notices=failures)
        report.write_text(body, encoding="utf-8")
        echo(f"wrote {report} ({len(results)} traces, {settings.concurrency} at a time)")
    for failure in failures:
        echo(f"note: {failure}", err=True)
    if any(o.cancelled for o in outcomes):
        raise Cancelled(
            f"The run was cancelled: {sum(o.cancelled for o in outcomes)} of {len(traces)} traces stopped early."
        )
    if failures:
        raise RefineryError(
            f"{len(failures)} of {len(traces)} traces could not be fully analysed (see the notes above)."
        )
