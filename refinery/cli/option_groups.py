"""The option groups of ``analyze``: what to read, how to select, the model, comparisons, and
redaction and rendering. Click's decorators declare each group; its dataclass reads it back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click

from refinery.cli.common import PROVIDER_HELP, PROVIDERS, model_options
from refinery.trace.files import FORMATS

F = TypeVar("F", bound=Callable[..., Any])
G = TypeVar("G")


def group_of(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def take(kind: type[G], given: dict[str, Any]) -> G:
    """The group's fields out of click's keyword arguments."""
    return kind(**{f.name: given.pop(f.name) for f in fields(kind)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class SourceGroup:
    """What to read."""

    files: tuple[str, ...]
    trace_file: str | None
    trace_ids: tuple[str, ...]
    fmt: str
    project: str | None
    experiment: str | None
    since: str | None
    all_traces: bool


source_options = group_of(
    [
        click.argument("files", nargs=-1, type=click.Path(), metavar="[FILE]..."),
        click.option("--trace-file", type=click.Path(), help="A trace file or glob; same as FILE."),
        click.option(
            "--trace-id",
            "trace_ids",
            multiple=True,
            help="A trace (or run) id, repeatable: picked from FILE when files are given, else fetched from LangSmith.",
        ),
        click.option(
            "--format", "fmt", type=click.Choice(FORMATS), default="auto", help="Format of FILE [default: auto]."
        ),
        click.option("--project", help="Select the failing traces of this LangSmith project (no FILE)."),
        click.option("--experiment", help="Select the failing examples of this LangSmith experiment (no FILE)."),
        click.option("--since", help="With --project/--experiment: only traces started since (ISO time, or 6h, 2d)."),
        click.option("--all", "all_traces", is_flag=True, help="Analyze every trace read, passing ones too."),
    ]
)


@dataclass(frozen=True)
class LimitGroup:
    """How many, and what counts as failing."""

    max_select: int | None
    max_traces: int | None
    max_score: float | None
    feedback_keys: tuple[str, ...]
    max_cost: float | None
    concurrency: int | None
    allow_partial: bool


limit_options = group_of(
    [
        click.option(
            "--max-select", type=click.IntRange(1, 1000), help="Triage at most this many failing traces [default: 50]."
        ),
        click.option(
            "--max-traces",
            type=click.IntRange(1, 1000),
            help="Run the model stages on this many clusters at most [default: 3].",
        ),
        click.option("--max-score", type=float, help="Feedback at or below this score fails [default: 0.5]."),
        click.option(
            "--feedback-key", "feedback_keys", multiple=True, help="Only this feedback key fails (repeatable)."
        ),
        click.option(
            "--max-cost", type=click.FloatRange(min=0), help="USD the model stages may cost in all [default: 1.00]."
        ),
        click.option("--concurrency", type=click.IntRange(1, 32), help="Traces analyzed at once [default: 4]."),
        click.option("--allow-partial", is_flag=True, help="Analyze a trace whose runs could not all be fetched."),
    ]
)


@dataclass(frozen=True)
class ModelGroup:
    """Which model, and how."""

    offline: bool
    provider: str | None
    fallback: str | None
    stage_providers: tuple[str, ...]
    model: str | None
    reasoning_effort: str | None
    base_url: str | None
    context_budget: int | None
    store_id: str | None
    keep_store: bool
    background: bool | None
    stage_timeout: float | None
    store_timeout: float | None


model_group_options = group_of(
    [
        click.option("--offline", is_flag=True, help="Triage only, even when a model key is set."),
        click.option("--provider", type=click.Choice(PROVIDERS), help=PROVIDER_HELP),
        click.option("--fallback", help="Providers to try next when a stage fails, e.g. 'anthropic,gemini'."),
        click.option(
            "--stage-provider", "stage_providers", multiple=True, metavar="STAGE=PROVIDER", help="Per-stage provider."
        ),
        model_options,
        click.option("--context-budget", type=int, help="Tokens of documents to pack inline (non-OpenAI providers)."),
        click.option("--store-id", help="Reuse a vector store made by `refinery init` (one trace)."),
        click.option("--keep-store", is_flag=True, help="Do not delete the vector store afterwards."),
        click.option(
            "--background/--no-background", default=None, help="Background mode [default: on for reasoning models]."
        ),
        click.option(
            "--stage-timeout", type=click.FloatRange(min=1), help="Seconds one model stage may run [default: 600]."
        ),
        click.option(
            "--store-timeout", type=click.FloatRange(min=1), help="Seconds the vector store may take [default: 300]."
        ),
    ]
)


@dataclass(frozen=True)
class CompareGroup:
    """What to compare the failure with."""

    baseline_file: str | None
    baseline_trace_id: str | None
    baseline_experiment: str | None
    diff_file: str | None
    git_range: str | None


compare_options = group_of(
    [
        click.option("--baseline-file", type=click.Path(), help="A passing run of the same task (a trace file)."),
        click.option("--baseline-trace-id", help="A passing run: a trace of --baseline-file or FILE, else LangSmith."),
        click.option(
            "--baseline-experiment", help="LangSmith experiment whose run of the same example is the baseline."
        ),
        click.option("--diff", "diff_file", type=click.Path(), help="The PR's changes as a unified diff file."),
        click.option("--git-range", help="The PR's changes as a git range here: A..B or A...B."),
    ]
)


@dataclass(frozen=True)
class RenderGroup:
    """Redaction and the documents."""

    redact: bool
    redact_pii: bool
    redact_patterns: tuple[str, ...]
    expectations: str | None
    assertion: str | None
    field_cap: int
    doc_budget: int
    out_dir: str


render_options = group_of(
    [
        click.option(
            "--redact/--no-redact",
            default=True,
            help="Redact secrets before anything is written or sent [default: on].",
        ),
        click.option("--redact-pii", is_flag=True, help="Also redact email addresses and phone numbers."),
        click.option("--redact-pattern", "redact_patterns", multiple=True, metavar="REGEX", help="Also redact REGEX."),
        click.option(
            "--expectations", type=click.Path(exists=True, dir_okay=False), help="What the agent should have done."
        ),
        click.option("--assertion", help="The failing test's assertion message."),
        click.option(
            "--field-cap", type=click.IntRange(min=200), default=4_000, help="Characters per field [default: 4000]."
        ),
        click.option(
            "--doc-budget",
            type=click.IntRange(min=10_000),
            default=2_000_000,
            help="Characters per document [default: 2000000].",
        ),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False),
            default="refinery-out",
            help="Output directory [refinery-out].",
        ),
    ]
)
