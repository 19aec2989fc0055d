"""Each representative enriched for the stages: a passing run to compare with, and the PR's changes.

Where a baseline comes from, in order: a file, a trace id or an experiment asked for explicitly;
else a passing repetition of the same example in this selection; else a passing trace of the
same task among the traces read. Enrichment adds to the prepared trace (``pipeline.enrich``): it
never redacts or triages the trace again. Each lookup is an optional step: whatever goes wrong
in it is a named warning, and the trace is analysed without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from refinery.analysis.pack import PackSelection
from refinery.analysis.schemas import Synthesis
from refinery.changes.fix import ProposedFix, fix_patch
from refinery.changes.model import ChangeSet
from refinery.changes.verify import VerifyRequest, verify_fixes
from refinery.documents.redact import Redactor
from refinery.errors import RefineryError
from refinery.pipeline import Prepared, PrepareOptions, add_fixes, enrich
from refinery.planner.collect import Selection
from refinery.planner.request import BaselineRequest
from refinery.planner.services import Services
from refinery.planner.triage import Triaged
from refinery.settings import Settings
from refinery.trace.baseline import baseline_in_experiment, baseline_in_file, check_passed, passing_twin
from refinery.trace.bounds import InputLimits
from refinery.trace.files import load_trace_files
from refinery.trace.model import Trace
from refinery.trace.source import SelectionCriteria

T = TypeVar("T")
Log = Callable[[str], None]


@dataclass
class OptionalSteps:
    """Runs the optional steps: any failure, of any type, becomes one named warning and the run goes on."""

    log: Log
    warnings: list[str] = field(default_factory=list)
    baseline_refusals: list[RefineryError] = field(default_factory=list)
    """Why a passing run could not be used: the CLI fails a run whose baseline was named explicitly."""

    def run(self, what: str, step: Callable[[], T], *, baseline: bool = False) -> T | None:
        try:
            return step()
        except RefineryError as exc:
            line = f"{what}: {exc.one_line()}"
            if baseline:
                self.baseline_refusals.append(exc)
        except Exception as exc:  # an optional step must never sink the run; the bug is named, not hidden
            line = f"{what}: internal error {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        self.warnings.append(line)
        self.log(line)
        return None


@dataclass
class BaselineFinder:
    """Finds each representative's passing run; a file asked for is read once for all of them."""

    request: BaselineRequest
    selection: Selection
    services: Services
    settings: Settings
    _file: list[Trace] | None = None

    @property
    def criteria(self) -> SelectionCriteria:
        return SelectionCriteria(feedback_keys=self.settings.feedback_keys, max_score=self.settings.max_score)

    def find(self, triaged: Triaged) -> tuple[Trace, str] | None:
        """The passing run to compare with, checked: it passed by the selection's rule (the task being
        the same is checked where the two are compared)."""
        found = self._find(triaged)
        if found is not None:
            check_passed(found[0], self.criteria)
        return found

    def _find(self, triaged: Triaged) -> tuple[Trace, str] | None:
        trace, request = triaged.trace, self.request
        if request.file:
            return baseline_in_file(trace, self._baseline_file(), self.criteria, request.trace_id), "baseline-file"
        if request.trace_id:
            return self._by_id(request.trace_id), "baseline-trace-id"
        if request.experiment:
            source = self.services.sources(request.experiment, experiment=True)
            return baseline_in_experiment(source, request.experiment, trace, self.criteria), "baseline-experiment"
        passed = triaged.selection.passed_trace_ids if triaged.selection else []
        pool = {t.id: t for t in self.selection.collected.pool}
        origin = self.selection.collected.source
        for trace_id in passed:
            if trace_id in pool:
                return pool[trace_id], "repetition"
            if origin is not None:
                return origin.fetch_trace(trace_id), "repetition"
        twin = passing_twin(trace, self.selection.collected.pool, self.criteria)
        return (twin, "file") if twin is not None else None

    def _baseline_file(self) -> list[Trace]:
        if self._file is None:
            limits = InputLimits(max_bytes=self.settings.max_input_mb * 1024 * 1024)
            self._file = load_trace_files(str(self.request.file), "auto", limits)
        return self._file

    def _by_id(self, trace_id: str) -> Trace:
        for trace in self.selection.collected.pool:
            if trace.id == trace_id or any(r.id == trace_id for r in trace.runs):
                return trace
        return self.services.sources().fetch_trace(trace_id)


def enrich_representatives(
    representatives: list[Triaged],
    finder: BaselineFinder,
    changes: ChangeSet | None,
    options: PrepareOptions,
    steps: OptionalSteps,
    log: Log,
) -> None:
    """Add each representative's baseline comparison and the ranked changes to its prepared trace;
    ``log`` says what each got (information: the steps' failures are their warnings)."""
    for triaged in representatives:
        enriched = _enrich_one(triaged, finder, changes, options, steps)
        if enriched is not None:
            triaged.prepared = enriched
            _log_enrichment(triaged, log)


def _enrich_one(
    triaged: Triaged, finder: BaselineFinder, changes: ChangeSet | None, options: PrepareOptions, steps: OptionalSteps
) -> Prepared | None:
    name = f"trace {triaged.trace.id}"
    found = steps.run(
        f"{name}: analysed without a passing run to compare with", partial(finder.find, triaged), baseline=True
    )
    enriched = None
    if found is not None:
        base, source = found
        enriched = steps.run(
            f"{name}: analysed without the passing run {base.id}",
            partial(enrich, triaged.prepared, options, baseline=base, baseline_source=source, changes=changes),
            baseline=True,
        )
    if enriched is None and changes is not None and changes.hunks:  # no baseline, or it was refused
        enriched = steps.run(
            f"{name}: the ranking of the changes failed", partial(enrich, triaged.prepared, options, changes=changes)
        )
    if enriched is not None and changes is not None and enriched.top_suspect is not None:
        fixed = steps.run(f"{name}: no fix proposed", partial(add_fixes, enriched, changes, options))
        enriched = fixed or enriched
    return enriched


def _log_enrichment(triaged: Triaged, log: Log) -> None:
    name = f"trace {triaged.trace.id}"
    top = triaged.prepared.top_suspect
    if top is not None:
        log(f"{name}: likely from {top.path} L{top.start_line}-L{top.end_line} ({top.change_id}, {top.score:.2f})")
    comparison = triaged.prepared.comparison
    if comparison is not None:
        log(f"{name}: against passing run {comparison.trace} ({comparison.source}): {comparison.summary}")


def verify_deadline(settings: Settings) -> float:
    """When the run's verification must be done (``time.monotonic()``): ``verify-budget`` seconds from
    now, shared by every trace's fixes; without one, time for each run of one fix and its control."""
    budget = settings.verify_budget or 2 * settings.verify_runs * settings.verify_timeout
    return time.monotonic() + budget


def verify_prepared(
    prepared: Prepared,
    root: Path,
    settings: Settings,
    selection: PackSelection | None,
    env: dict[str, str],
    deadline: float,
) -> Prepared:
    """``prepared`` with its fixes' verification: the user's eval without and with each, in worktrees of
    ``root``, by ``deadline`` (``verify_deadline``, shared by every fix of the run); its output redacted."""
    assert settings.verify_command is not None
    runs, timeout = settings.verify_runs, settings.verify_timeout
    request = VerifyRequest(
        command=settings.verify_command,
        runs=runs,
        timeout_s=timeout,
        deadline=deadline,
        results_file=settings.verify_results_file,
        example_id=(selection.example_id if selection else None) or "",
        trace_id=prepared.trace.id,
        inputs=prepared.trace.root.inputs,
    )
    redactor = Redactor(known_secrets=tuple(settings.secret_values()))
    pending = [f for f in prepared.fixes if f.verification is None]
    verifications = verify_fixes(root, [fix_patch([f], root) for f in pending], request, redactor.text, env)
    done = dict(zip((f.id for f in pending), verifications, strict=True))
    fixes = [f.model_copy(update={"verification": done[f.id]}) if f.id in done else f for f in prepared.fixes]
    return replace(prepared, fixes=fixes)


def proposed_fixes(synthesis: Synthesis | None) -> list[ProposedFix]:
    """The synthesis stage's fixes, each with the hypothesis it implements, for the checks."""
    if synthesis is None:
        return []
    titles = {h.id: h.title for h in synthesis.hypotheses}
    return [
        ProposedFix(
            hypothesis=f"{f.hypothesis_id}: {titles.get(f.hypothesis_id, 'a hypothesis of the synthesis')}",
            path=f.path,
            start_line=f.start_line,
            end_line=f.end_line,
            original=list(f.original),
            replacement=list(f.replacement),
        )
        for f in synthesis.fixes
    ]
