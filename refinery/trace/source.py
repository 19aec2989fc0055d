"""The TraceSource interface and failure selection shared by every source."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from refinery.errors import TraceNotFound
from refinery.lines import clip
from refinery.trace.files import load_trace_files
from refinery.trace.model import Feedback, Trace, score_of


class SelectionCriteria(BaseModel):
    """Which traces count as failing: a root run that errored, or any feedback on it at or below ``max_score``."""

    feedback_keys: list[str] = Field(default_factory=list)
    """Only feedback with these keys counts; empty: every key (a pytest ``pass`` of 0, a ``correctness`` of 0 …)."""
    max_score: float = 0.5
    """A score at or below this fails."""
    since: datetime | None = None
    """Only traces started at or after this time."""
    limit: int = 50
    """At most this many (examples, in an experiment), newest first."""

    def counts(self, key: str) -> bool:
        """Whether feedback ``key`` takes part in the selection."""
        return not self.feedback_keys or key in self.feedback_keys


class SelectedTrace(BaseModel):
    """One failing trace (in an experiment: one failing example) and why it was chosen."""

    trace_id: str
    """Trace (root run) id; in an experiment, the newest failing repetition."""
    name: str
    """Root run name."""
    start_time: datetime | None = None
    """When it started."""
    url: str | None = None
    """Link to the trace."""
    reasons: list[str] = Field(default_factory=list)
    """Why it counts as failing: the error, or the feedback score and comment (why it passed, when it did)."""
    verdict: Literal["failed", "passed", "unknown"] = "failed"
    """failed by the rule; passed (named, or every trace asked for); unknown: no error and no score."""
    example_id: str | None = None
    """The dataset example it ran (experiments)."""
    repetitions: int = 1
    """How many runs of this example the experiment holds."""
    failed_trace_ids: list[str] = Field(default_factory=list)
    """Every failing repetition, this one first."""
    passed_trace_ids: list[str] = Field(default_factory=list)
    """The repetitions that passed: baselines for this one."""

    @property
    def failed_repetitions(self) -> int:
        """How many repetitions failed (1 outside experiments)."""
        return max(1, len(self.failed_trace_ids))

    @property
    def flaky(self) -> bool:
        """Failed in some repetitions and passed in others."""
        return bool(self.passed_trace_ids) and self.failed_repetitions < self.repetitions

    @property
    def flaky_note(self) -> str | None:
        """ "flaky: failed 1 of 3 repetitions", or None."""
        if not self.flaky:
            return None
        return f"flaky: failed {self.failed_repetitions} of {self.repetitions} repetitions"


class TraceSource(Protocol):
    """Anything that can hand over traces: the LangSmith API or local files."""

    notes: list[str]
    """What the last selection could not do as asked (a cap hit, a project not found as an experiment)."""

    def fetch_trace(self, trace_id: str) -> Trace:
        """The whole trace containing run ``trace_id`` (a trace id or any run id in it)."""
        ...

    def fetch_raw(self, trace_id: str) -> Any:
        """The source's own representation of the trace, for ``fetch --raw``."""
        ...

    def select_failing(self, criteria: SelectionCriteria) -> list[SelectedTrace]:
        """Failing traces, newest first, each with its reasons."""
        ...

    def find_passing_run(self, experiment: str, example_id: str, criteria: SelectionCriteria) -> str | None:
        """The newest passing run of ``example_id`` in ``experiment``, or None."""
        ...


def error_reason(error: str | None) -> list[str]:
    if not error:
        return []
    first_line = error.strip().splitlines()[0] if error.strip() else "error"
    return [f"error: {clip(first_line, 200)}"]


def _producer_rule(item: Feedback, score: float, threshold: float) -> str:
    """A score judged by its producer's own pass rule, in the producer's words and the rule's terms:
    ``tau-bench r_actions 0 (a pass needs 1)``; a value in words gives its score beside it, since
    the rule is about the score (``swe-agent exit_status submitted (score 1; a pass needs 1)``)."""
    rule = f"a pass needs {threshold:g}"
    said = f"{item.value} (score {score:g}; {rule})" if isinstance(item.value, str) else f"{score:g} ({rule})"
    return f"{item.source or 'benchmark'} {item.key} {said}"


def failure_reasons(error: str | None, feedback: list[Feedback], criteria: SelectionCriteria) -> list[str]:
    """Why a trace with this root error and root feedback fails; empty when it does not.

    Feedback whose producer states its own pass rule (``fails_below``: a tau-bench reward must
    be 1) is judged by that rule; every other score fails at or below ``max_score``.
    """
    reasons = error_reason(error)
    for item in feedback:
        if item.score is None or item.informational or not criteria.counts(item.key):
            continue
        if item.fails_below is not None:
            if item.score < item.fails_below:
                reasons.append(_producer_rule(item, item.score, item.fails_below))
        elif item.score <= criteria.max_score:
            comment = f" ({clip(item.comment.strip(), 200)})" if item.comment else ""
            reasons.append(f"feedback {item.key}={item.score:g} ≤ {criteria.max_score:g}{comment}")
    return reasons


def unknown_scores(feedback: list[Feedback], criteria: SelectionCriteria) -> list[str]:
    """The scores given that are no finite number (``NaN``, ``"high"``): they decide nothing, and a trace
    holding one is never called passing."""
    return [
        f"feedback {item.key} score {item.invalid_score!r} is not a number"
        for item in feedback
        if item.invalid_score is not None and not item.informational and criteria.counts(item.key)
    ]


def stats_unknown(feedback_stats: dict[str, Any] | None, criteria: SelectionCriteria) -> bool:
    """Whether LangSmith's ``feedback_stats`` hold a mean that is no finite number."""
    return any(
        isinstance(stats, dict) and "avg" in stats and score_of(stats["avg"])[1] is not None and criteria.counts(key)
        for key, stats in (feedback_stats or {}).items()
    )


def stats_reasons(error: str | None, feedback_stats: dict[str, Any] | None, criteria: SelectionCriteria) -> list[str]:
    """The same rule over LangSmith's ``feedback_stats`` (per key: ``n`` and ``avg``), read with the runs."""
    reasons = error_reason(error)
    for key, stats in sorted((feedback_stats or {}).items()):
        if not isinstance(stats, dict) or not criteria.counts(key):
            continue
        avg, _ = score_of(stats.get("avg"))
        if avg is not None and avg <= criteria.max_score:
            n = int(stats.get("n") or 1)
            scored = f"={avg:g}" if n == 1 else f" averaged {avg:g} over {n} scores"
            reasons.append(f"feedback {key}{scored} ≤ {criteria.max_score:g}")
    return reasons


def stats_passed(error: str | None, feedback_stats: dict[str, Any] | None, criteria: SelectionCriteria) -> bool:
    """Whether a run is known to have passed: no error, no failing or unreadable score, and at least one
    score on the keys that decide. A run nobody scored (an evaluator that crashed) is unknown, and is
    never a passing baseline nor a passing repetition."""
    if stats_reasons(error, feedback_stats, criteria) or stats_unknown(feedback_stats, criteria):
        return False
    return any(
        isinstance(stats, dict) and score_of(stats.get("avg"))[0] is not None and criteria.counts(key)
        for key, stats in (feedback_stats or {}).items()
    )


class FileTraceSource:
    """Traces from one local file (any supported format)."""

    def __init__(self, path: str | Path, fmt: str = "auto") -> None:
        self._path = Path(path)
        self._fmt = fmt
        self._traces: list[Trace] | None = None
        self.notes: list[str] = []

    def find_passing_run(self, experiment: str, example_id: str, criteria: SelectionCriteria) -> str | None:
        return None  # a file holds no experiments

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
        traces = [
            t for t in self._all() if not (criteria.since and t.root.start_time and t.root.start_time < criteria.since)
        ]
        return select_from_traces(traces, criteria)


def passing_reasons(trace: Trace, criteria: SelectionCriteria) -> list[str]:
    """What shows a trace passed: its scores above the threshold (or meeting the producer's rule)."""
    reasons = []
    for item in trace.feedback:
        if item.score is None or item.informational or not criteria.counts(item.key):
            continue
        if item.fails_below is not None:  # the producer's own rule, said as failure_reasons says it
            reasons.append(_producer_rule(item, item.score, item.fails_below))
        else:
            reasons.append(f"feedback {item.key}={item.score:g}, above {criteria.max_score:g}")
    reasons += [
        f"its {item.key} {item.score:g} is lower only by what the harness adds on top; it decides nothing"
        for item in trace.feedback
        if reasons and item.informational and item.score is not None and criteria.counts(item.key)
    ]
    return reasons


def verdict_of(trace: Trace, criteria: SelectionCriteria) -> SelectedTrace:
    """One trace judged on its own by the selection rule: failed, passed (with the scores that say
    so), or unknown when it carries no error and no score to judge by."""
    failed = failure_reasons(trace.root.error, trace.feedback, criteria)
    unknown = [] if failed else unknown_scores(trace.feedback, criteria)
    passed = [] if failed or unknown else passing_reasons(trace, criteria)
    verdict: Literal["failed", "passed", "unknown"] = "failed" if failed else "passed" if passed else "unknown"
    return SelectedTrace(
        trace_id=trace.id,
        name=trace.root.name,
        start_time=trace.root.start_time,
        url=trace.url,
        reasons=failed or unknown or passed or ["no error and no feedback score to judge by"],
        verdict=verdict,
        example_id=_example_id(trace),
        failed_trace_ids=[trace.id] if failed else [],
    )


def _example_id(trace: Trace) -> str | None:
    key = example_key(trace)
    return key.split(":", 1)[1] if key else None


def example_key(trace: Trace) -> str | None:
    """What makes two traces runs of the same example: the dataset example, or the benchmark task."""
    for key in ("reference_example_id", "example_id", "task_id"):
        value = trace.metadata.get(key)
        if value not in (None, ""):
            return f"{key}:{value}"
    example = trace.root.metadata.get("ls_reference_example_id")  # a LangSmith export's root run
    return f"reference_example_id:{example}" if example else None


def select_from_traces(traces: list[Trace], criteria: SelectionCriteria) -> list[SelectedTrace]:
    """Failing traces of a file, by the same rule as LangSmith's; repetitions of one example count once."""
    groups: dict[str, list[tuple[Trace, list[str]]]] = {}
    for trace in traces:
        key = example_key(trace) or f"trace:{trace.id}"
        groups.setdefault(key, []).append((trace, failure_reasons(trace.root.error, trace.feedback, criteria)))
    return _newest_first([_selected(key, runs) for key, runs in groups.items() if any(r for _, r in runs)], criteria)


def _selected(key: str, runs: list[tuple[Trace, list[str]]]) -> SelectedTrace:
    failed = sorted((t for t, r in runs if r), key=_start, reverse=True)
    trace, reasons = next((t, r) for t, r in runs if t is failed[0])
    return SelectedTrace(
        trace_id=trace.id,
        name=trace.root.name,
        start_time=trace.root.start_time,
        url=trace.url,
        reasons=reasons,
        example_id=key.split(":", 1)[1] if not key.startswith("trace:") else None,
        repetitions=len(runs),
        failed_trace_ids=[t.id for t in failed],
        passed_trace_ids=[t.id for t, r in runs if not r],
    )


def _start(trace: Trace) -> float:
    return trace.root.start_time.timestamp() if trace.root.start_time else 0.0


def _newest_first(selected: list[SelectedTrace], criteria: SelectionCriteria) -> list[SelectedTrace]:
    selected.sort(key=lambda s: s.start_time.timestamp() if s.start_time else 0.0, reverse=True)
    return selected[: criteria.limit]
