"""Publishing the action's results: the triage early (comment, check run in progress), then the final
comment edited in place and the check run completed with its annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refinery.action.state import _conclusion, _one_line_summary, _packs, _State
from refinery.analysis.control import RunControl
from refinery.errors import ConfigError
from refinery.github.commands import Log
from refinery.github.event import EventContext
from refinery.report.sanitize import plain_line
from refinery.settings import Settings
from refinery.trace.collect import trace_file_paths
from refinery.wiring import build_publisher
from refinery.words import plural


def _langsmith_host(settings: Settings) -> str:
    host = settings.langsmith_endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.replace("api.smith.", "smith.", 1) if ".smith." in f".{host}" else host


def _publish(
    settings: Settings,
    ctx: EventContext,
    control: RunControl,
    state: _State,
    body: str,
    marker: str,
    out_dir: Path,
    found: bool,
    log: Log,
) -> None:
    from refinery.github.publish import Publication, publish_results

    if settings.github_token is None:
        log.warning("No github-token: results are in the job summary and artifacts only.")
        return
    workspace = ctx.workspace or Path.cwd()
    publication = Publication(
        body=body,
        marker=marker,
        title=state.outputs["summary"],
        results=state.results,
        workspace=workspace,
        skip_dirs={out_dir.name},
        exclude_files=_trace_files(settings, workspace),
        outputs=state.outputs,
        errors=state.errors,
    )
    if state.early_thread is not None:  # the triage comment first: the final one edits it
        state.early_thread.join(timeout=EARLY_CANCELLED_WAIT_S if control.cancelled else EARLY_WAIT_S)
    if state.early is not None:  # edit the triage comment and complete the check run started with it
        publication.comment_id = state.early.comment_id
        publication.check_run_id = state.early.check_run_id
        publication.pr_number = state.early.pr_number
    publish_results(
        build_publisher(settings, ctx.api_url, ctx.repository, urgent=control.cancelled),
        ctx,
        publication,
        pr_number=settings.pr_number or ctx.pr_number,
        comment=settings.comment,
        check_run=settings.check_run,
        annotations=settings.annotations,
        level="failure" if settings.fail_on == "finding" else "warning",
        conclusion=lambda: _conclusion(settings, bool(state.errors), found),
        log=log,
    )


def _marker(settings: Settings, ctx: EventContext) -> str:
    from refinery.report.comment import sticky_marker

    selection = ",".join(settings.trace_ids) or settings.trace_file or settings.experiment
    return sticky_marker(ctx.workflow, ctx.job, selection or settings.langsmith_project or "auto")


EARLY_WAIT_S = 60.0
"""How long the final publishing waits for the triage's own (its two writes take about a second)."""
EARLY_CANCELLED_WAIT_S = 0.5


def _publish_early(
    settings: Settings, ctx: EventContext, control: RunControl, state: _State, triage: list[Any], log: Log
) -> None:
    """Post the triage now, with a "diagnosis running" line, and start the check run: the stages take minutes."""
    from refinery.github.publish import Publication, publish_early
    from refinery.report.comment import CommentLinks, build_comment

    if settings.github_token is None or control.cancelled:
        return
    links = CommentLinks(run_url=ctx.run_url, artifacts_url=None, triggering_run_url=ctx.triggering_run_url)
    marker = _marker(settings, ctx)
    running = (
        f"Diagnosis running: the model stages are analysing {plural(len(triage), 'representative trace')}; "
        "this comment is edited when they end."
    )
    body = build_comment(
        triage,
        marker=marker,
        links=links,
        langsmith_host=_langsmith_host(settings),
        notices=state.notices,
        clusters=state.groups,
        running=running,
    )
    publication = Publication(
        body=body,
        marker=marker,
        title=plain_line(f"Triage done, diagnosis running: {_one_line_summary(_packs(triage), 0)}", 255),
        results=[],
        workspace=ctx.workspace or Path.cwd(),
        outputs=state.outputs,
        errors=state.errors,
    )
    publish_early(
        build_publisher(settings, ctx.api_url, ctx.repository),
        ctx,
        publication,
        pr_number=settings.pr_number or ctx.pr_number,
        comment=settings.comment,
        check_run=settings.check_run,
        log=log,
    )
    state.early = publication


def _trace_files(settings: Settings, workspace: Path) -> set[str]:
    if not settings.trace_file:
        return set()
    found = set()
    try:
        paths = trace_file_paths(settings.trace_file, workspace)
    except ConfigError:
        return set()
    for path in paths:
        try:
            found.add(path.resolve().relative_to(workspace.resolve()).as_posix())
        except (ValueError, OSError):
            continue
    return found
