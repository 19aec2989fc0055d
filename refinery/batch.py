"""Several traces analysed at once, each on its own: one failing never sinks the others.

Shared by the CLI (``analyze`` with several traces) and the action. The caller builds the
provider factory (from the composition root) and says how to log; nothing here reads the
environment or builds a client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from refinery.analysis.orchestrator import AnalysisResult, offline_result
from refinery.analysis.orchestrator import analyze as run_analysis
from refinery.errors import RefineryError
from refinery.pipeline import PrepareOptions, prepare
from refinery.report.artifacts import Artifacts, write_artifacts
from refinery.trace.model import Trace

ProviderFactory = Callable[[], Any]
"""Builds one analysis provider for one trace (providers are not shared between threads)."""


@dataclass
class TraceOutcome:
    """What became of one trace: a result and its artifacts, or the error that stopped it."""

    index: int
    """1-based position among the traces of the run."""
    trace: Trace
    result: AnalysisResult | None = None
    artifacts: Artifacts | None = None
    error: str | None = None
    """One line: why the trace could not be analysed at all, or why its model stages failed."""
    internal: bool = False
    """The error is a bug in Refinery (not a RefineryError)."""


def trace_tag(index: int, total: int, trace: Trace) -> str:
    """``[2/5 0f3a9c…]``: the prefix of every log line about one trace."""
    return f"[{index}/{total} {trace.id[:12]}]"


def path_slug(text: str, limit: int = 12) -> str:
    """A trace id as a safe file-name part: ``[A-Za-z0-9_-]`` only, so never ``/``, ``..`` or a NUL."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:limit].strip("-")
    return slug or "trace"


def trace_dir_name(index: int, trace: Trace) -> str:
    """The trace's artifact folder, ``trace-N-<id>``: confined to the output directory whatever the id."""
    return f"trace-{index}-{path_slug(trace.id)}"


def analyse_traces(
    traces: list[Trace],
    *,
    options: PrepareOptions,
    out_dir: Path,
    make_provider: ProviderFactory | None,
    concurrency: int,
    log: Callable[[str], None],
    now: datetime | None = None,
) -> list[TraceOutcome]:
    """Prepare, analyse and write each trace into its own folder, ``concurrency`` at a time.

    Outcomes come back in the order of ``traces``. ``make_provider`` is None for triage only.
    """
    total = len(traces)

    def one(index: int, trace: Trace) -> TraceOutcome:
        tag = trace_tag(index, total, trace)
        prepared = prepare(trace, options)
        if make_provider is not None:
            result = run_analysis(prepared, make_provider(), progress=lambda stage, msg: log(f"{tag} {msg}"))
        else:
            result = offline_result(prepared)
        artifacts = write_artifacts(result, out_dir / trace_dir_name(index, trace), now=now)
        log(f"{tag} done: {result.status}: {artifacts.report}")
        error = result.error.one_line() if result.error is not None else None
        return TraceOutcome(index, trace, result, artifacts, error)

    outcomes: list[TraceOutcome] = []
    workers = max(1, min(concurrency, total))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one, i, t) for i, t in enumerate(traces, start=1)]
        for index, (trace, future) in enumerate(zip(traces, futures, strict=True), start=1):
            try:
                outcomes.append(future.result())
            except RefineryError as exc:
                outcomes.append(TraceOutcome(index, trace, error=exc.one_line()))
            except Exception as exc:  # one trace's crash must not sink the others; it is reported, not hidden
                message = " ".join(str(exc).split())[:300]
                outcomes.append(
                    TraceOutcome(index, trace, error=f"internal error {type(exc).__name__}: {message}", internal=True)
                )
    return outcomes
