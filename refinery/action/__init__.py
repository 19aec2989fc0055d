"""The GitHub Action: with ``cli/``, the only place that reads the environment.

``run`` reads the environment into Settings and the event, asks the composition root once for
the run's services, and hands a request to the planner, the same one the CLI uses. Refinery's
own failures never fail the user's job unless ``fail-on: error`` (or ``finding``) asks for it:
they are logged, written to the job summary and posted with whatever triage was done. A
cancelled run (SIGTERM) writes the triage with a "cancelled" note, deletes what it created
and exits within seconds.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from refinery.analysis.control import RunControl
from refinery.documents.redact import Redactor
from refinery.errors import ConfigError, RefineryError
from refinery.github.commands import Log
from refinery.github.event import EventContext, load_event
from refinery.github.reporter import one_line_summary
from refinery.pipeline import PrepareOptions
from refinery.planner.request import BaselineRequest, RunRequest, eval_environment
from refinery.planner.run import Planner
from refinery.planner.services import Services
from refinery.settings import Settings, parse_since
from refinery.wiring import RunOptions, build_services, load_settings, load_settings_without_bad

__all__ = ["main", "run"]

CANCEL_BUDGET_S = 4.5
"""From the signal to the exit: the runner sends SIGKILL about 7.5 s after SIGTERM."""


def run(env: Mapping[str, str], stdout: TextIO, control: RunControl | None = None) -> int:
    """Everything the action does. Returns the process exit code."""
    control = control or RunControl()
    loaded = _read_config(env, stdout)
    if isinstance(loaded, int):
        return loaded
    settings, ctx, problem = loaded
    # Everything this run logs is redacted with the configured keys, and the runner masks them too.
    log = Log(stdout, Redactor(known_secrets=settings.secret_values()))
    for secret in settings.secret_values():
        log.mask(secret)
    services = build_services(settings, RunOptions(control=control, use_model=problem is None), event=ctx, log=log)
    if problem is not None:
        return _publish_config_error(problem, settings, services)
    planner = Planner(request_for(settings, ctx, services, log), settings, services, control, log)
    try:
        if settings.merge_from:
            planner.merge(settings.merge_from, ctx.workspace or Path.cwd())
        else:
            planner.run()
        if planner.state.fatal is not None:
            log.error(planner.state.fatal.one_line())
    except Exception as exc:  # the action must never die with a bare traceback in the user's job
        planner.state.fail(f"internal error {type(exc).__name__}: {exc}")
        log.error(f"Refinery hit an internal error ({type(exc).__name__}: {exc}); please report it.")
        if settings.debug:
            log.info(traceback.format_exc())
    planner.finish(cancel_budget_s=CANCEL_BUDGET_S)
    conclusion = planner.state.conclusion(settings.fail_on)
    log.info(f"Refinery: {one_line_summary(planner.state.report(settings.fail_on))} (conclusion: {conclusion})")
    return 1 if conclusion == "failure" else 0


def request_for(settings: Settings, ctx: EventContext, services: Services, log: Log) -> RunRequest:
    """What the action's inputs ask for: ids (picked from the files when files are given), files, or a
    LangSmith project or experiment to select failing traces from."""
    workspace = ctx.workspace or Path.cwd()
    out_dir = Path(settings.output_dir)
    ids = settings.trace_ids or [i for i in ctx.dispatch_inputs.get("trace-id", "").replace(",", " ").split() if i]
    project = settings.experiment or settings.langsmith_project
    selecting = not (ids or settings.trace_file) and project is not None
    return RunRequest(
        out_dir=out_dir if out_dir.is_absolute() else workspace / out_dir,
        files=(settings.trace_file,) if settings.trace_file else (),
        trace_ids=tuple(ids),
        project=project if selecting else None,
        experiment=bool(settings.experiment),
        since=_since(settings, ctx, services, log) if selecting else None,
        root=workspace,
        baseline=BaselineRequest(experiment=settings.baseline_experiment),
        prepare=PrepareOptions(
            redact=settings.redact, known_secrets=tuple(settings.secret_values()), eval_threshold=settings.max_score
        ),
        verify_env=eval_environment(dict(os.environ)),
        verify_refused=(
            "verification runs the pull request's code, and this workflow_run job for a fork's pull request holds "
            "the base repository's secrets"
            if ctx.event_name == "workflow_run" and ctx.fork
            else None
        ),
    )


def _since(settings: Settings, ctx: EventContext, services: Services, log: Log) -> datetime:
    """``since``, else when the triggering run started, else when this workflow run started, else a day ago."""
    if settings.since:
        return parse_since(settings.since)
    if ctx.started_at is not None:
        return ctx.started_at
    if services.started_at is not None:
        try:  # the evals ran earlier in this same workflow run
            started = services.started_at()
            if started is not None:
                return started
        except RefineryError as exc:
            log.warning(f"Could not read when this run started ({exc.one_line()}); selecting the last 24 hours.")
    return datetime.now(UTC) - timedelta(hours=24)


def _read_config(env: Mapping[str, str], stdout: TextIO) -> tuple[Settings, EventContext, ConfigError | None] | int:
    """The settings and the event, with the invalid setting that stops the run (None when all is well).

    With an invalid setting the rest are read leniently, so that the error can still be published
    where the user looks. When the event itself cannot be read, the log and the files are all there
    is: they are written here and the exit code returned."""
    try:
        return load_settings(env), load_event(env), None
    except ConfigError as exc:
        Log(stdout, Redactor()).error(exc.one_line())
        try:
            return load_settings_without_bad(env), load_event(env), exc
        except ConfigError:
            _write_error_files(env, exc)
            return 1 if env.get("INPUT_FAIL-ON", "").strip() in ("error", "finding") else 0


def _publish_config_error(exc: ConfigError, settings: Settings, services: Services) -> int:
    """An invalid setting or event: said in the job summary, the outputs and on the pull request (when
    a token and the event are at hand), with what to change. Nothing is analysed."""
    from refinery.report.publisher import RunReport

    line = f"Refinery could not start: {exc.one_line()}"
    report = RunReport(items=[], notices=[line], errors=[line], fail_on=settings.fail_on)
    for publisher in services.publishers:
        publisher.finish(report)
    return 1 if report.conclusion() == "failure" else 0


def _write_error_files(env: Mapping[str, str], exc: ConfigError) -> None:
    from refinery.github.commands import write_outputs, write_summary
    from refinery.report.sanitize import plain_line, prose

    summary = env.get("GITHUB_STEP_SUMMARY")
    write_summary(
        Path(summary) if summary else None, f"### Refinery could not start\n\n{prose(exc.one_line(), 1000)}\n"
    )
    output = env.get("GITHUB_OUTPUT")
    outputs = {"traces-analyzed": "0", "conclusion": "neutral", "summary": plain_line(f"error: {exc.one_line()}", 1000)}
    write_outputs(Path(output) if output else None, outputs)


def main() -> None:
    """Container entry point: SIGTERM and SIGINT cancel the run, as PID 1 too."""
    from refinery.interrupts import cancel_on_signals, end_process

    control = RunControl()
    with cancel_on_signals(control):
        code = run(os.environ, sys.stdout, control)
    if control.cancelled:
        end_process(code)  # a worker stuck in a request must not hold the process
    sys.exit(code)
