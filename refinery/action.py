"""The GitHub Action: with ``cli/``, the only place that reads the environment.

``main`` reads the environment into Settings and installs the signal handlers; every client
comes from ``refinery.wiring``. Refinery's own failures never fail the user's job unless
``fail-on: error`` (or ``finding``) asks for it: they are logged, written to the job summary
and, when the analysis failed, the offline triage is posted. One bad file, id or trace is
reported by name and the rest are analysed. A cancelled run (SIGTERM) writes the triage with
a "cancelled" note, deletes what it created and exits within seconds.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO

from refinery.analysis.control import Cancelled, RunControl
from refinery.documents.redact import Redactor
from refinery.errors import ConfigError, RefineryError
from refinery.github.commands import Log, write_outputs, write_summary
from refinery.github.event import EventContext, load_event
from refinery.report.sanitize import plain_line, prose
from refinery.settings import Settings, load_settings, parse_since
from refinery.trace.bounds import InputLimits
from refinery.trace.collect import Collected, fetch_each, load_trace_glob, trace_file_paths
from refinery.wiring import build_analysis_provider, build_langsmith_source, build_publisher, build_rate_gate
from refinery.words import plural

CANCEL_BUDGET_S = 4.5
"""From the signal to the exit: the runner sends SIGKILL about 7.5 s after SIGTERM."""
CLEANUP_SHARE_S = 2.5
"""By this long after the signal, the deletion of what the run created has given up."""
PUBLISH_MIN_S = 1.0
"""A cancelled run still posts its comment when at least this much of its budget is left."""


def _langsmith_host(settings: Settings) -> str:
    host = settings.langsmith_endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.replace("api.smith.", "smith.", 1) if ".smith." in f".{host}" else host


def _limits(settings: Settings) -> InputLimits:
    return InputLimits(max_bytes=settings.max_input_mb * 1024 * 1024)


def collect_traces(settings: Settings, ctx: EventContext, log: Log) -> Collected:
    """The traces to analyse: explicit ids, then files, then failing traces selected from LangSmith."""
    from refinery.trace.source import SelectionCriteria, failure_reasons

    ids = settings.trace_ids or [i for i in ctx.dispatch_inputs.get("trace-id", "").replace(",", " ").split() if i]
    if ids:
        return fetch_each(
            build_langsmith_source(settings, allow_partial=settings.allow_partial), ids[: settings.max_traces]
        )
    if settings.trace_file:
        collected = load_trace_glob(settings.trace_file, ctx.workspace or Path.cwd(), _limits(settings))
        traces = collected.traces
        criteria = SelectionCriteria(
            feedback_key=settings.feedback_key, max_score=settings.max_score, limit=settings.max_traces
        )
        failing = [t for t in traces if failure_reasons(t.root.error, t.feedback, criteria)]
        chosen = (failing + [t for t in traces if t not in failing])[: settings.max_traces]
        if len(traces) > len(chosen):
            log.info(f"{plural(len(traces), 'trace')} read; analysing {len(chosen)} (max-traces).")
        return Collected(chosen, collected.failures)
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
    criteria = SelectionCriteria(
        feedback_key=settings.feedback_key, max_score=settings.max_score, since=since, limit=settings.max_traces
    )
    source = build_langsmith_source(settings, project=project, allow_partial=settings.allow_partial)
    selected = source.select_failing(criteria)
    for item in selected:
        log.info(f"selected {item.trace_id}: {'; '.join(item.reasons)}")
    return fetch_each(source, [item.trace_id for item in selected])


def _conclusion(settings: Settings, had_error: bool, found: bool) -> Literal["success", "failure", "neutral"]:
    if settings.fail_on == "error" and had_error:
        return "failure"
    if settings.fail_on == "finding" and (had_error or found):
        return "failure"
    return "neutral" if (found or had_error) else "success"


@dataclass
class _State:
    """What one run has gathered so far, whatever stops it."""

    errors: list[str] = field(default_factory=list)
    """Refinery's own failures, one line each, naming the trace or file."""
    notices: list[str] = field(default_factory=list)
    """What the comment leads with: items not analysed, a cancellation."""
    outputs: dict[str, str] = field(
        default_factory=lambda: {"traces-analyzed": "0", "comment-url": "", "check-run-url": ""}
    )
    results: list[Any] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    """What the comment is built from: results, or merged packs."""
    unanalysed: int = 0
    """Files and traces that could not be analysed at all."""

    def fail(self, line: str, *, unanalysed: bool = False) -> None:
        self.errors.append(line)
        self.notices.append(line)
        self.unanalysed += unanalysed


def run(env: Mapping[str, str], stdout: TextIO, control: RunControl | None = None) -> int:
    """Everything the action does. Returns the process exit code."""
    control = control or RunControl()
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        Log(stdout, Redactor()).error(exc.one_line())
        return 1 if env.get("INPUT_FAIL-ON", "").strip() in ("error", "finding") else 0
    # Everything this run logs is redacted with the configured keys, and the runner masks them too.
    log = Log(stdout, Redactor(known_secrets=settings.secret_values()))
    for secret in settings.secret_values():
        log.mask(secret)
    state = _State()
    ctx: EventContext | None = None
    try:
        ctx = load_event(env)
        _analyse(settings, ctx, control, state, log)
    except Cancelled as exc:
        state.fail(exc.one_line())
        log.warning(exc.one_line())
    except RefineryError as exc:
        state.fail(exc.one_line())
        log.error(exc.one_line())
    except Exception as exc:  # the action must never die with a bare traceback in the user's job
        state.fail(f"internal error {type(exc).__name__}: {exc}")
        log.error(f"Refinery hit an internal error ({type(exc).__name__}: {exc}); please report it.")
        if settings.debug:
            log.info(traceback.format_exc())
    if control.cancelled:
        note = f"The run was cancelled ({control.reason}): the triage is complete, the model stages are not."
        state.notices.insert(0, note)
        log.warning(note)
        for warning in control.clean_up(control.remaining(CLEANUP_SHARE_S)):
            log.warning(warning)
    return _report(settings, env, ctx, control, state, log)


def _analyse(settings: Settings, ctx: EventContext, control: RunControl, state: _State, log: Log) -> None:
    from refinery.batch import analyse_traces
    from refinery.documents.render import RenderOptions
    from refinery.pipeline import PrepareOptions
    from refinery.report.merge import load_entries

    workspace = ctx.workspace or Path.cwd()
    if settings.merge_from:
        # The fan-out's last step: the matrix jobs analysed one trace each; group their packs.
        with log.group("Refinery: merging packs"):
            state.items = load_entries(settings.merge_from, workspace)
            log.info(f"{plural(len(state.items), 'pack')} to merge")
        return
    with log.group("Refinery: collecting traces"), control.interruptible_section():
        collected = collect_traces(settings, ctx, log)
        for failure in collected.failures:
            state.fail(failure, unanalysed=True)
            log.warning(f"Not analysed: {failure}")
        log.info(f"{plural(len(collected.traces), 'trace')} to analyse")
    traces = collected.traces
    options = PrepareOptions(
        redact=settings.redact,
        known_secrets=tuple(settings.secret_values()),
        eval_threshold=settings.max_score,
        render=RenderOptions(),
    )
    gate = build_rate_gate(settings)  # one per run: shared by every trace's worker
    workers = max(1, min(settings.concurrency, len(traces)))
    with log.group(f"Refinery: analysing {plural(len(traces), 'trace')}, {workers} at a time"):
        outcomes = analyse_traces(
            traces,
            options=options,
            out_dir=_out_dir(settings, workspace),
            make_provider=(lambda: build_analysis_provider(settings, gate=gate, control=control))
            if settings.has_model_key
            else None,
            concurrency=settings.concurrency,
            log=log.info,
            control=control,
        )
    for outcome in outcomes:
        name = f"trace {outcome.trace.id} ({outcome.trace.root.name})"
        if outcome.result is None:
            state.fail(f"{name}: {outcome.error}", unanalysed=True)
            report = log.error if outcome.internal else log.warning
            report(
                f"{name} could not be analysed: {outcome.error}" + ("; please report it." if outcome.internal else "")
            )
            continue
        if outcome.error is not None and not outcome.cancelled:
            state.fail(f"{name}: {outcome.error}")
            log.warning(f"{name}: the model analysis failed; its triage is posted instead: {outcome.error}")
        for warning in outcome.result.warnings:
            if warning.startswith("Could not delete"):
                log.warning(f"{name}: {warning}")
        if outcome.artifacts is not None:
            state.outputs.setdefault("hypothesis-pack-path", str(outcome.artifacts.pack))
        state.results.append(outcome.result)
    state.items = list(state.results)


def _out_dir(settings: Settings, workspace: Path) -> Path:
    out_dir = Path(settings.output_dir)
    return out_dir if out_dir.is_absolute() else workspace / out_dir


def _report(
    settings: Settings, env: Mapping[str, str], ctx: EventContext | None, control: RunControl, state: _State, log: Log
) -> int:
    """The comment body, the publishing, the job summary and the outputs, from whatever the run got to."""
    from refinery.report.comment import CommentLinks, build_comment, sticky_marker

    packs = _packs(state.items)
    found = any(p.triage.findings for p in packs)
    state.outputs["traces-analyzed"] = str(len(state.items))
    state.outputs["summary"] = _one_line_summary(packs, state.unanalysed, control)
    summary_parts: list[str] = []
    if ctx is not None and (state.items or state.notices):
        workspace = ctx.workspace or Path.cwd()
        out_dir = _out_dir(settings, workspace)
        links = CommentLinks(
            run_url=ctx.run_url, artifacts_url=ctx.artifacts_url, triggering_run_url=ctx.triggering_run_url
        )
        selection = ",".join(settings.trace_ids) or settings.trace_file or settings.experiment
        marker = sticky_marker(ctx.workflow, ctx.job, selection or settings.langsmith_project or "auto")
        body = build_comment(
            state.items, marker=marker, links=links, langsmith_host=_langsmith_host(settings), notices=state.notices
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.md").write_text(body, encoding="utf-8")
        state.outputs["report-path"] = str(out_dir / "report.md")
        summary_parts.append(body)
        if not control.cancelled or control.remaining(CANCEL_BUDGET_S) >= PUBLISH_MIN_S:
            _publish(settings, ctx, control, state, body, marker, out_dir, found, log)
        else:
            log.warning("Cancelled too close to the runner's kill to publish: the results are in the summary.")
    else:
        summary_parts.append("### Refinery\n\nNo failing traces were found for this run.\n")
    conclusion = _conclusion(settings, bool(state.errors), found)
    state.outputs["conclusion"] = conclusion
    if state.errors:
        summary_parts.append("### Refinery errors\n\n" + "\n".join(f"- {prose(e, 1000)}" for e in state.errors) + "\n")
    summary_path = (
        ctx.summary_path if ctx else (Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None)
    )
    write_summary(summary_path, "\n\n".join(summary_parts))
    output_path = ctx.output_path if ctx else (Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None)
    write_outputs(output_path, state.outputs)
    log.info(f"Refinery: {state.outputs['summary']} (conclusion: {conclusion})")
    return 1 if conclusion == "failure" else 0


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


def _packs(items: list[Any]) -> list[Any]:
    """The Hypothesis Pack of each analysed result or merged entry."""
    return [item.pack if hasattr(item, "report") else item.pack() for item in items]


def _one_line_summary(packs: list[Any], unanalysed: int, control: RunControl | None = None) -> str:
    """The ``summary`` output and check-run title: untrusted text made plain (it may reach a shell)."""
    prefix = "cancelled: " if control is not None and control.cancelled else ""
    if not packs:
        detail = (
            f"{plural(unanalysed, 'trace or file', 'traces or files')} could not be analysed"
            if unanalysed
            else "no traces analysed"
        )
        return plain_line(prefix + detail, 1000)
    parts = []
    for pack in packs:
        origin = pack.triage.origin
        if pack.summary:
            parts.append(pack.summary.split(". ")[0][:200])
        elif origin is not None:
            parts.append(f"{origin.name} at {origin.section}")
    failed = f", {unanalysed} not analysed" if unanalysed else ""
    text = f"{prefix}{plural(len(packs), 'trace')}{failed}: " + " / ".join(parts or ["no origin found"])
    return plain_line(text, 1000)


def main() -> None:
    """Container entry point: SIGTERM and SIGINT cancel the run, as PID 1 too."""
    from refinery.interrupts import cancel_on_signals, end_process

    control = RunControl()
    with cancel_on_signals(control):
        code = run(os.environ, sys.stdout, control)
    if control.cancelled:
        end_process(code)  # a worker stuck in a request must not hold the process
    sys.exit(code)
