"""Choosing a passing run to compare a failing one with: same task or example, and it passed.

In a file of several traces (tau-bench trials, an experiment's export with repetitions) a
passing trace of the same example is the baseline without being asked for. The LangSmith
lookups (a passing repetition, the same example in ``baseline-experiment``) are the source's.
"""

from __future__ import annotations

from collections.abc import Sequence

from refinery.errors import ConfigError
from refinery.trace.model import Trace
from refinery.trace.source import (
    SelectionCriteria,
    TraceSource,
    example_key,
    failure_reasons,
    unknown_scores,
    verdict_of,
)


def passes(trace: Trace, criteria: SelectionCriteria) -> bool:
    """No error at the root, no feedback at or below the threshold (nor under the producer's rule), and
    no score that is no number (an unknown is never a pass)."""
    return not failure_reasons(trace.root.error, trace.feedback, criteria) and not unknown_scores(
        trace.feedback, criteria
    )


def check_passed(baseline: Trace, criteria: SelectionCriteria) -> None:
    """A ConfigError unless ``baseline`` passed by the rule that selects failures: a run that failed, or
    that carries nothing to judge it by, cannot show what a passing run does."""
    verdict = verdict_of(baseline, criteria)
    if verdict.verdict == "passed":
        return
    said = "failed" if verdict.verdict == "failed" else "cannot be judged"
    raise ConfigError(
        f"The baseline {baseline.id} {said}: {'; '.join(verdict.reasons)[:300]}.",
        hint="A baseline must pass by the same rule that selects failures (--max-score, --feedback-key).",
    )


def passing_twin(trace: Trace, pool: Sequence[Trace], criteria: SelectionCriteria) -> Trace | None:
    """The newest passing trace of the same example in ``pool``, or None."""
    key = example_key(trace)
    if key is None:
        return None
    twins = [t for t in pool if t.id != trace.id and example_key(t) == key and passes(t, criteria)]
    twins.sort(key=lambda t: t.root.start_time.timestamp() if t.root.start_time else 0.0, reverse=True)
    return twins[0] if twins else None


def baseline_in_file(
    trace: Trace, pool: Sequence[Trace], criteria: SelectionCriteria, trace_id: str | None = None
) -> Trace:
    """The baseline a ``--baseline-file`` gives: the trace named, its only trace, or the passing twin."""
    if trace_id:
        found = next((t for t in pool if t.id == trace_id or any(r.id == trace_id for r in t.runs)), None)
        if found is None:
            raise ConfigError(
                f"The baseline file has no trace {trace_id}.",
                hint=f"It holds: {', '.join(t.id for t in pool[:10])}.",
            )
        return found
    if len(pool) == 1:
        return pool[0]
    twin = passing_twin(trace, pool, criteria)
    if twin is None:
        raise ConfigError(
            f"The baseline file holds {len(pool)} traces and none is a passing run of the same example as {trace.id}.",
            hint="Name one with --baseline-trace-id.",
        )
    return twin


def dataset_example(trace: Trace) -> str | None:
    """The LangSmith dataset example the trace ran, when it ran one."""
    key = example_key(trace)
    return key.split(":", 1)[1] if key and key.startswith("reference_example_id:") else None


def baseline_in_experiment(source: TraceSource, experiment: str, trace: Trace, criteria: SelectionCriteria) -> Trace:
    """The newest passing run of the trace's example in ``experiment`` (the base branch's)."""
    example = dataset_example(trace)
    if example is None:
        raise ConfigError(
            f"Trace {trace.id} ran no dataset example, so the baseline experiment has nothing to match.",
            hint="Give the passing run with --baseline-trace-id or --baseline-file.",
        )
    found = source.find_passing_run(experiment, example, criteria)
    if found is None:
        raise ConfigError(
            f"{experiment!r} has no passing run of example {example}.",
            hint="Check the experiment, or give the passing run with --baseline-trace-id.",
        )
    return source.fetch_trace(found)
