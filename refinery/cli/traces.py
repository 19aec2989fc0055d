"""Reading traces: ``fetch`` from LangSmith, ``select`` the failing ones, ``show`` a run tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from refinery.cli.common import cli_services, cli_settings, load_one_trace, pick_trace_file
from refinery.cli.output import Output, clean_data, echo, handle_errors
from refinery.errors import ConfigError
from refinery.planner.analyse import path_slug
from refinery.settings import check_trace_ids, parse_since
from refinery.trace.files import FORMATS, load_trace_files
from refinery.trace.model import Trace
from refinery.trace.source import FileTraceSource, SelectedTrace, SelectionCriteria, TraceSource, verdict_of
from refinery.trace.tree_view import trace_header, tree_lines
from refinery.wiring import RunOptions


@click.command()
@click.option("--trace-id", required=True, help="Trace id, or the id of any run in the trace.")
@click.option(
    "--out", "out", type=click.Path(file_okay=False), help="Write DIR/<trace id>.json instead of printing it."
)
@click.option(
    "--raw", is_flag=True, help="Write LangSmith's own records (runs, feedback, example), not the normalized trace."
)
@click.option(
    "--allow-partial", is_flag=True, help="Keep a trace whose runs could not all be fetched; it is marked partial."
)
@click.option(
    "--redact/--no-redact", default=True, help="Redact secrets before the trace is written [default: redact]."
)
@click.pass_context
def fetch(ctx: click.Context, trace_id: str, out: str | None, raw: bool, allow_partial: bool, redact: bool) -> None:
    """Fetch a trace from LangSmith and write it as JSON."""
    from refinery.documents.redact import Redactor

    with handle_errors(ctx):
        check_trace_ids([trace_id])
        settings = cli_settings(ctx, allow_partial=allow_partial or None)
        source = cli_services(settings, RunOptions(use_model=False)).sources()
        redactor = Redactor(known_secrets=settings.secret_values()) if redact else None
        if raw:
            records = source.fetch_raw(trace_id)
            data = redactor.value(records) if redactor else records
        else:
            trace = source.fetch_trace(trace_id)
            data = (redactor.trace(trace) if redactor else trace).model_dump(mode="json")
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        if out:
            target = Path(out) / f"{path_slug(trace_id, whole=64)}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text + "\n", encoding="utf-8")
            echo(f"wrote {target}", err=True)
        else:
            click.echo(text)


@click.command()
@click.argument("file", required=False, type=click.Path(), metavar="[FILE]")
@click.option("--project", help="LangSmith project to select from [env LANGSMITH_PROJECT].")
@click.option("--experiment", help="LangSmith experiment (an eval run's project) to select from.")
@click.option("--trace-file", type=click.Path(exists=False), help="Select from the traces in a local file instead.")
@click.option(
    "--feedback-key",
    "feedback_keys",
    multiple=True,
    help="Only feedback with this KEY counts (repeat for several) [default: every key].",
)
@click.option("--max-score", type=float, default=None, help="Feedback at or below this marks a failure [default: 0.5].")
@click.option("--since", help="Only traces started since: ISO time or an age like 6h, 2d.")
@click.option(
    "--max-select",
    type=int,
    default=None,
    help="At most this many failing traces (examples), newest first [default: 50].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--matrix", is_flag=True, help="Print a GitHub Actions strategy.matrix ({include: [{trace-id}]}), one line."
)
@click.pass_context
def select(  # noqa: PLR0913 (one parameter per option, as click passes them)
    ctx: click.Context,
    file: str | None,
    project: str | None,
    experiment: str | None,
    trace_file: str | None,
    feedback_keys: tuple[str, ...],
    max_score: float | None,
    since: str | None,
    max_select: int | None,
    as_json: bool,
    matrix: bool,
) -> None:
    """List failing traces: root errors, or low feedback scores (from FILE, or a LangSmith project)."""
    with handle_errors(ctx):
        trace_file = pick_trace_file(file, trace_file)
        if project and experiment:
            raise ConfigError("Give --project or --experiment, not both.")
        settings = cli_settings(
            ctx, feedback_keys=list(feedback_keys) or None, max_score=max_score, max_select=max_select
        )
        criteria = SelectionCriteria(
            feedback_keys=settings.feedback_keys,
            max_score=settings.max_score,
            since=parse_since(since) if since else None,
            limit=settings.max_select,
        )
        source: TraceSource
        if trace_file:
            source = FileTraceSource(trace_file)
        else:
            target = experiment or project or settings.langsmith_project
            if not target:
                raise ConfigError(
                    "No project to select from.", hint="Pass --project, --experiment or set LANGSMITH_PROJECT."
                )
            source = cli_services(settings, RunOptions(use_model=False)).sources(target, experiment=bool(experiment))
        selected = source.select_failing(criteria)
        for note in source.notes:
            echo(f"warning: {note}", err=True)
        if matrix:
            include = [{"trace-id": s.trace_id, "name": s.name[:60]} for s in selected]
            click.echo(json.dumps(clean_data({"include": include}), separators=(",", ":")))
            return
        _print_selection(selected, as_json)


def _list_traces(traces: list[Trace], as_json: bool, color: bool | None) -> None:
    """One line per trace of a file: id, task or example, verdict and why, runs, errors, score."""
    criteria = SelectionCriteria()
    rows: list[dict[str, Any]] = []
    for trace in traces:
        verdict = verdict_of(trace, criteria)
        scores = [f.score for f in trace.feedback if f.score is not None and not f.informational]
        rows.append(
            {
                "trace_id": trace.id,
                "task": verdict.example_id or trace.root.name,
                "verdict": verdict.verdict,
                "why": "; ".join(verdict.reasons),
                "runs": len(trace.runs),
                "errors": len(trace.errored_runs),
                "score": min(scores) if scores else None,
            }
        )
    if as_json:
        click.echo(json.dumps(clean_data(rows), indent=2))
        return
    out = Output(color)
    out.line(f"{len(rows)} traces; pick one with --trace-id ID", style="bold")
    out.line(f"{'TRACE ID':<36} {'TASK':<16} {'VERDICT':<8} {'RUNS':>5} {'ERRORS':>6} {'SCORE':>6}  WHY", style="bold")
    for row in rows:
        score = "—" if row["score"] is None else f"{row['score']:g}"
        out.line(
            f"{row['trace_id'][:36]:<36} {str(row['task'])[:16]:<16} {row['verdict']:<8} {row['runs']:>5} "
            f"{row['errors']:>6} {score:>6}  {row['why'][:100]}",
            style="red" if row["verdict"] == "failed" else None,
        )


def _print_selection(selected: list[SelectedTrace], as_json: bool) -> None:
    if as_json:
        rows = [{**s.model_dump(mode="json"), "flaky": s.flaky_note} for s in selected]
        click.echo(json.dumps(clean_data(rows), indent=2))
        return
    if not selected:
        echo("no failing traces found")
        return
    out = Output()
    out.line(f"{'TRACE ID':<38} {'STARTED':<20} {'NAME':<24} WHY", style="bold")
    for item in selected:
        started = item.start_time.strftime("%Y-%m-%d %H:%M:%S") if item.start_time else "—"
        why = "; ".join([*item.reasons, *([item.flaky_note] if item.flaky_note else [])])
        out.line(f"{item.trace_id:<38} {started:<20} {item.name[:24]:<24} {why}")


@click.command()
@click.argument("trace_file", required=False, type=click.Path(), metavar="[FILE]")
@click.option("--trace-file", "trace_file_option", type=click.Path(), help="A local trace file (same as FILE).")
@click.option("--trace-id", help="Fetch from LangSmith (or pick one trace of a multi-trace FILE).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", help="Format of FILE [default: auto].")
@click.option("--max-depth", type=int, default=None, help="Hide runs deeper than this.")
@click.option("--allow-partial", is_flag=True, help="Show a trace whose runs could not all be fetched.")
@click.option("--color/--no-color", default=None, help="Force styling on or off [default: on for a TTY].")
@click.option("--json", "as_json", is_flag=True, help="A multi-trace FILE's list as JSON.")
@click.pass_context
def show(
    ctx: click.Context,
    trace_file: str | None,
    trace_file_option: str | None,
    trace_id: str | None,
    fmt: str,
    max_depth: int | None,
    allow_partial: bool,
    color: bool | None,
    as_json: bool,
) -> None:
    """Print a trace's run tree (type, status, duration, tokens, errors); a file of several traces lists them.

    \b
    Examples:
      refinery show trace.json
      refinery show results.json                  # every trace: task, verdict, runs, errors, score
      refinery show results.json --trace-id tau-bench-task8-trial0
    """
    with handle_errors(ctx):
        path = pick_trace_file(trace_file, trace_file_option)
        if path and not trace_id:
            traces = load_trace_files(path, fmt)
            if len(traces) > 1:
                _list_traces(traces, as_json, color)
                return
        trace = load_one_trace(ctx, path, trace_id, fmt, allow_partial)
        out = Output(color)
        for text in trace_header(trace):
            out.line(text, style="yellow" if text.startswith("warning") else "bold")
        for line in tree_lines(trace, max_depth=max_depth):
            indent = "  " * line.depth
            out.line(f"{indent}{line.text}", style="bold red" if line.run.is_error else None)
            if line.error:
                out.line(f"{indent}  ! {line.error}", style="red")
