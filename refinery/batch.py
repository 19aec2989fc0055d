"""Several traces analysed at once, each on its own: one failing never sinks the others.

Shared by the CLI and the action. The caller builds the provider factory (from the
composition root), owns the run's ``RunControl`` and says how to log; nothing here reads
the environment or builds a client.

When the run is cancelled, workers stop at their next check (a waiting worker at once); the
main thread gives them ``grace_s`` to write their own artifacts, then writes the triage of
every trace still running itself, with the cancellation as its error, and returns. A worker
stuck in a request is left behind: the entry point ends the process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from refinery.analysis.control import Cancelled, RunControl
from refinery.analysis.cost import CostGuard
from refinery.analysis.orchestrator import AnalysisResult, offline_result
from refinery.analysis.orchestrator import analyze as run_analysis
from refinery.analysis.pack import PackSelection
from refinery.changes.model import ChangeSet
from refinery.errors import RefineryError
from refinery.pipeline import Prepared, PrepareOptions, prepare
from refinery.report.artifacts import Artifacts, write_artifacts
from refinery.trace.model import Trace

ProviderFactory = Callable[[], Any]
"""Builds one analysis provider for one trace (providers are not shared between threads)."""
GRACE_S = 1.0
"""How long a cancelled run waits for its workers to write their own artifacts."""


@dataclass
class TraceOutcome:
    """What became of one trace: a result and its artifacts, or the error that stopped it."""

    index: int
    """1-based position among the traces of the run."""
    trace: Trace
    result: AnalysisResult | None = None
    artifacts: Artifacts | None = None
    error: str | None = None
    """One line: why the trace could not be analysed at all, or why its model stages stopped."""
    internal: bool = False
    """The error is a bug in Refinery (not a RefineryError)."""
    cancelled: bool = False
    """The run was cancelled before this trace's analysis ended."""
    exception: Exception | None = None
    """The error itself, when it stopped the trace before it had a result."""


@dataclass
class _Slot:
    """One trace's shared state: whoever claims it first writes its artifacts."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    prepared: Prepared | None = None
    selection: PackSelection | None = None
    claimed: bool = False

    def claim(self) -> bool:
        with self.lock:
            if self.claimed:
                return False
            self.claimed = True
            return True


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
    control: RunControl | None = None,
    single_dir: bool = False,
    store_id: str | None = None,
    grace_s: float = GRACE_S,
    prepared: list[Prepared] | None = None,
    selections: list[PackSelection | None] | None = None,
    cost: CostGuard | None = None,
    numbers: list[int] | None = None,
    baselines: list[tuple[Trace, str] | None] | None = None,
    changes: ChangeSet | None = None,
) -> list[TraceOutcome]:
    """Prepare, analyse and write each trace into its own folder, ``concurrency`` at a time.

    Outcomes come back in the order of ``traces``. ``make_provider`` is None for triage only.
    ``single_dir`` writes one trace's artifacts straight into ``out_dir`` (the CLI's one trace).
    ``prepared`` skips the preparation of traces already triaged; ``selections`` say why each
    was chosen; ``cost`` is the run's cost cap, shared by every trace; ``numbers`` are the
    traces' positions in the whole run, for their folder names; ``baselines`` are passing runs
    (and where each came from) to compare each trace with; ``changes`` the PR's, to rank.
    """
    control = control or RunControl()
    total = len(traces)
    slots = [_Slot(selection=selections[i] if selections else None) for i in range(len(traces))]

    def folder(index: int, trace: Trace) -> Path:
        number = numbers[index - 1] if numbers else index
        return out_dir if single_dir else out_dir / trace_dir_name(number, trace)

    def one(index: int, trace: Trace) -> TraceOutcome | None:
        tag = trace_tag(index, total, trace)
        slot = slots[index - 1]
        control.check(f"trace {trace.id} was triaged")
        baseline = baselines[index - 1] if baselines else None
        slot.prepared = (
            prepared[index - 1]
            if prepared
            else prepare(
                trace,
                options,
                baseline=baseline[0] if baseline else None,
                baseline_source=baseline[1] if baseline else "",
                changes=changes,
            )
        )
        if make_provider is not None:
            result = run_analysis(
                slot.prepared,
                make_provider(),
                store_id=store_id,
                progress=lambda stage, msg: log(f"{tag} {msg}"),
                control=control,
                cost=cost,
            )
        else:
            result = offline_result(slot.prepared)
        result.selection = selections[index - 1] if selections else None
        if not slot.claim():
            return None  # the run was cancelled and the main thread has written this trace already
        artifacts = write_artifacts(result, folder(index, trace), now=now)
        log(f"{tag} done: {result.status}: {artifacts.report}")
        error = result.error.one_line() if result.error is not None else None
        return TraceOutcome(index, trace, result, artifacts, error, cancelled=isinstance(result.error, Cancelled))

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, total)), thread_name_prefix="refinery-trace")
    futures = [pool.submit(one, i, t) for i, t in enumerate(traces, start=1)]
    _wait_for(futures, control, grace_s)
    # Never wait for a worker stuck in a request: after a cancellation the caller ends the process.
    pool.shutdown(wait=not control.cancelled, cancel_futures=True)
    return [
        _outcome(index, trace, future, slots[index - 1], folder(index, trace), control, now)
        for index, (trace, future) in enumerate(zip(traces, futures, strict=True), start=1)
    ]


def _wait_for(futures: list[Future[TraceOutcome | None]], control: RunControl, grace_s: float) -> None:
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=0.1)
        if pending and control.cancelled:
            wait(pending, timeout=max(0.0, control.remaining(grace_s)))
            return


def _outcome(
    index: int,
    trace: Trace,
    future: Future[TraceOutcome | None],
    slot: _Slot,
    folder: Path,
    control: RunControl,
    now: datetime | None,
) -> TraceOutcome:
    if future.done() and not future.cancelled():
        try:
            outcome = future.result()
        except Cancelled as exc:
            return _cancelled(index, trace, slot, folder, exc, now)
        except RefineryError as exc:
            return TraceOutcome(index, trace, error=exc.one_line(), exception=exc)
        except Exception as exc:  # one trace's crash must not sink the others; it is reported, not hidden
            message = " ".join(str(exc).split())[:300]
            error = f"internal error {type(exc).__name__}: {message}"
            return TraceOutcome(index, trace, error=error, internal=True, exception=exc)
        if outcome is not None:
            return outcome
    return _cancelled(index, trace, slot, folder, Cancelled(f"The run was cancelled ({control.reason})."), now)


def _cancelled(
    index: int, trace: Trace, slot: _Slot, folder: Path, error: Cancelled, now: datetime | None
) -> TraceOutcome:
    """The triage of a trace whose analysis the cancellation cut short, written by the main thread."""
    prepared = slot.prepared
    if prepared is None or not slot.claim():
        return TraceOutcome(index, trace, error=error.one_line(), cancelled=True)
    result = offline_result(prepared)
    result.selection = slot.selection
    result.error = error
    result.warnings.append(f"{error.one_line()} The triage is complete; the model stages did not finish.")
    artifacts = write_artifacts(result, folder, now=now)
    return TraceOutcome(index, trace, result, artifacts, error.one_line(), cancelled=True)
