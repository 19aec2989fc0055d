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
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from refinery.action.baselines import prepare_representatives
from refinery.action.changes import read_pr_changes
from refinery.action.collect import collect_traces
from refinery.action.publishing import _langsmith_host, _marker, _publish, _publish_early
from refinery.action.state import _conclusion, _one_line_summary, _out_dir, _packs, _State
from refinery.analysis.control import Cancelled, RunControl
from refinery.documents.redact import Redactor
from refinery.errors import ConfigError, RefineryError
from refinery.github.commands import Log, write_outputs, write_summary
from refinery.github.event import EventContext, load_event
from refinery.report.sanitize import prose
from refinery.settings import Settings, load_settings
from refinery.wiring import build_analysis_provider, build_cost_guard, build_rate_gate
from refinery.words import plural

__all__ = ["collect_traces", "main", "run"]

CANCEL_BUDGET_S = 4.5
"""From the signal to the exit: the runner sends SIGKILL about 7.5 s after SIGTERM."""
CLEANUP_SHARE_S = 2.5
"""By this long after the signal, the deletion of what the run created has given up."""
PUBLISH_MIN_S = 1.0
"""A cancelled run still posts its comment when at least this much of its budget is left."""


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
    from refinery.batch import analyse_traces, trace_dir_name
    from refinery.documents.render import RenderOptions
    from refinery.pipeline import PrepareOptions
    from refinery.plan import plan_analysis
    from refinery.report.artifacts import write_artifacts
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
    options = PrepareOptions(
        redact=settings.redact,
        known_secrets=tuple(settings.secret_values()),
        eval_threshold=settings.max_score,
        render=RenderOptions(),
    )
    out_dir = _out_dir(settings, workspace)
    with log.group(f"Refinery: triaging {plural(len(collected.traces), 'trace')}"):
        plan = plan_analysis(
            collected.traces,
            options=options,
            selections=collected.selections,
            max_traces=settings.max_traces,
            log=log.info,
        )
        for failure in plan.failures:
            state.fail(failure, unanalysed=True)
            log.warning(f"Not analysed: {failure}")
        for triaged in plan.others:  # triage only: their artifacts, listed under their cluster
            write_artifacts(triaged.offline(), out_dir / trace_dir_name(triaged.number, triaged.trace))
        log.info(
            f"{plural(len(plan.groups), 'failure cluster')}; the model stages run on "
            f"{plural(len(plan.representatives), 'representative')}"
        )
    state.groups = plan.groups
    reps = plan.representatives
    changes = read_pr_changes(settings, ctx, log) if reps else None
    prepare_representatives(settings, reps, collected, options, changes, log)
    model = settings.has_model_key and bool(reps)
    if model:  # posted beside the stages: its writes are paced a second apart, the stages need not wait
        state.early_thread = threading.Thread(
            target=_publish_early,
            args=(settings, ctx, control, state, [t.offline() for t in reps], log),
            name="refinery-early-publish",
            daemon=True,
        )
        state.early_thread.start()
    gate = build_rate_gate(settings)  # one per run: shared by every trace's worker
    workers = max(1, min(settings.concurrency, len(reps)))
    with log.group(f"Refinery: analysing {plural(len(reps), 'trace')}, {workers} at a time"):
        outcomes = analyse_traces(
            [t.trace for t in reps],
            options=options,
            out_dir=out_dir,
            make_provider=(lambda: build_analysis_provider(settings, gate=gate, control=control)) if model else None,
            concurrency=settings.concurrency,
            log=log.info,
            control=control,
            prepared=[t.prepared for t in reps],
            selections=[t.selection for t in reps],
            numbers=[t.number for t in reps],
            cost=build_cost_guard(settings),
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


def _report(
    settings: Settings, env: Mapping[str, str], ctx: EventContext | None, control: RunControl, state: _State, log: Log
) -> int:
    """The comment body, the publishing, the job summary and the outputs, from whatever the run got to."""
    from refinery.report.comment import CommentLinks, build_comment

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
        marker = _marker(settings, ctx)
        body = build_comment(
            state.items,
            marker=marker,
            links=links,
            langsmith_host=_langsmith_host(settings),
            notices=state.notices,
            clusters=state.groups,
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


def main() -> None:
    """Container entry point: SIGTERM and SIGINT cancel the run, as PID 1 too."""
    from refinery.interrupts import cancel_on_signals, end_process

    control = RunControl()
    with cancel_on_signals(control):
        code = run(os.environ, sys.stdout, control)
    if control.cancelled:
        end_process(code)  # a worker stuck in a request must not hold the process
    sys.exit(code)
