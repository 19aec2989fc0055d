"""The GitHub Action: with ``cli/``, the only place that reads the environment.

``main`` reads the environment into Settings; every client comes from ``refinery.wiring``. Refinery's own failures never fail
the user's job unless ``fail-on: error`` (or ``finding``) asks for it: they are logged,
written to the job summary and, when the analysis failed, the offline triage is posted.
"""

from __future__ import annotations

import glob
import os
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO

from refinery.documents.redact import Redactor
from refinery.errors import ConfigError, RefineryError
from refinery.github.commands import Log, write_outputs, write_summary
from refinery.github.event import EventContext, load_event
from refinery.report.sanitize import plain_line, prose
from refinery.settings import Settings, load_settings, parse_since
from refinery.trace.model import Trace
from refinery.wiring import build_analysis_provider, build_langsmith_source, build_publisher, build_rate_gate
from refinery.words import plural

CHECK_NAME = "Refinery"
README_FORK_HINT = "see the README section “Fork pull requests (workflow_run)”"


def _langsmith_host(settings: Settings) -> str:
    host = settings.langsmith_endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.replace("api.smith.", "smith.", 1) if ".smith." in f".{host}" else host


def collect_traces(settings: Settings, ctx: EventContext, log: Log) -> list[Trace]:
    """The traces to analyse: explicit ids, then files, then failing traces selected from LangSmith."""
    from refinery.trace.files import load_trace_files
    from refinery.trace.source import SelectionCriteria, failure_reasons

    ids = settings.trace_ids or [i for i in ctx.dispatch_inputs.get("trace-id", "").replace(",", " ").split() if i]
    if ids:
        source = build_langsmith_source(settings)
        return [source.fetch_trace(trace_id) for trace_id in ids[: settings.max_traces]]
    if settings.trace_file:
        root = ctx.workspace or Path.cwd()
        pattern = settings.trace_file if os.path.isabs(settings.trace_file) else str(root / settings.trace_file)
        paths = sorted(glob.glob(pattern, recursive=True))
        if not paths:
            raise ConfigError(
                f"trace-file {settings.trace_file!r} matches no file in {root}.", hint="Check the path or glob."
            )
        traces = [t for path in paths for t in load_trace_files(path)]
        criteria = SelectionCriteria(
            feedback_key=settings.feedback_key, max_score=settings.max_score, limit=settings.max_traces
        )
        failing = [t for t in traces if failure_reasons(t.root.error, t.feedback, criteria)]
        chosen = (failing + [t for t in traces if t not in failing])[: settings.max_traces]
        if len(traces) > len(chosen):
            log.info(f"{len(traces)} traces in {len(paths)} file(s); analysing {len(chosen)} (max-traces).")
        return chosen
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
    source = build_langsmith_source(settings, project=project)
    selected = source.select_failing(criteria)
    for item in selected:
        log.info(f"selected {item.trace_id}: {'; '.join(item.reasons)}")
    return [source.fetch_trace(item.trace_id) for item in selected]


def _conclusion(settings: Settings, had_error: bool, found: bool) -> Literal["success", "failure", "neutral"]:
    if settings.fail_on == "error" and had_error:
        return "failure"
    if settings.fail_on == "finding" and (had_error or found):
        return "failure"
    return "neutral" if (found or had_error) else "success"


def run(env: Mapping[str, str], stdout: TextIO) -> int:
    """Everything the action does. Returns the process exit code."""
    from refinery.analysis.orchestrator import AnalysisResult
    from refinery.batch import analyse_traces
    from refinery.documents.render import RenderOptions
    from refinery.pipeline import PrepareOptions
    from refinery.report.comment import CommentLinks, build_comment, sticky_marker
    from refinery.report.merge import load_entries

    try:
        settings = load_settings(env)
    except ConfigError as exc:
        Log(stdout, Redactor()).error(exc.one_line())
        return 1 if env.get("INPUT_FAIL-ON", "").strip() in ("error", "finding") else 0
    # Everything this run logs is redacted with the configured keys, and the runner masks them too.
    log = Log(stdout, Redactor(known_secrets=settings.secret_values()))
    for secret in settings.secret_values():
        log.mask(secret)
    errors: list[str] = []
    outputs: dict[str, str] = {"traces-analyzed": "0", "comment-url": "", "check-run-url": ""}
    results: list[AnalysisResult] = []
    items: list[Any] = []  # what the comment is built from: results, or merged packs
    ctx: EventContext | None = None
    summary_parts: list[str] = []
    try:
        ctx = load_event(env)
        workspace = ctx.workspace or Path.cwd()
        out_dir = Path(settings.output_dir)
        out_dir = out_dir if out_dir.is_absolute() else workspace / out_dir
        if settings.merge_from:
            # The fan-out's last step: the matrix jobs analysed one trace each; group their packs.
            with log.group("Refinery: merging packs"):
                items = load_entries(settings.merge_from, workspace)
                log.info(f"{len(items)} pack(s) to merge")
        else:
            with log.group("Refinery: collecting traces"):
                traces = collect_traces(settings, ctx, log)
                log.info(f"{len(traces)} trace(s) to analyse")
            options = PrepareOptions(
                redact=settings.redact,
                known_secrets=tuple(settings.secret_values()),
                eval_threshold=settings.max_score,
                render=RenderOptions(),
            )
            gate = build_rate_gate(settings)  # one per run: shared by every trace's worker
            workers = max(1, min(settings.concurrency, len(traces)))
            with log.group(f"Refinery: analysing {len(traces)} trace(s), {workers} at a time"):
                outcomes = analyse_traces(
                    traces,
                    options=options,
                    out_dir=out_dir,
                    make_provider=(lambda: build_analysis_provider(settings, gate=gate))
                    if settings.has_model_key
                    else None,
                    concurrency=settings.concurrency,
                    log=log.info,
                )
            for outcome in outcomes:
                trace_id = outcome.trace.id
                if outcome.result is None:
                    errors.append(f"trace {trace_id}: {outcome.error}")
                    if outcome.internal:
                        log.error(f"trace {trace_id}: {outcome.error}; please report it.")
                    else:
                        log.warning(f"trace {trace_id} could not be analysed: {outcome.error}")
                    continue
                if outcome.error is not None:
                    errors.append(f"trace {trace_id}: {outcome.error}")
                    log.warning(f"The model analysis failed; the triage report is posted instead: {outcome.error}")
                if outcome.artifacts is not None:
                    outputs.setdefault("hypothesis-pack-path", str(outcome.artifacts.pack))
                results.append(outcome.result)
            items = list(results)
        outputs["traces-analyzed"] = str(len(items))
        if not items:
            summary_parts.append("### Refinery\n\nNo failing traces were found for this run.\n")
        else:
            links = CommentLinks(
                run_url=ctx.run_url, artifacts_url=ctx.artifacts_url, triggering_run_url=ctx.triggering_run_url
            )
            marker = sticky_marker(
                ctx.workflow,
                ctx.job,
                ",".join(settings.trace_ids)
                or settings.trace_file
                or settings.experiment
                or settings.langsmith_project
                or "auto",
            )
            body = build_comment(items, marker=marker, links=links, langsmith_host=_langsmith_host(settings))
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "report.md").write_text(body, encoding="utf-8")
            outputs["report-path"] = str(out_dir / "report.md")
            summary_parts.append(body)
            _publish(settings, ctx, items, results, body, marker, outputs, errors, log, workspace, out_dir)
    except RefineryError as exc:
        errors.append(exc.one_line())
        log.error(exc.one_line())
    except Exception as exc:  # the action must never die with a bare traceback in the user's job
        errors.append(f"internal error {type(exc).__name__}: {exc}")
        log.error(f"Refinery hit an internal error ({type(exc).__name__}: {exc}); please report it.")
        if settings.debug:
            log.info(traceback.format_exc())
    packs = _packs(items)
    found = any(p.triage.findings for p in packs)
    conclusion = _conclusion(settings, bool(errors), found)
    outputs["conclusion"] = conclusion
    outputs["summary"] = _one_line_summary(packs, errors)
    if errors:
        summary_parts.append("### Refinery errors\n\n" + "\n".join(f"- {prose(e, 1000)}" for e in errors) + "\n")
    summary_path = (
        ctx.summary_path if ctx else (Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None)
    )
    write_summary(summary_path, "\n\n".join(summary_parts))
    output_path = ctx.output_path if ctx else (Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None)
    write_outputs(output_path, outputs)
    log.info(f"Refinery: {outputs['summary']} (conclusion: {conclusion})")
    return 1 if conclusion == "failure" else 0


def _trace_files(settings: Settings, workspace: Path) -> set[str]:
    if not settings.trace_file:
        return set()
    pattern = settings.trace_file if os.path.isabs(settings.trace_file) else str(workspace / settings.trace_file)
    found = set()
    for path in glob.glob(pattern, recursive=True):
        try:
            found.add(Path(path).resolve().relative_to(workspace.resolve()).as_posix())
        except ValueError:
            continue
    return found


def _packs(items: list[Any]) -> list[Any]:
    """The Hypothesis Pack of each analysed result or merged entry."""
    return [item.pack if hasattr(item, "report") else item.pack() for item in items]


def _one_line_summary(packs: list[Any], errors: list[str]) -> str:
    """The ``summary`` output and check-run title: untrusted text made plain (it may reach a shell)."""
    if not packs:
        return "no traces analysed" + (f", {plural(len(errors), 'error')}" if errors else "")
    parts = []
    for pack in packs:
        origin = pack.triage.origin
        if pack.summary:
            parts.append(pack.summary.split(". ")[0][:200])
        elif origin is not None:
            parts.append(f"{origin.name} at {origin.section}")
    return plain_line(f"{plural(len(packs), 'trace')}: " + " / ".join(parts or ["no origin found"]), 1000)


def _publish(
    settings: Settings,
    ctx: EventContext,
    items: list[Any],
    results: list[Any],
    body: str,
    marker: str,
    outputs: dict[str, str],
    errors: list[str],
    log: Log,
    workspace: Path,
    out_dir: Path,
) -> None:
    """Comment, check run and annotations; a read-only token degrades to the summary with one warning."""
    from refinery.github.annotations import Workspace, build_annotations
    from refinery.github.publisher import ReadOnlyToken

    if settings.github_token is None:
        log.warning("No github-token: results are in the job summary and artifacts only.")
        return
    publisher = build_publisher(settings, ctx.api_url, ctx.repository)
    warned = False

    def read_only_warning(exc: Exception) -> None:
        nonlocal warned
        if not warned:
            log.warning(f"{exc} Results are in the job summary and artifacts; {README_FORK_HINT}.")
            warned = True

    pr_number = settings.pr_number or ctx.pr_number
    if pr_number is None and ctx.needs_pr_lookup:
        try:
            pr_number = publisher.find_pull_request(ctx.head_sha, ctx.head_owner, ctx.head_branch)
        except RefineryError as exc:
            log.warning(f"Could not find the pull request for {ctx.head_sha[:12]}: {exc.one_line()}")
    if settings.comment != "off" and pr_number is not None:
        try:
            outputs["comment-url"] = publisher.upsert_comment(pr_number, body, marker, mode=settings.comment)
            log.info(f"commented: {outputs['comment-url']}")
        except ReadOnlyToken as exc:
            read_only_warning(exc)
        except RefineryError as exc:
            errors.append(exc.one_line())
            log.warning(exc.one_line())
    if settings.check_run:
        found = any(p.triage.findings for p in _packs(items))
        conclusion = _conclusion(settings, bool(errors), found)
        level: Literal["failure", "warning"] = "failure" if settings.fail_on == "finding" else "warning"
        annotations = (
            build_annotations(
                results,
                Workspace(workspace, skip={out_dir.name}, exclude=_trace_files(settings, workspace)),
                level=level,
            )
            if settings.annotations
            else []
        )
        title = outputs.get("summary") or _one_line_summary(_packs(items), errors)
        try:
            outputs["check-run-url"] = publisher.publish_check_run(
                name=CHECK_NAME,
                head_sha=ctx.head_sha,
                title=plain_line(title, 255) or "Refinery",
                # The lead (what failed, the hypotheses) as the summary; every trace's full report as the text.
                summary=body.replace(marker, "").split("<details>", 1)[0].strip(),
                text=body.replace(marker, "").strip(),
                conclusion=conclusion,
                annotations=annotations,
                details_url=ctx.run_url,
            )
            log.info(f"check run: {outputs['check-run-url']} ({len(annotations)} annotations)")
        except ReadOnlyToken as exc:
            read_only_warning(exc)
        except RefineryError as exc:
            errors.append(exc.one_line())
            log.warning(exc.one_line())


def main() -> None:
    """Container entry point."""
    sys.exit(run(os.environ, sys.stdout))
