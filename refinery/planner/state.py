"""The run's state, owned by the planner from the first step to the last, whatever stops it."""

from __future__ import annotations

from dataclasses import dataclass, field

from refinery.analysis.orchestrator import AnalysisResult
from refinery.analysis.pack import FailureGroup
from refinery.errors import RefineryError
from refinery.planner.analyse import TraceOutcome
from refinery.planner.triage import Plan
from refinery.report.comment import TraceEntry
from refinery.report.publisher import Conclusion, FailOn, RunCounts, RunReport, conclude


@dataclass
class RunState:
    """What one run has gathered so far. Only the planner's thread writes it; publishers get snapshots."""

    read: int = 0
    """Traces read."""
    failing: int = 0
    """Of those, the failing ones."""
    errors: list[str] = field(default_factory=list)
    """Refinery's own failures, one line each, naming the trace or file."""
    notices: list[str] = field(default_factory=list)
    """What the report leads with: what could not be analysed, a cancellation."""
    warnings: list[str] = field(default_factory=list)
    """Optional steps that failed (baseline, changes): the run went on without them."""
    unanalysed: int = 0
    """Files, ids and traces that could not be analysed at all."""
    plan: Plan | None = None
    outcomes: list[TraceOutcome] = field(default_factory=list)
    results: list[AnalysisResult] = field(default_factory=list)
    entries: list[TraceEntry] = field(default_factory=list)
    """A fan-out's merged packs, when the run merges instead of analysing."""
    cancelled: str | None = None
    """Why the run was cancelled, when it was."""
    idle: str | None = None
    """Why nothing was analysed, when nothing was."""
    fatal: RefineryError | None = None
    """The error that ended the run before its end (a setting, an input that could not be read)."""

    def fail(self, line: str, *, unanalysed: bool = False) -> None:
        """A failure of Refinery's own: an error, and a notice on the report."""
        self.errors.append(line)
        self.notices.append(line)
        self.unanalysed += unanalysed

    @property
    def clusters(self) -> list[FailureGroup]:
        return list(self.plan.groups) if self.plan is not None else []

    def conclusion(self, fail_on: FailOn) -> Conclusion:
        """success (nothing failed), neutral (failures explained), failure (as ``fail-on`` asks)."""
        found = any(r.prepared.triage.findings for r in self.results) or any(
            e.pack.triage.findings for e in self.entries
        )
        return conclude(fail_on, bool(self.errors), found)

    def report(
        self,
        fail_on: FailOn,
        *,
        running: str | None = None,
        items: list[AnalysisResult] | None = None,
    ) -> RunReport:
        """A snapshot for the publishers: the early one (``running``, the triage's ``items``) or the final one."""
        shown: list[AnalysisResult | TraceEntry] = list(items if items is not None else self.results) or list(
            self.entries
        )
        triaged = len(self.plan.triaged) if self.plan is not None else 0
        counts = RunCounts(
            read=self.read, failing=self.failing, triaged=triaged, analysed=len(shown), unanalysed=self.unanalysed
        )
        passed_only = bool(shown) and all(_passed(item) for item in shown)
        return RunReport(
            items=shown,
            clusters=self.clusters,
            notices=[*self.notices, *self.warnings],
            errors=list(self.errors),
            counts=counts,
            fail_on=fail_on,
            running=running,
            cancelled=self.cancelled,
            passed_only=passed_only,
            pack_paths=tuple(o.artifacts.pack for o in self.outcomes if o.artifacts is not None),
            idle=self.idle,
        )


def _passed(item: AnalysisResult | TraceEntry) -> bool:
    selection = item.selection if isinstance(item, AnalysisResult) else item.pack.selection
    return selection is not None and selection.verdict == "passed"
