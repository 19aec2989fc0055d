"""What several commands share: settings from the environment, reading one trace, option groups."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from refinery.cli.output import use_secrets
from refinery.errors import ConfigError
from refinery.settings import Settings, load_settings
from refinery.trace.files import load_trace_file
from refinery.trace.model import Trace
from refinery.wiring import build_langsmith_source

F = TypeVar("F", bound=Callable[..., Any])
PROVIDERS = ("openai", "anthropic", "gemini", "openai-compatible")
PROVIDER_HELP = "Model provider [env REFINERY_PROVIDER; default openai]."


def cli_settings(ctx: click.Context, **overrides: Any) -> Settings:
    """Settings from the environment, then the group's and the command's options."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    settings = load_settings(os.environ, {**obj.get("overrides", {}), **overrides})
    use_secrets(settings.secret_values())
    return settings


def load_one_trace(
    ctx: click.Context, trace_file: str | None, trace_id: str | None, fmt: str, allow_partial: bool
) -> Trace:
    """The trace a command is about: from FILE (one of its traces with --trace-id), else from LangSmith."""
    if trace_file:
        return load_trace_file(trace_file, fmt, trace_id)
    if not trace_id:
        raise ConfigError("Nothing to read.", hint="Give a trace file (FILE or --trace-file FILE) or --trace-id ID.")
    return build_langsmith_source(cli_settings(ctx), allow_partial=allow_partial).fetch_trace(trace_id)


def pick_trace_file(positional: str | None, option: str | None) -> str | None:
    """FILE given either way; both at once must agree."""
    if positional and option and positional != option:
        raise ConfigError(f"Two trace files given: {positional} and --trace-file {option}.", hint="Give one.")
    return positional or option


def model_options(f: F) -> F:
    """--model, --reasoning-effort and --base-url, as analyze and canary take them."""
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


def pack_time() -> datetime | None:
    """generated_at for the pack; SOURCE_DATE_EPOCH makes runs reproducible."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return datetime.fromtimestamp(int(epoch), UTC) if epoch and epoch.isdigit() else None
