"""Which traces the action triages: explicit ids, then files, then failing traces selected from LangSmith."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from refinery.errors import ConfigError, RefineryError
from refinery.github.commands import Log
from refinery.github.event import EventContext
from refinery.settings import Settings, parse_since
from refinery.trace.bounds import InputLimits
from refinery.trace.collect import Collected, fetch_each, load_trace_glob
from refinery.wiring import build_langsmith_source, build_publisher
from refinery.words import plural


def _limits(settings: Settings) -> InputLimits:
    return InputLimits(max_bytes=settings.max_input_mb * 1024 * 1024)


def collect_traces(settings: Settings, ctx: EventContext, log: Log) -> Collected:
    """The traces to triage: explicit ids, then files, then failing traces selected from LangSmith.

    At most ``max-select``; a failure is a root run that errored or whose feedback (any key,
    unless ``feedback-key`` narrows it) scored at or below ``max-score``; in an experiment each
    example counts once, its repetitions grouped.
    """
    from refinery.trace.source import SelectionCriteria, select_from_traces

    ids = settings.trace_ids or [i for i in ctx.dispatch_inputs.get("trace-id", "").replace(",", " ").split() if i]
    if ids:
        source = build_langsmith_source(settings, allow_partial=settings.allow_partial)
        collected = fetch_each(source, ids[: settings.max_select])
        collected.source = source
        return collected
    criteria = SelectionCriteria(
        feedback_keys=settings.feedback_keys, max_score=settings.max_score, limit=settings.max_select
    )
    if settings.trace_file:
        collected = load_trace_glob(settings.trace_file, ctx.workspace or Path.cwd(), _limits(settings))
        selected = select_from_traces(collected.traces, criteria)
        _log_selected(log, selected)
        if not selected:  # files named explicitly: analyse them even when no rule calls them failing
            log.info(f"No trace in {settings.trace_file} fails by the selection rule; analysing them as given.")
            return Collected(collected.traces[: settings.max_select], collected.failures, pool=collected.traces)
        by_id = {t.id: t for t in collected.traces}
        log.info(f"{plural(len(collected.traces), 'trace')} read; {plural(len(selected), 'failing trace')} to triage")
        return Collected(
            [by_id[s.trace_id] for s in selected],
            collected.failures,
            {s.trace_id: s for s in selected},
            pool=collected.traces,
        )
    project = settings.experiment or settings.langsmith_project
    if not project:
        raise ConfigError(
            "No traces to analyse.",
            hint="Set `trace-id`, `trace-file`, or `langsmith-project`/`experiment` to select failing traces.",
        )
    since = parse_since(settings.since) if settings.since else ctx.started_at
    if since is None and ctx.run_id and ctx.run_id.isdigit() and settings.github_token is not None:
        try:  # the evals ran earlier in this same workflow run
            since = build_publisher(settings, ctx.api_url, ctx.repository).run_started_at(int(ctx.run_id))
        except RefineryError as exc:
            log.warning(f"Could not read when this run started ({exc.one_line()}); selecting the last 24 hours.")
    if since is None:
        since = datetime.now(UTC) - timedelta(hours=24)
    log.info(f"selecting failing traces of {project!r} started since {since.isoformat()}")
    source = build_langsmith_source(settings, project=project, allow_partial=settings.allow_partial)
    selected = source.select_failing(criteria.model_copy(update={"since": since}))
    for note in source.notes:
        log.warning(note)
    _log_selected(log, selected)
    collected = fetch_each(source, [item.trace_id for item in selected])
    collected.selections = {item.trace_id: item for item in selected}
    collected.source = source
    return collected


def _log_selected(log: Log, selected: list[Any]) -> None:
    for item in selected:
        flaky = f" ({item.flaky_note})" if item.flaky_note else ""
        log.info(f"selected {item.trace_id}: {'; '.join(item.reasons)}{flaky}")
