"""What several commands share: settings from the environment, reading one trace, option groups."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from refinery.cli.output import use_secrets
from refinery.errors import ConfigError
from refinery.settings import Settings, check_trace_ids, load_settings
from refinery.trace.bounds import InputLimits
from refinery.trace.files import load_trace_file, load_trace_files
from refinery.trace.model import Trace
from refinery.trace.source import SelectionCriteria, select_from_traces
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
    if trace_id:
        check_trace_ids([trace_id])
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


def load_traces(
    settings: Settings, trace_file: str | None, trace_ids: tuple[str, ...], fmt: str, pool: list[Trace] | None = None
) -> list[Trace]:
    """The traces analyze works on: a file's (those named, or the failing ones first), else each id from
    LangSmith. ``pool`` receives every trace of the file (where passing twins are found)."""
    check_trace_ids(trace_ids)
    if trace_file:
        traces = load_trace_files(trace_file, fmt, InputLimits(max_bytes=settings.max_input_mb * 1024 * 1024))
        if pool is not None:
            pool.extend(traces)
        if trace_ids:
            wanted = [t for t in traces if t.id in trace_ids or any(r.id in trace_ids for r in t.runs)]
            missing = [i for i in trace_ids if not any(t.id == i or any(r.id == i for r in t.runs) for t in wanted)]
            if missing:
                raise ConfigError(
                    f"{trace_file} has no trace {missing[0]}.",
                    hint=f"It holds: {', '.join(t.id for t in traces[:10])}.",
                )
            return wanted
        selected = select_from_traces(traces, SelectionCriteria(max_score=settings.max_score))
        failing = {s.trace_id for s in selected}
        # A passing repetition of a failing example is that failure's baseline, not a case of its own.
        twins = {t for s in selected for t in s.passed_trace_ids}
        ordered = [t for t in traces if t.id in failing] + [t for t in traces if t.id not in failing | twins]
        return ordered[: settings.max_traces]
    if not trace_ids:
        raise ConfigError("Nothing to read.", hint="Give a trace file (FILE or --trace-file FILE) or --trace-id ID.")
    source = build_langsmith_source(settings, allow_partial=settings.allow_partial)
    return [source.fetch_trace(i) for i in trace_ids]
