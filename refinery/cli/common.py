"""What several commands share: settings from the environment, the run's services, reading one trace,
and the option groups every command takes the same way."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from refinery.cli.output import Output, use_secrets
from refinery.errors import ConfigError
from refinery.planner.services import ChangeReader, Services
from refinery.settings import Settings, check_trace_ids
from refinery.trace.files import load_trace_file
from refinery.trace.model import Trace
from refinery.wiring import RunOptions, build_services, load_settings, provider_names

F = TypeVar("F", bound=Callable[..., Any])
PROVIDERS = tuple(provider_names())
PROVIDER_HELP = "Model provider [env REFINERY_PROVIDER; default: openai]."


def cli_settings(ctx: click.Context, **overrides: Any) -> Settings:
    """Settings from the environment, then the group's and the command's options."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    settings = load_settings(os.environ, {**obj.get("overrides", {}), **overrides})
    use_secrets(settings.secret_values())
    return settings


def cli_services(settings: Settings, options: RunOptions, read_changes: ChangeReader | None = None) -> Services:
    """The command's services, built once, here, for every command."""
    return build_services(settings, options, read_changes=read_changes)


def load_one_trace(
    ctx: click.Context,
    trace_file: str | None,
    trace_id: str | None,
    fmt: str,
    allow_partial: bool,
    services: Services | None = None,
) -> Trace:
    """The trace a command is about: from FILE (one of its traces with --trace-id), else from LangSmith."""
    if trace_id:
        check_trace_ids([trace_id])
    if trace_file:
        return load_trace_file(trace_file, fmt, trace_id)
    if not trace_id:
        raise ConfigError("Nothing to read.", hint="Give a trace file (FILE or --trace-file FILE) or --trace-id ID.")
    if services is None:
        settings = cli_settings(ctx, allow_partial=allow_partial or None)
        services = cli_services(settings, RunOptions(use_model=False))
    return services.sources().fetch_trace(trace_id)  # its client is built here: a missing key is named now


def pick_trace_file(positional: str | None, option: str | None) -> str | None:
    """FILE given either way; both at once must agree."""
    if positional and option and positional != option:
        raise ConfigError(f"Two trace files given: {positional} and --trace-file {option}.", hint="Give one.")
    return positional or option


def model_options(f: F) -> F:
    """--model, --reasoning-effort and --base-url, as analyze and canary take them."""
    for option in reversed(
        [
            click.option("--model", help="Model for the stages [env REFINERY_MODEL; default: gpt-5-mini]."),
            click.option(
                "--reasoning-effort",
                type=click.Choice(["none", "minimal", "low", "medium", "high", "xhigh"]),
                help="Reasoning effort for reasoning models [default: medium].",
            ),
            click.option("--base-url", help="OpenAI-compatible base URL [env OPENAI_BASE_URL]."),
        ]
    ):
        f = option(f)
    return f


def pack_time() -> datetime | None:
    """generated_at for the pack; SOURCE_DATE_EPOCH makes runs reproducible."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return datetime.fromtimestamp(int(epoch), UTC) if epoch and epoch.isdigit() else None


class CliLog:
    """The planner's log on the CLI: progress on stderr, warnings marked, no groups."""

    def __init__(self) -> None:
        self._out = Output(err=True)

    def info(self, message: str) -> None:
        self._out.line(message)

    def warning(self, message: str) -> None:
        self._out.line(f"warning: {message}", style="yellow")

    def error(self, message: str) -> None:
        self._out.line(f"error: {message}", style="red")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        yield
