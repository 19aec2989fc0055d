"""What a run publishes, and the interface every publisher implements.

The planner hands each publisher a ``RunReport`` twice: once when the triage is done (``start``:
the model stages are still running) and once at the end (``finish``). A publisher owns every
write to its destination, in that order; the GitHub one is the comment, the check run and its
annotations, the job summary and the outputs. A GitLab or Slack publisher is one module that
implements this protocol, plus one registry line in the composition root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from refinery.analysis.orchestrator import AnalysisResult
from refinery.analysis.pack import FailureGroup, HypothesisPack
from refinery.report.comment import TraceEntry

Conclusion = Literal["success", "failure", "neutral"]
FailOn = Literal["never", "error", "finding"]


def conclude(fail_on: FailOn, had_error: bool, found: bool) -> Conclusion:
    """success (nothing failed), neutral (failures explained), failure (as ``fail-on`` asks)."""
    if fail_on == "error" and had_error:
        return "failure"
    if fail_on == "finding" and (had_error or found):
        return "failure"
    return "neutral" if (found or had_error) else "success"


@dataclass(frozen=True)
class RunCounts:
    """How many traces each step saw, so that a report never contradicts its own lists."""

    read: int = 0
    """Traces read (every trace of every file, or every id fetched)."""
    failing: int = 0
    """Of those, the ones the selection rule calls failing (examples, in an experiment)."""
    triaged: int = 0
    analysed: int = 0
    """Representatives the model stages ran on (or the triage alone, offline)."""
    unanalysed: int = 0
    """Files, ids or traces that could not be analysed at all."""


@dataclass(frozen=True)
class RunReport:
    """What one run has to say at one moment: the early triage, or the end."""

    items: Sequence[AnalysisResult | TraceEntry]
    """The analysed traces (results), or a fan-out's merged packs (entries)."""
    clusters: Sequence[FailureGroup] = ()
    notices: Sequence[str] = ()
    """What did not go to plan (a file that could not be read, a cancellation), one line each."""
    errors: Sequence[str] = ()
    """Refinery's own failures, one line each (a subset of the notices)."""
    counts: RunCounts = field(default_factory=RunCounts)
    fail_on: FailOn = "never"
    """When Refinery's own result fails the job."""
    running: str | None = None
    """Set on the early report: what the model stages are doing meanwhile."""
    cancelled: str | None = None
    """Why the run was cancelled, when it was."""
    out_dir: Path | None = None
    """Where the artifacts are."""
    passed_only: bool = False
    """Every analysed trace passed the selection rule (asked for with --all or by id)."""
    pack_paths: tuple[Path, ...] = ()
    """Each analysed trace's hypothesis-pack.json, in order."""
    idle: str | None = None
    """Why nothing was analysed, when nothing was (no failing trace among those read)."""

    @property
    def packs(self) -> list[HypothesisPack]:
        """The Hypothesis Pack of each item."""
        return [item.pack if isinstance(item, TraceEntry) else item.pack() for item in self.items]

    @property
    def results(self) -> list[AnalysisResult]:
        """The analysed traces' results (merged packs have none)."""
        return [item for item in self.items if isinstance(item, AnalysisResult)]

    @property
    def found(self) -> bool:
        """Whether any trace has a triage finding."""
        return any(p.triage.findings for p in self.packs)

    def conclusion(self, more_errors: Sequence[str] = ()) -> Conclusion:
        """The run's conclusion, counting errors the publishing itself met."""
        return conclude(self.fail_on, bool(self.errors) or bool(more_errors), self.found)


class Publisher(Protocol):
    """Somewhere a run's results go. Failures are warnings the publisher logs itself, never raised."""

    name: str

    def start(self, report: RunReport) -> None:
        """The triage, as soon as it is done, while the model stages run (may do nothing)."""
        ...

    def finish(self, report: RunReport, *, time_left: float | None = None) -> list[str]:
        """The final results; returns the publisher's own failures, one line each (they count as errors).
        ``time_left``: the run was cancelled, and the runner kills it in that many seconds."""
        ...
