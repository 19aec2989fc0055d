"""The model side, set up by hand: ``init`` a vector store, ``canary`` a provider."""

from __future__ import annotations

import json
from pathlib import Path

import click

from refinery.analysis.providers.base import StoreContext
from refinery.analysis.providers.openai_responses import OpenAISettings
from refinery.analysis.providers.vector_store import StoreHandle
from refinery.cli.common import (
    PROVIDERS,
    cli_services,
    cli_settings,
    load_one_trace,
    model_options,
    pick_trace_file,
)
from refinery.cli.output import echo, handle_errors
from refinery.errors import ConfigError
from refinery.trace.files import FORMATS
from refinery.wiring import RunOptions


@click.command()
@click.argument("trace_file_arg", required=False, type=click.Path(), metavar="[FILE]")
@click.option("--trace-file", type=click.Path(), help="A local trace file (same as FILE).")
@click.option("--trace-id", help="A LangSmith trace or run id.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", help="Format of FILE [default: auto].")
@click.option("--manifest", type=click.Path(dir_okay=False), help="Also write the store manifest (JSON) here.")
@click.option(
    "--redact/--no-redact", default=True, help="Redact secrets before the documents are uploaded [default: redact]."
)
@click.option("--base-url", help="OpenAI-compatible base URL [env OPENAI_BASE_URL].")
@click.pass_context
def init(
    ctx: click.Context,
    trace_file_arg: str | None,
    trace_file: str | None,
    trace_id: str | None,
    fmt: str,
    manifest: str | None,
    redact: bool,
    base_url: str | None,
) -> None:
    """Create a vector store holding a trace's documents; print its id (for analyze --store-id)."""
    from refinery.pipeline import PrepareOptions, prepare

    with handle_errors(ctx):
        settings = cli_settings(ctx, openai_base_url=base_url, provider="openai")
        services = cli_services(settings, RunOptions(keep_store=True, require_model=True))
        trace = load_one_trace(ctx, pick_trace_file(trace_file_arg, trace_file), trace_id, fmt, False, services)
        prepared = prepare(trace, PrepareOptions(redact=redact, known_secrets=tuple(settings.secret_values())))
        assert services.make_provider is not None  # required: building it names a missing key
        context = services.make_provider().open_context(prepared.trace, prepared.documents, triage=prepared.triage)
        handle = context.handle if isinstance(context, StoreContext) else None
        if not isinstance(handle, StoreHandle):
            raise ConfigError("The provider made no vector store.", hint="Use the openai provider for `init`.")
        data = {
            **handle.manifest(),
            "trace_id": prepared.trace.id,
            "documents": [d.name for d in prepared.documents.documents],
        }
        if manifest:
            Path(manifest).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        echo(handle.store_id)


@click.command()
@model_options
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    help="Provider to check [env REFINERY_PROVIDER; default: openai]; its own key and model settings apply.",
)
@click.pass_context
def canary(
    ctx: click.Context, model: str | None, reasoning_effort: str | None, base_url: str | None, provider: str | None
) -> None:
    """Check the key, base URL and model with one tiny structured call. Exit 0 if it works, 1 if not."""
    with handle_errors(ctx):
        settings = cli_settings(
            ctx, openai_model=model, reasoning_effort=reasoning_effort, openai_base_url=base_url, provider=provider
        )
        one = settings.model_copy(update={"fallback": [], "stage_providers": {}})
        services = cli_services(one, RunOptions(background=False, require_model=True))
        assert services.make_provider is not None  # required: building it names a missing key
        backend = services.make_provider()
        reply = backend.canary()
        if settings.provider == "openai":
            section = settings.section(OpenAISettings)
            where = section.openai_base_url or "api.openai.com"
            echo(f"ok: {section.openai_model} answered {reply!r} at {where}")
        else:
            echo(f"ok: {settings.provider} {backend.model} answered {reply!r}")
