"""``refinery analyze``: triage always, the four model stages when a key is set."""

from __future__ import annotations

from pathlib import Path

import click

from refinery.analysis.control import Cancelled, RunControl
from refinery.batch import TraceOutcome
from refinery.changes.model import ChangeSet
from refinery.cli.baseline import Baseline, baseline_options, read_cli_changes, resolve_baselines
from refinery.cli.common import (
    PROVIDER_HELP,
    PROVIDERS,
    cli_settings,
    load_traces,
    model_options,
    pack_time,
    pick_trace_file,
)
from refinery.cli.many import report_many
from refinery.cli.output import Output, echo, handle_errors
from refinery.errors import ConfigError, RefineryError
from refinery.interrupts import cancel_on_signals
from refinery.pipeline import PrepareOptions
from refinery.settings import Settings
from refinery.trace.files import FORMATS
from refinery.trace.model import Trace
from refinery.wiring import build_analysis_provider, build_cost_guard, build_rate_gate
from refinery.words import plural


@click.command()
@click.argument("trace_file_arg", required=False, type=click.Path(), metavar="[FILE]")
@click.option(
    "--trace-file", type=click.Path(), help="A local trace file (any supported format, .gz ok); same as FILE."
)
@click.option(
    "--trace-id",
    "trace_ids",
    multiple=True,
    help="A LangSmith trace or run id (repeatable), or the traces of a multi-trace FILE to analyse.",
)
@click.option("--concurrency", type=click.IntRange(1, 32), default=None, help="Traces analysed at once (default 4).")
@click.option(
    "--max-traces", type=int, default=None, help="At most this many traces of a file, failing ones first (default 3)."
)
@click.option("--max-cost", type=click.FloatRange(min=0), help="USD the model stages may cost in all (default 1.00).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True, help="Format of FILE.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="refinery-out",
    show_default=True,
    help="Where to write.",
)
@click.option("--offline", is_flag=True, help="Triage only, even when a model key is set.")
@model_options
@baseline_options
@click.option("--provider", type=click.Choice(PROVIDERS), help=PROVIDER_HELP)
@click.option("--fallback", help="Providers to try next when a stage fails, e.g. 'anthropic,gemini'.")
@click.option(
    "--stage-provider", "stage_providers", multiple=True, metavar="STAGE=PROVIDER", help="Per-stage provider."
)
@click.option("--context-budget", type=int, help="Tokens of documents to pack inline (non-OpenAI providers).")
@click.option("--store-id", help="Reuse an existing vector store (from `refinery init`) instead of uploading.")
@click.option("--keep-store", is_flag=True, help="Do not delete the vector store afterwards.")
@click.option(
    "--background/--no-background",
    default=None,
    help="Run stages in background mode (default: on for reasoning models).",
)
@click.option(
    "--redact/--no-redact", default=True, show_default=True, help="Redact secrets before anything is written or sent."
)
@click.option("--redact-pii", is_flag=True, help="Also redact email addresses and phone numbers.")
@click.option(
    "--redact-pattern",
    "redact_patterns",
    multiple=True,
    metavar="REGEX",
    help="Also redact matches of REGEX (repeatable).",
)
@click.option(
    "--expectations",
    type=click.Path(exists=True, dir_okay=False),
    help="A file describing what the agent should have done.",
)
@click.option("--assertion", help="The failing test's assertion message.")
@click.option(
    "--max-score", type=float, default=None, help="Feedback at or below this score is an eval gap (default 0.5)."
)
@click.option(
    "--field-cap",
    type=click.IntRange(min=200),
    default=4_000,
    show_default=True,
    help="Characters kept per field in the documents.",
)
@click.option(
    "--doc-budget",
    type=click.IntRange(min=10_000),
    default=2_000_000,
    show_default=True,
    help="Characters per document.",
)
@click.option("--allow-partial", is_flag=True, help="Analyse a trace whose runs could not all be fetched.")
@click.option(
    "--stage-timeout",
    type=click.FloatRange(min=1),
    help="Seconds one model stage may run [env REFINERY_STAGE_TIMEOUT; 600].",
)
@click.option(
    "--store-timeout",
    type=click.FloatRange(min=1),
    help="Seconds the vector store may take to be ready [env REFINERY_STORE_TIMEOUT; 300].",
)
@click.pass_context
def analyze(
    ctx: click.Context,
    trace_file_arg: str | None,
    trace_file: str | None,
    trace_ids: tuple[str, ...],
    concurrency: int | None,
    max_traces: int | None,
    max_cost: float | None,
    fmt: str,
    out_dir: str,
    offline: bool,
    model: str | None,
    reasoning_effort: str | None,
    base_url: str | None,
    baseline_file: str | None,
    baseline_trace_id: str | None,
    baseline_experiment: str | None,
    diff_file: str | None,
    git_range: str | None,
    provider: str | None,
    fallback: str | None,
    stage_providers: tuple[str, ...],
    context_budget: int | None,
    store_id: str | None,
    keep_store: bool,
    background: bool | None,
    redact: bool,
    redact_pii: bool,
    redact_patterns: tuple[str, ...],
    expectations: str | None,
    assertion: str | None,
    max_score: float | None,
    field_cap: int,
    doc_budget: int,
    allow_partial: bool,
    stage_timeout: float | None,
    store_timeout: float | None,
) -> None:
    """Analyse failing traces: triage always, the four model stages when a key is set.

    Several traces (repeated --trace-id, or a file holding several) are analysed at once
    (--concurrency), each into its own folder, with a grouped report.md on top.
    """
    from refinery.documents.render import RenderOptions
    from refinery.report.offline import MODEL_HINT

    with handle_errors(ctx):
        settings = cli_settings(
            ctx,
            openai_model=model,
            reasoning_effort=reasoning_effort,
            openai_base_url=base_url,
            max_score=max_score,
            provider=provider,
            fallback=fallback,
            stage_providers=",".join(stage_providers) or None,
            context_budget=context_budget,
            concurrency=concurrency,
            max_traces=max_traces,
            max_cost=max_cost,
            stage_timeout_s=stage_timeout,
            store_timeout_s=store_timeout,
            allow_partial=allow_partial or None,
        )
        path = pick_trace_file(trace_file_arg, trace_file)
        pool: list[Trace] = []
        traces = load_traces(settings, path, trace_ids, fmt, pool)
        baselines = resolve_baselines(
            settings,
            traces,
            pool,
            baseline_file=baseline_file,
            baseline_trace_id=baseline_trace_id,
            baseline_experiment=baseline_experiment,
        )
        changes = read_cli_changes(diff_file, git_range)
        expectations_text = Path(expectations).read_text(encoding="utf-8", errors="replace") if expectations else None
        options = PrepareOptions(
            redact=redact,
            redact_pii=redact_pii,
            redact_patterns=redact_patterns,
            known_secrets=tuple(settings.secret_values()),
            eval_threshold=settings.max_score,
            render=RenderOptions(
                field_cap=field_cap,
                doc_budget=doc_budget,
                expectations=expectations_text,
                expectations_name=Path(expectations).name if expectations else None,
                assertion=assertion,
            ),
        )
        use_model = settings.has_model_key and not offline
        if store_id and len(traces) > 1:
            raise ConfigError("--store-id holds one trace's documents.", hint="Analyse that one trace (--trace-id).")
        outcomes = _run_batch(
            traces,
            settings,
            options,
            Path(out_dir),
            (use_model, keep_store, background),
            store_id,
            (baselines, changes),
        )
        if len(traces) > 1:
            report_many(traces, settings, Path(out_dir), outcomes)
            return
        [outcome] = outcomes
        result = outcome.result
        if result is None or outcome.artifacts is None:
            if outcome.exception is not None:
                raise outcome.exception
            if outcome.cancelled:
                raise Cancelled(outcome.error or "The run was cancelled before the trace was triaged.")
            raise RefineryError(outcome.error or "The trace could not be analysed.")
        prepared = result.prepared
        origin = prepared.triage.origin
        echo(f"wrote {outcome.artifacts.report} ({plural(len(prepared.triage.findings), 'finding')}, {result.status})")
        if origin:
            agent = f" by {origin.agent}" if origin.agent else ""
            echo(f"most likely origin: {origin.section} {origin.name}{agent} ({origin.reason})")
        if result.synthesis is not None:
            echo(f"hypotheses: {len(result.synthesis.hypotheses)} in {outcome.artifacts.pack}")
        for note_text in [*prepared.documents.notes, *result.warnings]:
            echo(f"note: {note_text}", err=True)
        if not use_model:
            echo(MODEL_HINT)
        if result.error is not None:
            raise result.error


def _run_batch(
    traces: list[Trace],
    settings: Settings,
    options: PrepareOptions,
    out_dir: Path,
    model: tuple[bool, bool, bool | None],
    store_id: str | None = None,
    compare: tuple[list[Baseline], ChangeSet | None] | None = None,
) -> list[TraceOutcome]:
    """Every trace through the one runner, with SIGINT and SIGTERM cancelling it instead of killing it.
    ``model`` is (use it, keep the store, background mode); ``compare`` the baselines and the PR's changes."""
    from refinery.batch import analyse_traces

    use_model, keep_store, background = model
    out = Output(err=True)
    gate = build_rate_gate(settings)
    control = RunControl()
    with cancel_on_signals(control):
        outcomes = analyse_traces(
            traces,
            options=options,
            out_dir=out_dir,
            make_provider=(
                (
                    lambda: build_analysis_provider(
                        settings, keep_store=keep_store, background=background, gate=gate, control=control
                    )
                )
                if use_model
                else None
            ),
            concurrency=settings.concurrency,
            log=out.line,
            now=pack_time(),
            control=control,
            single_dir=len(traces) == 1,
            store_id=store_id,
            cost=build_cost_guard(settings),
            baselines=compare[0] if compare else None,
            changes=compare[1] if compare else None,
        )
        if control.cancelled:
            for warning in control.clean_up(control.remaining(2.5)):
                echo(f"note: {warning}", err=True)
    return outcomes
