"""Each representative's baseline: a passing run of the same example, compared before the stages run.

Where one comes from, in order: ``baseline-experiment`` (the same example's passing run in
that experiment, on LangSmith), a passing repetition of the same example in this selection
(an experiment's or a file's), a passing trial of the same task in the files read. A baseline
that cannot be had, or that ran another task, is a warning: the trace is analysed without it.
"""

from __future__ import annotations

from typing import Any

from refinery.errors import RefineryError
from refinery.github.commands import Log
from refinery.pipeline import PrepareOptions, prepare
from refinery.settings import Settings
from refinery.trace.baseline import passing_twin
from refinery.trace.collect import Collected
from refinery.trace.model import Trace
from refinery.trace.source import SelectionCriteria, example_key
from refinery.wiring import build_langsmith_source


def _find(
    settings: Settings, triaged: Any, collected: Collected, criteria: SelectionCriteria
) -> tuple[Trace, str] | None:
    trace = triaged.trace
    key = example_key(trace)
    if settings.baseline_experiment and key and key.startswith("reference_example_id:"):
        source = build_langsmith_source(settings, project=settings.baseline_experiment)
        found = source.find_passing_run(settings.baseline_experiment, key.split(":", 1)[1], criteria)
        if found is None:
            raise RefineryError(
                f"{settings.baseline_experiment!r} has no passing run of example {key.split(':', 1)[1]}"
            )
        return source.fetch_trace(found), "baseline-experiment"
    passed = triaged.selection.passed_trace_ids if triaged.selection else []
    pool = {t.id: t for t in collected.pool}
    for trace_id in passed:
        if trace_id in pool:
            return pool[trace_id], "repetition"
        if collected.source is not None:
            return collected.source.fetch_trace(trace_id), "repetition"
    twin = passing_twin(trace, collected.pool, criteria)
    return (twin, "file") if twin is not None else None


def attach_baselines(
    settings: Settings, representatives: list[Any], collected: Collected, options: PrepareOptions, log: Log
) -> None:
    """Prepare each representative again with its baseline, when it has one."""
    criteria = SelectionCriteria(feedback_keys=settings.feedback_keys, max_score=settings.max_score)
    for triaged in representatives:
        name = f"trace {triaged.trace.id}"
        try:
            found = _find(settings, triaged, collected, criteria)
            if found is None:
                continue
            baseline, source = found
            triaged.prepared = prepare(triaged.trace, options, baseline=baseline, baseline_source=source)
        except RefineryError as exc:
            log.warning(f"{name}: analysed without a passing run to compare with: {exc.one_line()}")
            continue
        comparison = triaged.prepared.comparison
        if comparison is not None:
            log.info(f"{name}: against passing run {comparison.trace} ({source}): {comparison.summary}")
