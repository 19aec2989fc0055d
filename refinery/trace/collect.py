"""Gathering many traces where one bad item must not sink the rest.

A truncated file in a glob, a dangling symlink or one unknown id among several becomes a
named failure, and everything else is still read.
"""

from __future__ import annotations

import glob
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from refinery.errors import ConfigError, RefineryError
from refinery.trace.bounds import InputLimits
from refinery.trace.files import load_trace_files
from refinery.trace.model import Trace
from refinery.trace.source import SelectedTrace, TraceSource


@dataclass
class Collected:
    """The traces that could be read, and a line for each item that could not."""

    traces: list[Trace] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """``what: why``, e.g. ``trace-file evals/a.json: … is not valid JSON …``."""
    selections: dict[str, SelectedTrace] = field(default_factory=dict)
    """Why each selected trace was chosen, by trace id (empty when ids were given)."""
    pool: list[Trace] = field(default_factory=list)
    """Every trace the files held, passing ones too: where a failure's passing twin is found."""
    source: TraceSource | None = None
    """The LangSmith source the traces came from, for fetching baselines."""
    first_error: RefineryError | None = None
    """The first failure itself: when nothing at all could be read, it is the run's error."""


def trace_file_paths(pattern: str, root: Path) -> list[Path]:
    """The files a ``trace-file`` pattern names (a path or a glob), relative patterns under ``root``."""
    full = pattern if os.path.isabs(pattern) else str(root / pattern)
    paths = sorted(glob.glob(full, recursive=True))
    if not paths:
        raise ConfigError(f"trace-file {pattern!r} matches no file in {root}.", hint="Check the path or glob.")
    return [Path(p) for p in paths]


def load_trace_glob(pattern: str, root: Path, limits: InputLimits | None = None, fmt: str = "auto") -> Collected:
    """Every trace in every file the pattern names; a file that cannot be read is a failure, not the end."""
    collected = Collected()
    for path in trace_file_paths(pattern, root):
        if path.is_dir():
            continue
        try:
            collected.traces.extend(load_trace_files(path, fmt, limits))
        except RefineryError as exc:
            collected.failures.append(f"trace-file {_shown(path, root)}: {exc.one_line()}")
            collected.first_error = collected.first_error or exc
    return collected


FETCH_WORKERS = 8
"""Traces fetched at once. LangSmith's limits are per workspace; each request's 429 is retried by
the SDK after its Retry-After, so a burst slows down instead of failing."""


def fetch_each(source: TraceSource, ids: list[str], workers: int = FETCH_WORKERS) -> Collected:
    """Each trace by id, ``workers`` at a time, in the order given; an id that cannot be fetched is a
    failure, not the end."""

    def fetch(trace_id: str) -> Trace | tuple[str, RefineryError]:
        try:
            return source.fetch_trace(trace_id)
        except RefineryError as exc:
            return f"trace {trace_id}: {exc.one_line()}", exc

    collected = Collected()
    if not ids:
        return collected
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ids))), thread_name_prefix="refinery-fetch") as pool:
        for outcome in pool.map(fetch, ids):
            if isinstance(outcome, tuple):
                collected.failures.append(outcome[0])
                collected.first_error = collected.first_error or outcome[1]
            else:
                collected.traces.append(outcome)
    return collected


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
