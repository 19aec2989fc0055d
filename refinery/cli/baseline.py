"""What analyze compares a failure with: a passing run (--baseline-file, --baseline-trace-id,
--baseline-experiment) and the pull request's changes (--diff, --git-range)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from refinery.changes.diff import read_unified_diff
from refinery.changes.git import read_git_range
from refinery.changes.model import ChangeSet
from refinery.errors import ConfigError
from refinery.settings import Settings
from refinery.trace.baseline import baseline_in_experiment, baseline_in_file, passing_twin
from refinery.trace.bounds import InputLimits
from refinery.trace.files import load_trace_files
from refinery.trace.model import Trace
from refinery.trace.source import SelectionCriteria
from refinery.wiring import build_langsmith_source

F = TypeVar("F", bound=Callable[..., Any])
Baseline = tuple[Trace, str] | None


def baseline_options(f: F) -> F:
    for option in reversed(
        [
            click.option(
                "--baseline-file",
                type=click.Path(),
                help="A passing run of the same task (a file; with several traces, the passing one of the same example).",
            ),
            click.option(
                "--baseline-trace-id",
                help="A passing run of the same task: a trace of --baseline-file or FILE, else fetched from LangSmith.",
            ),
            click.option(
                "--baseline-experiment",
                help="LangSmith experiment whose run of the same example is the baseline (the base branch's).",
            ),
            click.option("--diff", "diff_file", type=click.Path(), help="The PR's changes as a unified diff file."),
            click.option(
                "--git-range", help="The PR's changes as a git range in the current repository: A..B or A...B."
            ),
        ]
    ):
        f = option(f)
    return f


def resolve_baselines(
    settings: Settings,
    traces: list[Trace],
    pool: list[Trace],
    *,
    baseline_file: str | None,
    baseline_trace_id: str | None,
    baseline_experiment: str | None,
) -> list[Baseline]:
    """Each analysed trace's baseline: the ones asked for, else a passing twin in the same file."""
    criteria = SelectionCriteria(max_score=settings.max_score)
    if baseline_file:
        others = load_trace_files(baseline_file, "auto", InputLimits(max_bytes=settings.max_input_mb * 1024 * 1024))
        return [(baseline_in_file(t, others, criteria, baseline_trace_id), "baseline-file") for t in traces]
    if baseline_trace_id:
        in_file = [t for t in pool if t.id == baseline_trace_id]
        found = in_file[0] if in_file else build_langsmith_source(settings).fetch_trace(baseline_trace_id)
        return [(found, "baseline-trace-id") for _ in traces]
    if baseline_experiment:
        source = build_langsmith_source(settings, project=baseline_experiment)
        return [
            (baseline_in_experiment(source, baseline_experiment, t, criteria), "baseline-experiment") for t in traces
        ]
    twins = [passing_twin(t, pool, criteria) for t in traces]
    return [(twin, "file") if twin is not None else None for twin in twins]


def read_cli_changes(diff_file: str | None, git_range: str | None) -> ChangeSet | None:
    """The changes --diff or --git-range names, to rank against the failure."""
    if diff_file and git_range:
        raise ConfigError("Give --diff or --git-range, not both.")
    if diff_file:
        path = Path(diff_file)
        if not path.is_file():
            raise ConfigError(f"--diff {diff_file}: no such file.", hint="Give a unified diff (git diff > pr.diff).")
        return read_unified_diff(path.read_text(encoding="utf-8", errors="replace"), f"diff {path.name}")
    if git_range:
        return read_git_range(Path.cwd(), git_range)
    return None
