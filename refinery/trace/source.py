"""The TraceSource interface and failure selection shared by every source."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from refinery.errors import TraceNotFound
from refinery.trace.files import load_trace_files
from refinery.trace.model import Feedback, Trace


class SelectionCriteria(BaseModel):
    """Which traces count as failing."""

    feedback_key: str | None = None
    """A trace fails when this feedback's score is at or below ``max_score``."""
    max_score: float = 0.0
    """Threshold for ``feedback_key``."""
    since: datetime | None = None
    """Only traces started at or after this time."""
    limit: int = 3
    """At most this many, newest first."""


class SelectedTrace(BaseModel):
    """One failing trace and why it was chosen."""

    trace_id: str
    """Trace (root run) id."""
    name: str
    """Root run name."""
    start_time: datetime | None = None
    """When it started."""
    url: str | None = None
    """Link to the trace."""
    reasons: list[str] = Field(default_factory=list)
    """Why it counts as failing: the error, or the feedback score and comment."""


class TraceSource(Protocol):
    """Anything that can hand over traces: the LangSmith API or local files."""

    def fetch_trace(self, trace_id: str) -> Trace:
        """The whole trace containing run ``trace_id`` (a trace id or any run id in it)."""
        ...

    def fetch_raw(self, trace_id: str) -> Any:
        """The source's own representation of the trace, for ``fetch --raw``."""
        ...

    def select_failing(self, criteria: SelectionCriteria) -> list[SelectedTrace]:
        """Failing traces, newest first, each with its reasons."""
        ...


def failure_reasons(error: str | None, feedback: list[Feedback], criteria: SelectionCriteria) -> list[str]:
    """Why a trace with this root error and root feedback fails; empty when it does not."""
    reasons = []
    if error:
        first_line = error.strip().splitlines()[0] if error.strip() else "error"
        reasons.append(f"error: {first_line[:200]}")
    for item in feedback:
        if item.fails_below is not None and item.score is not None and item.score < item.fails_below:
            shown = item.value if isinstance(item.value, str) else f"{item.score:g}"
            reasons.append(f"{item.source or 'benchmark'} {item.key} {shown} (a pass needs {item.fails_below:g})")
    if criteria.feedback_key:
        for item in feedback:
            if item.key == criteria.feedback_key and item.score is not None and item.score <= criteria.max_score:
                comment = f" ({item.comment.strip()[:200]})" if item.comment else ""
                reasons.append(f"feedback {item.key}={item.score:g} ≤ {criteria.max_score:g}{comment}")
    return reasons


class FileTraceSource:
    """Traces from one local file (any supported format)."""

    def __init__(self, path: str | Path, fmt: str = "auto") -> None:
        self._path = Path(path)
        self._fmt = fmt
        self._traces: list[Trace] | None = None

    def _all(self) -> list[Trace]:
        if self._traces is None:
            self._traces = load_trace_files(self._path, self._fmt)
        return self._traces

    def fetch_trace(self, trace_id: str) -> Trace:
        for trace in self._all():
            if trace.id == trace_id or any(r.id == trace_id for r in trace.runs):
                return trace
        raise TraceNotFound(f"Trace {trace_id} is not in {self._path}.")

    def fetch_raw(self, trace_id: str) -> Any:
        return self.fetch_trace(trace_id).model_dump(mode="json")

    def select_failing(self, criteria: SelectionCriteria) -> list[SelectedTrace]:
        selected = []
        for trace in self._all():
            root = trace.root
            if criteria.since and root.start_time and root.start_time < criteria.since:
                continue
            reasons = failure_reasons(root.error, trace.feedback, criteria)
            if reasons:
                selected.append(
                    SelectedTrace(
                        trace_id=trace.id, name=root.name, start_time=root.start_time, url=trace.url, reasons=reasons
                    )
                )
        selected.sort(key=lambda s: s.start_time.timestamp() if s.start_time else 0.0, reverse=True)
        return selected[: criteria.limit]
