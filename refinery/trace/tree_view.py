"""The run tree as indented lines, for ``refinery show``. Styling is the CLI's business."""

from __future__ import annotations

from dataclasses import dataclass

from refinery.trace.model import Run, Trace
from refinery.words import plural


@dataclass(frozen=True)
class TreeLine:
    """One run of the tree, ready to print."""

    depth: int
    run: Run
    text: str
    error: str | None


def format_duration(ms: float | None) -> str:
    """1234.5 -> '1.23s'; None -> '—'."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f}s"
    return f"{ms / 60_000:.1f}m"


def _tokens(run: Run) -> str:
    if run.total_tokens is None and run.prompt_tokens is None:
        return ""
    if run.prompt_tokens is not None and run.completion_tokens is not None:
        return f" {run.prompt_tokens}+{run.completion_tokens} tok"
    return f" {run.total_tokens} tok"


def tree_lines(trace: Trace, *, max_depth: int | None = None) -> list[TreeLine]:
    """Every run (down to ``max_depth``) in execution order with its one-line summary."""
    depths = trace.depths()
    lines = []
    for run in trace.runs:
        depth = depths[run.id]
        if max_depth is not None and depth > max_depth:
            continue
        agent = f" @{run.agent}" if run.agent and run.agent != run.name else ""
        text = f"{run.run_type:<9} {run.name}{agent}  [{run.status}] {format_duration(run.duration_ms)}{_tokens(run)}"
        error = None
        if run.error:
            stripped = run.error.strip().splitlines()
            error = stripped[-1][:300] if stripped else "error"
        lines.append(TreeLine(depth, run, text, error))
    return lines


def trace_header(trace: Trace) -> list[str]:
    """Summary lines shown above the tree."""
    root = trace.root
    head = [
        f"trace {trace.id}  ({trace.source}, {plural(len(trace.runs), 'run')}, {len(trace.errored_runs)} errored, "
        f"{trace.total_tokens} LLM tokens, {format_duration(root.duration_ms)})"
    ]
    if trace.url:
        head.append(f"url {trace.url}")
    for item in trace.feedback:
        score = "—" if item.score is None else f"{item.score:g}"
        comment = f": {item.comment}" if item.comment else ""
        head.append(f"feedback {item.key}={score}{comment}")
    for warning in trace.warnings:
        head.append(f"warning [{warning.code}] {warning.message} ({warning.count})")
    if trace.partial:
        head.append("warning [partial] this trace is incomplete")
    return head
