"""Collect and select: every trace the request names is read, and the failing ones are chosen.

The same rules for the CLI and the action. A file that cannot be read, or an id that cannot be
fetched, is a named failure and the rest are still read. From files, the failing traces are
selected by the rule LangSmith's selection follows (an error, feedback at or below
``max-score``, or the producer's own pass rule); traces named by id, or every trace with
``all_traces``, are analysed whatever their verdict, and each carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from refinery.errors import ConfigError, RefineryError
from refinery.planner.request import RunRequest
from refinery.planner.services import Services
from refinery.settings import Settings
from refinery.trace.bounds import InputLimits
from refinery.trace.collect import Collected, fetch_each, load_trace_glob
from refinery.trace.model import Trace
from refinery.trace.source import SelectedTrace, SelectionCriteria, select_from_traces, verdict_of
from refinery.words import plural

Log = Callable[[str], None]


@dataclass
class Selection:
    """The traces to triage, why each was chosen, and what was read to choose them."""

    traces: list[Trace]
    selected: dict[str, SelectedTrace]
    """Why each trace was chosen (its verdict and reasons), by trace id."""
    read: int
    """Traces read (files, ids) or selected (a project)."""
    failing: int
    """Of those, the failing ones (examples, when repetitions are grouped)."""
    collected: Collected = field(default_factory=Collected)
    """Every trace read, failures to read, and the source: where baselines are looked for."""


def criteria_for(settings: Settings) -> SelectionCriteria:
    """The one selection rule, from the settings (``max-score``, ``feedback-key``, ``max-select``)."""
    return SelectionCriteria(
        feedback_keys=settings.feedback_keys, max_score=settings.max_score, limit=settings.max_select
    )


def collect_and_select(request: RunRequest, settings: Settings, services: Services, log: Log) -> Selection:
    """Read what the request names and choose the traces to triage."""
    criteria = criteria_for(settings)
    if request.files:
        return _from_files(request, settings, criteria, log)
    if request.trace_ids:
        collected = fetch_each(services.sources(), list(request.trace_ids[: settings.max_select]))
        collected.source = services.sources()
        chosen = {t.id: verdict_of(t, criteria) for t in collected.traces}
        failing = sum(s.verdict == "failed" for s in chosen.values())
        return Selection(collected.traces, chosen, len(collected.traces), failing, collected)
    if request.project:
        return _from_project(request, services, criteria, log)
    raise ConfigError(
        "Nothing to read.",
        hint="Give a trace file (FILE or --trace-file FILE) or --trace-id ID (action inputs `trace-file`, "
        "`trace-id`), or a LangSmith project or experiment to select failing traces from.",
    )


def _from_files(request: RunRequest, settings: Settings, criteria: SelectionCriteria, log: Log) -> Selection:
    limits = InputLimits(max_bytes=settings.max_input_mb * 1024 * 1024)
    collected = Collected()
    for pattern in request.files:
        try:
            found = load_trace_glob(pattern, request.root, limits, request.fmt)
        except RefineryError as exc:  # a pattern that matches nothing: named, and the others still read
            collected.failures.append(exc.one_line())
            collected.first_error = collected.first_error or exc
            continue
        collected.traces.extend(found.traces)
        collected.failures.extend(found.failures)
        collected.first_error = collected.first_error or found.first_error
    collected.pool = list(collected.traces)
    traces = collected.traces
    failing = select_from_traces(traces, criteria.model_copy(update={"limit": len(traces) or 1}))
    if request.trace_ids:
        named = _named(traces, request.trace_ids, collected)
        if not named and traces:
            shown = ", ".join(t.id for t in traces[:10])
            raise ConfigError(
                f"{', '.join(request.files)} has no trace {request.trace_ids[0]}.", hint=f"It holds: {shown}."
            )
        chosen = {t.id: verdict_of(t, criteria) for t in named}
        return Selection(named, chosen, len(traces), len(failing), collected)
    if settings.all_traces:
        why = {s.trace_id: s for s in failing}
        everything = traces[: settings.max_select]
        chosen = {t.id: why.get(t.id) or verdict_of(t, criteria) for t in everything}
        return Selection(everything, chosen, len(traces), len(failing), collected)
    kept = failing[: settings.max_select]
    by_id = {t.id: t for t in traces}
    if len(traces) > 1:
        log(f"{plural(len(traces), 'trace')} read; {plural(len(failing), 'failing trace')}")
    if len(failing) > len(kept):
        log(f"{len(failing)} failing traces; triaging the newest {len(kept)} (max-select).")
    return Selection(
        [by_id[s.trace_id] for s in kept], {s.trace_id: s for s in kept}, len(traces), len(failing), collected
    )


def _named(traces: list[Trace], ids: tuple[str, ...], collected: Collected) -> list[Trace]:
    """The traces named by id (a trace id or the id of any run in it); an id not found is a failure."""
    named: list[Trace] = []
    for wanted in ids:
        found = next((t for t in traces if t.id == wanted or any(r.id == wanted for r in t.runs)), None)
        if found is None:
            shown = ", ".join(t.id for t in traces[:10])
            collected.failures.append(f"trace {wanted}: not in the files read (they hold: {shown}).")
        elif found not in named:
            named.append(found)
    return named


def _from_project(request: RunRequest, services: Services, criteria: SelectionCriteria, log: Log) -> Selection:
    assert request.project is not None
    source = services.sources(request.project, experiment=request.experiment)
    log(
        f"selecting failing traces of {request.project!r}"
        + (f" started since {request.since.isoformat()}" if request.since else "")
    )
    selected = source.select_failing(criteria.model_copy(update={"since": request.since}))
    for note in source.notes:
        log(f"warning: {note}")
    for item in selected:
        flaky = f" ({item.flaky_note})" if item.flaky_note else ""
        log(f"selected {item.trace_id}: {'; '.join(item.reasons)}{flaky}")
    collected = fetch_each(source, [item.trace_id for item in selected])
    collected.source = source
    chosen = {item.trace_id: item for item in selected}
    return Selection(collected.traces, chosen, len(selected), len(selected), collected)
