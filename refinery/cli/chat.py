"""Questions about a trace: ``ask`` one, or ``chat`` in a conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from refinery.analysis.providers.inline import InlineProvider
from refinery.analysis.providers.openai_responses import OpenAIResponsesProvider
from refinery.cli.common import PROVIDERS, F, cli_services, cli_settings, load_one_trace, pick_trace_file
from refinery.cli.output import echo, handle_errors
from refinery.errors import ConfigError
from refinery.wiring import RunOptions


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
            click.option(
                "--provider",
                type=click.Choice(PROVIDERS),
                help="Provider that answers [env REFINERY_PROVIDER; default: openai]: file_search on openai, "
                "the packed documents elsewhere.",
            ),
            click.option("--model", help="Model [default: as for analyze]."),
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
    from refinery.analysis.pack import HypothesisPack
    from refinery.documents.render import DocumentSet
    from refinery.pipeline import PrepareOptions, prepare

    settings = cli_settings(ctx, provider=provider, openai_model=model)
    if settings.fallback or settings.stage_providers:
        raise ConfigError("Chat runs on one provider.", hint="Drop --fallback/--stage-provider (or their env vars).")
    services = cli_services(settings, RunOptions(background=False, require_model=True))
    assert services.make_provider is not None  # required: building it names a missing key
    backend = services.make_provider()
    if not isinstance(backend, OpenAIResponsesProvider | InlineProvider):
        raise ConfigError("Chat runs on one provider.", hint="Drop --fallback/--stage-provider (or their env vars).")
    if pack_file and not (trace_file or trace_id):
        pack = HypothesisPack.model_validate_json(Path(pack_file).read_text(encoding="utf-8"))
        if pack.store_id and isinstance(backend, OpenAIResponsesProvider) and backend.store_exists(pack.store_id):
            store_id = pack.store_id  # the run kept its store: ask over it
        elif pack.trace.source == "langsmith":
            trace_id = pack.trace.id  # rebuild the documents from the trace
        else:
            raise ConfigError(
                f"The pack's store is gone and its trace came from {pack.trace.source}.",
                hint="Pass the trace again with --trace-file.",
            )
    if trace_file or trace_id:
        trace = load_one_trace(ctx, trace_file, trace_id, "auto", False, services)
        prepared = prepare(trace, PrepareOptions(known_secrets=tuple(settings.secret_values())))
        context = backend.open_context(prepared.trace, prepared.documents, triage=prepared.triage, store_id=store_id)
    elif store_id:
        from refinery.analysis.providers.base import StoreContext
        from refinery.trace.model import Run, Trace

        if settings.provider != "openai":
            raise ConfigError(
                "--store-id alone works with the openai provider.", hint="Give --trace-file or --trace-id."
            )
        placeholder = Trace(id=store_id, source="store", runs=[Run(id=store_id, trace_id=store_id, name="store")])
        context = StoreContext(trace=placeholder, documents=DocumentSet(documents=[]), store_id=store_id, owned=False)
    else:
        raise ConfigError("Nothing to ask about.", hint="Give --trace-file, --trace-id, --pack or --store-id.")
    return ChatSession(provider=backend, context=context)


def _print_answer(answer: Any, checked: bool) -> None:
    for line in answer.text.splitlines() or [""]:
        echo(line)
    if answer.citations:
        echo(f"sources: {', '.join(answer.citations)}" + ("" if checked else " (not checked: no local documents)"))
    if answer.unknown_citations:
        echo(f"note: cited sections that do not exist were dropped: {', '.join(answer.unknown_citations)}", err=True)


@click.command()
@click.argument("words", nargs=-1, required=True, metavar="[FILE] QUESTION")
@_chat_options
@click.pass_context
def ask(ctx: click.Context, /, words: tuple[str, ...], **sources: Any) -> None:
    """Ask one question about a trace; the answer cites section ids (scriptable)."""
    with handle_errors(ctx):
        if len(words) > 2:
            raise ConfigError("Give the question as one argument (quote it).", hint='refinery ask FILE "question"')
        *given, question = words
        sources["trace_file"] = pick_trace_file(given[0] if given else None, sources["trace_file"])
        session = _open_chat(ctx, **sources)
        try:
            answer = session.ask(question)
            _print_answer(answer, bool(session.context.documents.documents))
        finally:
            for note in session.provider.close_context(session.context).warnings:
                echo(f"note: {note}", err=True)


@click.command()
@click.argument("file", required=False, type=click.Path(), metavar="[FILE]")
@_chat_options
@click.pass_context
def chat(ctx: click.Context, /, file: str | None, **sources: Any) -> None:
    """Talk about a trace: each question continues the conversation (empty line or EOF ends it)."""
    with handle_errors(ctx):
        sources["trace_file"] = pick_trace_file(file, sources["trace_file"])
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
            for note in session.provider.close_context(session.context).warnings:
                echo(f"note: {note}", err=True)
