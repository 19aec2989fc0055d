"""``refinery analyze``: the planner the action runs, on files, ids or a LangSmith project.

Every trace read is triaged (no model tokens), the failures are clustered, and the model stages
run on one representative per cluster, up to --max-traces: exactly as the action does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from refinery.analysis.control import Cancelled, RunControl
from refinery.cli.analyze_options import AnalyzeOptions, analyze_options
from refinery.cli.common import CliLog, cli_services, cli_settings
from refinery.cli.output import echo, handle_errors
from refinery.errors import ConfigError, RefineryError
from refinery.interrupts import cancel_on_signals
from refinery.planner.request import RunRequest
from refinery.planner.run import Planner
from refinery.planner.state import RunState
from refinery.triage.confidence import (
    agent_sentence,
    failure_subject,
    origin_phrase,
    precision_note,
    unnamed_reason,
)
from refinery.wiring import RunOptions, diff_reader
from refinery.words import plural


@click.command()
@analyze_options
@click.pass_context
def analyze(ctx: click.Context, /, **given: Any) -> None:
    """Triage every failing trace, cluster them, and diagnose one per cluster.

    The four model stages run when a provider key is set (--offline: triage only). Several
    files, globs and ids are read at once; a file that cannot be read is named and the rest are
    analysed. One trace's artifacts go into --out; several traces' go into trace-N-<id>/
    folders under it, with a grouped report.md on top.
    """
    with handle_errors(ctx):
        options = AnalyzeOptions.from_click(given)
        settings = cli_settings(ctx, **options.overrides())
        changes = diff_reader(options.compare.diff_file, options.compare.git_range, Path.cwd())
        control = RunControl()
        run_options = RunOptions(
            use_model=not options.model.offline,
            keep_store=options.model.keep_store,
            background=options.model.background,
            control=control,
        )
        services = cli_services(settings, run_options, changes)
        request = options.request(settings)
        if request.store_id and len(request.files) + len(request.trace_ids) > 1:
            raise ConfigError("--store-id holds one trace's documents.", hint="Analyse that one trace (--trace-id).")
        planner = Planner(request, settings, services, control, CliLog())
        with cancel_on_signals(control):
            planner.run()
            planner.finish()
        _present(planner.state, request, settings.has_model_key and not options.model.offline)
        _refuse_explicit_baseline(planner, request)


def _present(state: RunState, request: RunRequest, use_model: bool) -> None:
    """What the run did, on stdout (the report's path, the origin, the hypotheses), then the exit code."""
    from refinery.report.offline import MODEL_HINT

    if state.fatal is not None and not state.results:
        raise state.fatal
    if state.idle and not state.results:
        echo(state.idle)
        if state.errors:
            raise RefineryError(f"{plural(len(state.errors), 'input')} could not be read (see the warnings above).")
        return
    if len(state.outcomes) == 1 and request.flat and state.plan is not None and len(state.plan.triaged) == 1:
        _present_one(state)  # raises the trace's own error, with its own exit code
    else:
        _present_many(state, request)
    if not use_model:
        echo(MODEL_HINT)
    if state.cancelled:
        raise Cancelled(state.cancelled)
    if state.errors:
        raise RefineryError(
            f"{plural(len(state.errors), 'trace or file', 'traces or files')} could not be fully analysed "
            "(see the notes above)."
        )


def _present_one(state: RunState) -> None:
    [outcome] = state.outcomes
    result = outcome.result
    if result is None or outcome.artifacts is None:
        if outcome.exception is not None:
            raise outcome.exception
        raise RefineryError(outcome.error or "The trace could not be analysed.")
    prepared = result.prepared
    origin = prepared.triage.stated_origin
    echo(f"wrote {outcome.artifacts.report} ({plural(len(prepared.triage.findings), 'finding')}, {result.status})")
    if origin:
        agent = f" by {origin.agent}" if origin.agent else ""
        subject = failure_subject(result.selection.verdict if result.selection else None)
        echo(
            f"{subject[0].lower()}{subject[1:]} {origin_phrase(origin)} {origin.section} {origin.name}{agent} ({origin.reason})"
        )
        finding = next((f for f in prepared.triage.findings if f.id == origin.finding_id), None)
        if finding is not None:  # what the step did, in the rule's words: the terminal's one look at it
            evidence = " ".join(finding.evidence.split())
            echo(f"  {finding.category.lower()}: {evidence if len(evidence) <= 300 else evidence[:299] + '…'}")
        echo(f"  {precision_note(origin)}")
    else:
        echo(unnamed_reason(prepared.triage.checked, prepared.triage.origin))
    if prepared.triage.stated_agent is not None:
        echo(agent_sentence(prepared.triage.stated_agent, str, result.selection.verdict if result.selection else None))
    if result.synthesis is not None:
        echo(f"hypotheses: {len(result.synthesis.hypotheses)} in {outcome.artifacts.pack}")
    for note_text in [*prepared.documents.notes, *result.warnings, *state.warnings]:
        echo(f"note: {note_text}", err=True)
    if result.error is not None:
        raise result.error


def _present_many(state: RunState, request: RunRequest) -> None:
    triaged = len(state.plan.triaged) if state.plan is not None else 0
    clusters = len(state.plan.groups) if state.plan is not None else 0
    report = request.out_dir / "report.md"
    failing = f"{state.failing} failing of {state.read} read" if state.read else "none read"
    echo(
        f"wrote {report} ({plural(triaged, 'trace')} triaged, {failing}; "
        f"{plural(clusters, 'cluster')}; {len(state.results)} analysed)"
    )
    for line in state.notices:
        echo(f"note: {line}", err=True)


def _refuse_explicit_baseline(planner: Planner, request: RunRequest) -> None:
    """A baseline named on the command line that could not be used: the run went on without it, and
    the exit code says so (the action, where it comes from a setting, only warns)."""
    if not (request.baseline.file or request.baseline.trace_id):
        return
    if planner.steps.baseline_refusals:
        raise planner.steps.baseline_refusals[0]
