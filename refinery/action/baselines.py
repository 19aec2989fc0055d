"""Each representative prepared for the stages: with its baseline, a passing run of the same example,
and with the pull request's changes ranked against it.

Where one comes from, in order: ``baseline-experiment`` (the same example's passing run in
that experiment, on LangSmith), a passing repetition of the same example in this selection
(an experiment's or a file's), a passing trial of the same task in the files read. A baseline
that cannot be had, or that ran another task, is a warning: the trace is analysed without it.
"""

from __future__ import annotations

from typing import Any

from refinery.changes.model import ChangeSet
from refinery.errors import RefineryError
from refinery.github.commands import Log
from refinery.pipeline import PrepareOptions, prepare
from refinery.settings import Settings
from refinery.trace.baseline import baseline_in_experiment, dataset_example, passing_twin
from refinery.trace.collect import Collected
from refinery.trace.model import Trace
from refinery.trace.source import SelectionCriteria
from refinery.wiring import build_langsmith_source


def _find(
    settings: Settings, triaged: Any, collected: Collected, criteria: SelectionCriteria
) -> tuple[Trace, str] | None:
    trace = triaged.trace
    if settings.baseline_experiment and dataset_example(trace):
        source = build_langsmith_source(settings, project=settings.baseline_experiment)
        return baseline_in_experiment(source, settings.baseline_experiment, trace, criteria), "baseline-experiment"
    passed = triaged.selection.passed_trace_ids if triaged.selection else []
    pool = {t.id: t for t in collected.pool}
    for trace_id in passed:
        if trace_id in pool:
            return pool[trace_id], "repetition"
        if collected.source is not None:
            return collected.source.fetch_trace(trace_id), "repetition"
    twin = passing_twin(trace, collected.pool, criteria)
    return (twin, "file") if twin is not None else None


def prepare_representatives(
    settings: Settings,
    representatives: list[Any],
    collected: Collected,
    options: PrepareOptions,
    changes: ChangeSet | None,
    log: Log,
) -> None:
    """Prepare each representative again with its baseline, when it has one, and the PR's changes."""
    criteria = SelectionCriteria(feedback_keys=settings.feedback_keys, max_score=settings.max_score)
    for triaged in representatives:
        name = f"trace {triaged.trace.id}"
        found: tuple[Trace, str] | None = None
        try:
            found = _find(settings, triaged, collected, criteria)
        except RefineryError as exc:
            log.warning(f"{name}: analysed without a passing run to compare with: {exc.one_line()}")
        if found is None and (changes is None or not changes.hunks):
            continue  # nothing to add: the triage's own preparation stands
        try:
            triaged.prepared = prepare(
                triaged.trace,
                options,
                baseline=found[0] if found else None,
                baseline_source=found[1] if found else "",
                changes=changes,
            )
        except RefineryError as exc:  # a baseline of another task: refused, and analysed without it
            log.warning(f"{name}: analysed without a passing run to compare with: {exc.one_line()}")
            triaged.prepared = prepare(triaged.trace, options, changes=changes)
        top = triaged.prepared.top_suspect
        if top is not None:
            log.info(
                f"{name}: likely from {top.path} L{top.start_line}-L{top.end_line} ({top.change_id}, {top.score:.2f})"
            )
        comparison = triaged.prepared.comparison
        if comparison is not None:
            log.info(f"{name}: against passing run {comparison.trace} ({comparison.source}): {comparison.summary}")
