"""The ``refinery`` command line. With action.py, the only place that reads the environment
and builds SDK clients; everything below receives settings and clients as arguments."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from refinery import __version__
from refinery.errors import ConfigError, RefineryError
from refinery.settings import Settings, load_settings, parse_since
from refinery.trace.files import FORMATS, load_trace_file
from refinery.trace.model import Trace
from refinery.trace.source import FileTraceSource, SelectedTrace, SelectionCriteria, TraceSource
from refinery.trace.tree_view import trace_header, tree_lines

F = TypeVar("F", bound=Callable[..., Any])


# -- client construction (the one place) -------------------------------------------------


def build_langsmith_source(
    settings: Settings, *, project: str | None = None, allow_partial: bool = False
) -> TraceSource:
    """A LangSmithSource on a client whose HTTP retries honour 429 Retry-After and 5xx."""
    import langsmith
    from urllib3.util.retry import Retry

    from refinery.trace.langsmith import LangSmithSource

    key = settings.require_langsmith_key()
    retry = Retry(
        total=settings.langsmith_max_retries,
        status_forcelist=[408, 425, 429, 500, 502, 503, 504],
        allowed_methods=None,  # POST /runs/query is a read
        backoff_factor=0.5,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    client = langsmith.Client(
        api_url=settings.langsmith_endpoint,
        api_key=key.get_secret_value(),
        retry_config=retry,
        timeout_ms=int(settings.langsmith_timeout_s * 1000),
        auto_batch_tracing=False,
        workspace_id=settings.langsmith_workspace_id,
    )
    return LangSmithSource(
        client,
        endpoint=settings.langsmith_endpoint,
        project=project or settings.langsmith_project,
        allow_partial=allow_partial,
    )


# -- output --------------------------------------------------------------------------------


class Output:
    """Writes to stdout: rich styling on a TTY, plain text otherwise."""

    def __init__(self, color: bool | None = None, *, err: bool = False) -> None:
        stream = sys.stderr if err else sys.stdout
        self.rich = stream.isatty() if color is None else color
        self._err = err
        self._console: Any = None
        if self.rich:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True, stderr=err)

    def line(self, text: str, style: str | None = None) -> None:
        if self._console is not None:
            from rich.text import Text

            self._console.print(Text(text, style=style or ""))
        else:
            click.echo(text, err=self._err)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    obj: dict[str, Any] = ctx.ensure_object(dict)
    return load_settings(os.environ, {**obj.get("overrides", {}), **overrides})


@contextmanager
def _errors(ctx: click.Context) -> Iterator[None]:
    """One line and a non-zero exit for our errors; a traceback only with --debug."""
    debug = bool(ctx.ensure_object(dict).get("debug"))
    try:
        yield
    except RefineryError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc.one_line()}", err=True)
        ctx.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        ctx.exit(130)
    except Exception as exc:  # the last line of defence: still one line, never a bare traceback
        if debug:
            traceback.print_exc()
        click.echo(
            f"error: internal error {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
            "(re-run with --debug and report it)",
            err=True,
        )
        ctx.exit(70)


def _load_trace(
    ctx: click.Context, trace_file: str | None, trace_id: str | None, fmt: str, allow_partial: bool
) -> Trace:
    if trace_file:
        return load_trace_file(trace_file, fmt, trace_id)
    if not trace_id:
        raise ConfigError("Nothing to read.", hint="Give a trace FILE or --trace-id ID.")
    return build_langsmith_source(_settings(ctx), allow_partial=allow_partial).fetch_trace(trace_id)


# -- commands ------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="refinery")
@click.option("--debug", is_flag=True, envvar="REFINERY_DEBUG", help="Show tracebacks for errors.")
@click.option("--langsmith-endpoint", default=None, help="LangSmith API URL [env LANGSMITH_ENDPOINT].")
@click.pass_context
def cli(ctx: click.Context, debug: bool, langsmith_endpoint: str | None) -> None:
    """Refinery: find out why an AI agent's eval failed, from its trace."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["overrides"] = {"langsmith_endpoint": langsmith_endpoint}


@cli.command()
@click.option("--trace-id", required=True, help="Trace id, or the id of any run in the trace.")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option(
    "--raw", is_flag=True, help="Write LangSmith's own records (runs, feedback, example), not the normalized trace."
)
@click.option(
    "--allow-partial", is_flag=True, help="Keep a trace whose runs could not all be fetched; it is marked partial."
)
@click.pass_context
def fetch(ctx: click.Context, trace_id: str, out: str | None, raw: bool, allow_partial: bool) -> None:
    """Fetch a trace from LangSmith and write it as JSON."""
    with _errors(ctx):
        source = build_langsmith_source(_settings(ctx), allow_partial=allow_partial)
        data = source.fetch_raw(trace_id) if raw else source.fetch_trace(trace_id).model_dump(mode="json")
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        if out:
            Path(out).write_text(text + "\n", encoding="utf-8")
            click.echo(f"wrote {out}", err=True)
        else:
            click.echo(text)


@cli.command()
@click.option("--project", help="LangSmith project to select from [env LANGSMITH_PROJECT].")
@click.option("--experiment", help="LangSmith experiment (an eval run's project) to select from.")
@click.option("--trace-file", type=click.Path(exists=False), help="Select from the traces in a local file instead.")
@click.option("--feedback-key", help="Also select traces whose feedback KEY scored at or below --max-score.")
@click.option("--max-score", type=float, default=None, help="Threshold for --feedback-key (default 0.5).")
@click.option("--since", help="Only traces started since: ISO time or an age like 6h, 2d.")
@click.option("--max-traces", type=int, default=None, help="At most this many, newest first (default 3).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--matrix", is_flag=True, help="Print a GitHub Actions strategy.matrix ({include: [{trace-id}]}), one line."
)
@click.pass_context
def select(
    ctx: click.Context,
    project: str | None,
    experiment: str | None,
    trace_file: str | None,
    feedback_key: str | None,
    max_score: float | None,
    since: str | None,
    max_traces: int | None,
    as_json: bool,
    matrix: bool,
) -> None:
    """List failing traces: root errors, or low feedback scores."""
    with _errors(ctx):
        if project and experiment:
            raise ConfigError("Give --project or --experiment, not both.")
        settings = _settings(ctx, feedback_key=feedback_key, max_score=max_score, max_traces=max_traces)
        criteria = SelectionCriteria(
            feedback_key=settings.feedback_key,
            max_score=settings.max_score,
            since=parse_since(since) if since else None,
            limit=settings.max_traces,
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
            source = build_langsmith_source(settings, project=target)
        selected = source.select_failing(criteria)
        if matrix:
            include = [{"trace-id": s.trace_id, "name": s.name[:60]} for s in selected]
            click.echo(json.dumps({"include": include}, separators=(",", ":")))
            return
        _print_selection(selected, as_json)


def _print_selection(selected: list[SelectedTrace], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([s.model_dump(mode="json") for s in selected], indent=2))
        return
    if not selected:
        click.echo("no failing traces found")
        return
    out = Output()
    out.line(f"{'TRACE ID':<38} {'STARTED':<20} {'NAME':<24} WHY", style="bold")
    for item in selected:
        started = item.start_time.strftime("%Y-%m-%d %H:%M:%S") if item.start_time else "—"
        out.line(f"{item.trace_id:<38} {started:<20} {item.name[:24]:<24} {'; '.join(item.reasons)}")


@cli.command()
@click.argument("trace_file", required=False, type=click.Path())
@click.option("--trace-id", help="Fetch from LangSmith (or pick one trace of a multi-trace FILE).")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True, help="Input format of FILE."
)
@click.option("--max-depth", type=int, default=None, help="Hide runs deeper than this.")
@click.option("--allow-partial", is_flag=True, help="Show a trace whose runs could not all be fetched.")
@click.option("--color/--no-color", default=None, help="Force styling on or off (default: on for a TTY).")
@click.pass_context
def show(
    ctx: click.Context,
    trace_file: str | None,
    trace_id: str | None,
    fmt: str,
    max_depth: int | None,
    allow_partial: bool,
    color: bool | None,
) -> None:
    """Print a trace's run tree: type, status, duration and tokens, errors highlighted."""
    with _errors(ctx):
        trace = _load_trace(ctx, trace_file, trace_id, fmt, allow_partial)
        out = Output(color)
        for text in trace_header(trace):
            out.line(text, style="yellow" if text.startswith("warning") else "bold")
        for line in tree_lines(trace, max_depth=max_depth):
            indent = "  " * line.depth
            out.line(f"{indent}{line.text}", style="bold red" if line.run.is_error else None)
            if line.error:
                out.line(f"{indent}  ! {line.error}", style="red")


def _http_client(sdk: Any, gate: Any) -> Any:
    """The SDK's default HTTP client, routed through the run's shared rate gate (if any)."""
    return sdk.DefaultHttpxClient(event_hooks=gate.event_hooks()) if gate is not None else None


def build_openai_client(settings: Settings, gate: Any = None) -> Any:
    """The one OpenAI client: SDK retries configured here (and nowhere else)."""
    import openai

    from refinery.analysis.providers.openai_responses import RefineryOpenAI

    key = settings.require_openai_key()
    return RefineryOpenAI(
        api_key=key.get_secret_value(),
        base_url=settings.openai_base_url,
        project=settings.openai_project,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_s,
        http_client=_http_client(openai, gate),
    )


def build_openai_responses_provider(
    settings: Settings, *, keep_store: bool = False, background: bool | None = None, gate: Any = None
) -> Any:
    """The OpenAI Responses provider with its vector store manager."""
    from refinery.analysis.providers.openai_responses import OpenAIResponsesProvider
    from refinery.analysis.providers.vector_store import VectorStoreManager
    from refinery.analysis.requests import ModelOptions

    client = build_openai_client(settings, gate)
    options = ModelOptions(
        model=settings.openai_model, reasoning_effort=settings.reasoning_effort, background=background
    )
    stores = VectorStoreManager(client, timeout_s=settings.store_timeout_s)
    return OpenAIResponsesProvider(
        client, options, stores=stores, timeout_s=settings.stage_timeout_s, keep_store=keep_store
    )


def build_inline_provider(settings: Settings, name: str, gate: Any = None) -> Any:
    """An inline-context provider; each SDK's own retries are configured here."""
    key = settings.require_key(name)
    if name == "anthropic":
        from refinery.analysis.providers.anthropic import AnthropicProvider, import_anthropic

        anthropic = import_anthropic()
        client = anthropic.Anthropic(
            api_key=key.get_secret_value() if key else None,
            base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=settings.openai_max_retries,
            timeout=settings.openai_timeout_s,
            http_client=_http_client(anthropic, gate),
        )
        return AnthropicProvider(client, settings.anthropic_model, context_budget=settings.context_budget)
    if name == "gemini":
        from refinery.analysis.providers.gemini import GeminiProvider, import_genai

        genai = import_genai()
        from google.genai import types

        http = types.HttpOptions(
            base_url=os.environ.get("GEMINI_BASE_URL") or None,
            timeout=int(settings.openai_timeout_s * 1000),
            retry_options=types.HttpRetryOptions(attempts=settings.openai_max_retries + 1),
        )
        client = genai.Client(api_key=key.get_secret_value() if key else None, http_options=http)
        return GeminiProvider(client, settings.gemini_model, context_budget=settings.context_budget)
    import openai

    from refinery.analysis.providers.openai_chat import OpenAIChatProvider
    from refinery.analysis.providers.openai_responses import RefineryOpenAI

    chat_client = RefineryOpenAI(
        api_key=key.get_secret_value() if key else "not-needed",
        base_url=settings.compatible_base_url,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_s,
        http_client=_http_client(openai, gate),
    )
    return OpenAIChatProvider(
        chat_client, settings.compatible_model or settings.openai_model, context_budget=settings.context_budget
    )


def build_analysis_provider(
    settings: Settings, *, keep_store: bool = False, background: bool | None = None, gate: Any = None
) -> Any:
    """The configured provider, or a chain when stages or fallbacks name other providers.

    ``gate`` (a RateGate) is shared by every provider built for one run, so that a 429 seen
    by one trace's worker pauses the others too (Gemini's client is not routed through it).
    """
    from refinery.analysis.providers.chain import ProviderChain

    def build(name: str) -> Any:
        if name == "openai":
            return build_openai_responses_provider(settings, keep_store=keep_store, background=background, gate=gate)
        return build_inline_provider(settings, name, gate)

    names = settings.providers_in_use
    if len(names) == 1:
        return build(names[0])
    return ProviderChain(
        {name: build(name) for name in names},
        default=settings.provider,
        fallback=settings.fallback,
        stage_providers=settings.stage_providers,
    )


def _model_options(f: F) -> F:
    for option in reversed(
        [
            click.option("--model", help="Model for the stages [env REFINERY_MODEL; default gpt-5-mini]."),
            click.option(
                "--reasoning-effort",
                type=click.Choice(["none", "minimal", "low", "medium", "high", "xhigh"]),
                help="Reasoning effort for reasoning models [default medium].",
            ),
            click.option("--base-url", help="OpenAI-compatible base URL [env OPENAI_BASE_URL]."),
        ]
    ):
        f = option(f)
    return f


def _now() -> Any:
    """generated_at for the pack; SOURCE_DATE_EPOCH makes runs reproducible."""
    from datetime import UTC, datetime

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return datetime.fromtimestamp(int(epoch), UTC) if epoch and epoch.isdigit() else None


@cli.command()
@click.option("--trace-file", type=click.Path(), help="A local trace file (any supported format, .gz ok).")
@click.option(
    "--trace-id",
    "trace_ids",
    multiple=True,
    help="A LangSmith trace or run id (repeatable), or the traces of a multi-trace --trace-file to analyse.",
)
@click.option("--concurrency", type=click.IntRange(1, 32), default=None, help="Traces analysed at once (default 4).")
@click.option("--max-traces", type=int, default=None, help="At most this many traces of a file (default 3).")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True, help="Format of --trace-file."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="refinery-out",
    show_default=True,
    help="Where to write.",
)
@click.option("--offline", is_flag=True, help="Triage only, even when a model key is set.")
@_model_options
@click.option(
    "--provider",
    type=click.Choice(["openai", "anthropic", "gemini", "openai-compatible"]),
    help="Model provider [env REFINERY_PROVIDER; default openai].",
)
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
@click.pass_context
def analyze(
    ctx: click.Context,
    trace_file: str | None,
    trace_ids: tuple[str, ...],
    concurrency: int | None,
    max_traces: int | None,
    fmt: str,
    out_dir: str,
    offline: bool,
    model: str | None,
    reasoning_effort: str | None,
    base_url: str | None,
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
) -> None:
    """Analyse failing traces: triage always, the four model stages when a key is set.

    Several traces (repeated --trace-id, or a file holding several) are analysed at once
    (--concurrency), each into its own folder, with a grouped report.md on top.
    """
    from refinery.analysis.orchestrator import analyze as run_analysis
    from refinery.analysis.orchestrator import offline_result
    from refinery.documents.render import RenderOptions
    from refinery.pipeline import PrepareOptions, prepare
    from refinery.report.artifacts import write_artifacts
    from refinery.report.offline import MODEL_HINT

    with _errors(ctx):
        settings = _settings(
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
        )
        traces = _load_traces(ctx, settings, trace_file, trace_ids, fmt, allow_partial)
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
        if len(traces) > 1:
            _analyse_many(traces, settings, options, Path(out_dir), use_model, keep_store, background)
            return
        prepared = prepare(traces[0], options)
        if use_model:
            out = Output(err=True)
            backend = build_analysis_provider(settings, keep_store=keep_store, background=background)
            result = run_analysis(prepared, backend, store_id=store_id, progress=lambda stage, msg: out.line(msg))
        else:
            result = offline_result(prepared)
        artifacts = write_artifacts(result, Path(out_dir), now=_now())
        origin = prepared.triage.origin
        click.echo(f"wrote {artifacts.report} ({len(prepared.triage.findings)} findings, {result.status})")
        if origin:
            agent = f" by {origin.agent}" if origin.agent else ""
            click.echo(f"most likely origin: {origin.section} {origin.name}{agent} ({origin.reason})")
        if result.synthesis is not None:
            click.echo(f"hypotheses: {len(result.synthesis.hypotheses)} in {artifacts.pack}")
        for note_text in [*prepared.documents.notes, *result.warnings]:
            click.echo(f"note: {note_text}", err=True)
        if not use_model:
            click.echo(MODEL_HINT)
        if result.error is not None:
            raise result.error


def _load_traces(
    ctx: click.Context,
    settings: Settings,
    trace_file: str | None,
    trace_ids: tuple[str, ...],
    fmt: str,
    allow_partial: bool,
) -> list[Trace]:
    from refinery.trace.files import load_trace_files

    if trace_file:
        traces = load_trace_files(trace_file, fmt)
        if trace_ids:
            wanted = [t for t in traces if t.id in trace_ids or any(r.id in trace_ids for r in t.runs)]
            missing = [i for i in trace_ids if not any(t.id == i or any(r.id == i for r in t.runs) for t in wanted)]
            if missing:
                raise ConfigError(
                    f"{trace_file} has no trace {missing[0]}.",
                    hint=f"It holds: {', '.join(t.id for t in traces[:10])}.",
                )
            return wanted
        return traces[: settings.max_traces]
    if not trace_ids:
        raise ConfigError("Nothing to read.", hint="Give a trace FILE or --trace-id ID.")
    source = build_langsmith_source(settings, allow_partial=allow_partial)
    return [source.fetch_trace(i) for i in trace_ids]


def _analyse_many(
    traces: list[Trace],
    settings: Settings,
    options: Any,
    out_dir: Path,
    use_model: bool,
    keep_store: bool,
    background: bool | None,
) -> None:
    """Several traces at once; one failing never sinks the rest; a grouped report on top."""
    from concurrent.futures import ThreadPoolExecutor

    from refinery.analysis.orchestrator import AnalysisResult, offline_result
    from refinery.analysis.orchestrator import analyze as run_analysis
    from refinery.analysis.ratelimit import RateGate
    from refinery.pipeline import prepare
    from refinery.report.artifacts import write_artifacts
    from refinery.report.comment import build_comment, sticky_marker

    out = Output(err=True)
    gate = RateGate(settings.tokens_per_minute)

    def one(index: int, trace: Trace) -> AnalysisResult:
        tag = f"[{index}/{len(traces)} {trace.id[:12]}]"
        prepared = prepare(trace, options)
        if use_model:
            backend = build_analysis_provider(settings, keep_store=keep_store, background=background, gate=gate)
            result = run_analysis(prepared, backend, progress=lambda stage, msg: out.line(f"{tag} {msg}"))
        else:
            result = offline_result(prepared)
        artifacts = write_artifacts(result, out_dir / f"trace-{index}-{trace.id[:12]}", now=_now())
        out.line(f"{tag} {result.status}: {artifacts.report}")
        return result

    results: list[AnalysisResult] = []
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(traces))) as pool:
        futures = [pool.submit(one, i, t) for i, t in enumerate(traces, start=1)]
        for trace, future in zip(traces, futures, strict=True):
            try:
                result = future.result()
            except RefineryError as exc:
                failures.append(f"{trace.id}: {exc.one_line()}")
                continue
            results.append(result)
            if result.error is not None:
                failures.append(f"{trace.id}: {result.error.one_line()}")
    if results:
        report = out_dir / "report.md"
        report.write_text(build_comment(results, marker=sticky_marker("cli", "", "analyze")), encoding="utf-8")
        click.echo(f"wrote {report} ({len(results)} traces, {settings.concurrency} at a time)")
    for failure in failures:
        click.echo(f"note: {failure}", err=True)
    if failures:
        raise RefineryError(
            f"{len(failures)} of {len(traces)} traces could not be fully analysed (see the notes above)."
        )


@cli.command()
@click.option("--trace-file", type=click.Path(), help="A local trace file.")
@click.option("--trace-id", help="A LangSmith trace or run id.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--manifest", type=click.Path(dir_okay=False), help="Also write the store manifest (JSON) here.")
@click.option("--redact/--no-redact", default=True, show_default=True)
@click.option("--base-url", help="OpenAI-compatible base URL [env OPENAI_BASE_URL].")
@click.pass_context
def init(
    ctx: click.Context,
    trace_file: str | None,
    trace_id: str | None,
    fmt: str,
    manifest: str | None,
    redact: bool,
    base_url: str | None,
) -> None:
    """Create a vector store holding a trace's documents; print its id (for analyze --store-id)."""
    from refinery.pipeline import PrepareOptions, prepare

    with _errors(ctx):
        settings = _settings(ctx, openai_base_url=base_url)
        trace = _load_trace(ctx, trace_file, trace_id, fmt, False)
        prepared = prepare(trace, PrepareOptions(redact=redact, known_secrets=tuple(settings.secret_values())))
        from refinery.analysis.providers.vector_store import VectorStoreManager

        stores = VectorStoreManager(build_openai_client(settings), timeout_s=settings.store_timeout_s)
        handle = stores.create(prepared.trace.id, prepared.documents)
        data = {
            **handle.manifest(),
            "trace_id": prepared.trace.id,
            "documents": [d.name for d in prepared.documents.documents],
        }
        if manifest:
            Path(manifest).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        click.echo(handle.store_id)


@cli.command()
@_model_options
@click.pass_context
def canary(ctx: click.Context, model: str | None, reasoning_effort: str | None, base_url: str | None) -> None:
    """Check the key, base URL and model with one tiny structured call. Exit 0 if it works, 1 if not."""
    with _errors(ctx):
        settings = _settings(ctx, openai_model=model, reasoning_effort=reasoning_effort, openai_base_url=base_url)
        provider = build_openai_responses_provider(settings, background=False)
        reply = provider.canary()
        click.echo(f"ok: {settings.openai_model} answered {reply!r} at {settings.openai_base_url or 'api.openai.com'}")


@cli.command()
@click.argument("packs", nargs=-1, required=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write the grouped report here (else stdout).")
@click.pass_context
def merge(ctx: click.Context, packs: tuple[str, ...], out_file: str | None) -> None:
    """Merge the Hypothesis Packs of a fan-out (files, directories or globs) into one grouped report."""
    from refinery.analysis.grouping import group_failures
    from refinery.report.comment import build_comment, sticky_marker
    from refinery.report.merge import load_entries

    with _errors(ctx):
        entries = load_entries(list(packs), Path.cwd())
        body = build_comment(entries, marker=sticky_marker("merge", "", ",".join(packs)))
        groups = group_failures([e.pack for e in entries])
        if out_file:
            Path(out_file).write_text(body, encoding="utf-8")
            click.echo(f"wrote {out_file}: {len(entries)} traces in {len(groups)} groups")
        else:
            click.echo(body)


def _chat_options(f: F) -> F:
    for option in reversed(
        [
            click.option("--trace-file", type=click.Path(), help="A local trace file."),
            click.option("--trace-id", help="A LangSmith trace or run id."),
            click.option(
                "--pack",
                "pack_file",
                type=click.Path(exists=True, dir_okay=False),
                help="A Hypothesis Pack: its trace is fetched again (LangSmith) or read from --trace-file.",
            ),
            click.option("--store-id", help="OpenAI: ask over this existing vector store (from `refinery init`)."),
            click.option("--provider", type=click.Choice(["openai", "anthropic", "gemini", "openai-compatible"])),
            click.option("--model", help="Model (default as for analyze)."),
        ]
    ):
        f = option(f)
    return f


def _open_chat(
    ctx: click.Context,
    trace_file: str | None,
    trace_id: str | None,
    pack_file: str | None,
    store_id: str | None,
    provider: str | None,
    model: str | None,
) -> Any:
    from refinery.analysis.chat import ChatSession
    from refinery.documents.render import DocumentSet
    from refinery.pipeline import PrepareOptions, prepare
    from refinery.report.pack import HypothesisPack

    settings = _settings(ctx, provider=provider, openai_model=model)
    if settings.fallback or settings.stage_providers:
        raise ConfigError("Chat runs on one provider.", hint="Drop --fallback/--stage-provider (or their env vars).")
    backend = build_analysis_provider(settings, background=False)
    if pack_file and not (trace_file or trace_id):
        pack = HypothesisPack.model_validate_json(Path(pack_file).read_text(encoding="utf-8"))
        if pack.store_id and settings.provider == "openai" and backend.store_exists(pack.store_id):
            store_id = pack.store_id  # the run kept its store: ask over it
        elif pack.trace.source == "langsmith":
            trace_id = pack.trace.id  # rebuild the documents from the trace
        else:
            raise ConfigError(
                f"The pack's store is gone and its trace came from {pack.trace.source}.",
                hint="Pass the trace again with --trace-file.",
            )
    if trace_file or trace_id:
        trace = _load_trace(ctx, trace_file, trace_id, "auto", False)
        prepared = prepare(trace, PrepareOptions(known_secrets=tuple(settings.secret_values())))
        context = backend.open_context(prepared.trace, prepared.documents, triage=prepared.triage, store_id=store_id)
    elif store_id:
        from refinery.analysis.providers.base import AnalysisContext
        from refinery.trace.model import Run, Trace

        if settings.provider != "openai":
            raise ConfigError(
                "--store-id alone works with the openai provider.", hint="Give --trace-file or --trace-id."
            )
        placeholder = Trace(id=store_id, source="store", runs=[Run(id=store_id, trace_id=store_id, name="store")])
        context = AnalysisContext(
            trace=placeholder, documents=DocumentSet(documents=[]), store_id=store_id, owned=False
        )
    else:
        raise ConfigError("Nothing to ask about.", hint="Give --trace-file, --trace-id, --pack or --store-id.")
    return ChatSession(provider=backend, context=context)


def _print_answer(answer: Any, checked: bool) -> None:
    click.echo(answer.text)
    if answer.citations:
        click.echo(
            f"sources: {', '.join(answer.citations)}" + ("" if checked else " (not checked: no local documents)")
        )
    if answer.unknown_citations:
        click.echo(
            f"note: cited sections that do not exist were dropped: {', '.join(answer.unknown_citations)}", err=True
        )


@cli.command()
@click.argument("question")
@_chat_options
@click.pass_context
def ask(ctx: click.Context, /, question: str, **sources: Any) -> None:
    """Ask one question about a trace; the answer cites section ids (scriptable)."""
    with _errors(ctx):
        session = _open_chat(ctx, **sources)
        try:
            answer = session.ask(question)
            _print_answer(answer, bool(session.context.documents.documents))
        finally:
            for note in session.provider.close_context(session.context):
                click.echo(f"note: {note}", err=True)


@cli.command()
@_chat_options
@click.pass_context
def chat(ctx: click.Context, /, **sources: Any) -> None:
    """Talk about a trace: each question continues the conversation (empty line or EOF ends it)."""
    with _errors(ctx):
        session = _open_chat(ctx, **sources)
        try:
            while True:
                question = click.prompt("you", default="", show_default=False, prompt_suffix="> ").strip()
                if not question or question in ("exit", "quit"):
                    break
                _print_answer(session.ask(question), bool(session.context.documents.documents))
        except click.Abort:
            pass
        finally:
            for note in session.provider.close_context(session.context):
                click.echo(f"note: {note}", err=True)


@cli.command()
def schema() -> None:
    """Print the Hypothesis Pack's JSON Schema (published as schemas/hypothesis-pack-1.1.json)."""
    from refinery.report.pack import pack_json_schema

    click.echo(json.dumps(pack_json_schema(), indent=2, sort_keys=True))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="refinery")


if __name__ == "__main__":  # pragma: no cover
    main()
