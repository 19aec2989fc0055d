"""Several traces analysed at once, each on its own: one failing never sinks the others.

The planner hands over traces already prepared (redacted, triaged, enriched); the provider
factory comes from the composition root; nothing here reads the environment or builds a client.

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

from refinery.analysis.control import Cancelled, RunControl
from refinery.analysis.cost import CostGuard
from refinery.analysis.orchestrator import AnalysisResult, offline_result
from refinery.analysis.orchestrator import analyze as run_analysis
from refinery.analysis.pack import PackSelection
from refinery.analysis.providers.base import AnalysisProvider
from refinery.errors import RefineryError
from refinery.pipeline import Prepared
from refinery.report.artifacts import Artifacts, write_artifacts
from refinery.report.clusters import short_id
from refinery.trace.model import Trace

GRACE_S = 1.0
"""How long a cancelled run waits for its workers to write their own artifacts."""


@dataclass(frozen=True)
class Job:
    """One triaged trace for the model stages: prepared once, before it gets here."""

    prepared: Prepared
    selection: PackSelection | None = None
    """Why it was chosen."""
    number: int = 1
    """Its position among the run's traces: its artifact folder is ``trace-N-<id>``."""

    @property
    def trace(self) -> Trace:
        return self.prepared.trace


@dataclass(frozen=True)
class BatchOptions:
    """Where and how the batch runs."""

    out_dir: Path
    concurrency: int = 4
    flat: bool = False
    """Write the one trace's artifacts straight into ``out_dir`` (the CLI's single trace)."""
    store_id: str | None = None
    """A vector store to reuse (one trace only)."""
    now: datetime | None = None
    """generated_at for the packs (SOURCE_DATE_EPOCH)."""
    grace_s: float = GRACE_S


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

    prepared: Prepared
    selection: PackSelection | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    claimed: bool = False

    def claim(self) -> bool:
        with self.lock:
            if self.claimed:
                return False
            self.claimed = True
            return True


def trace_tag(index: int, total: int, trace: Trace) -> str:
    """``[2/5 tau-bench-task8-trial0]``, ``[2/5 0f3a9c2b…]``: the prefix of every log line about one trace,
    its id shown as the comment shows it (whole when short: never cut before the part that differs)."""
    return f"[{index}/{total} {short_id(trace.id)}]"


def path_slug(text: str, limit: int = 12, whole: int = 32) -> str:
    """A trace id as a safe file-name part: ``[A-Za-z0-9_-]`` only, so never ``/``, ``..`` or a NUL. Whole
    when it is at most ``whole`` characters (``tau-bench-task8-trial0``), else its first ``limit``: never cut
    before the part that tells two traces apart."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    slug = slug if len(slug) <= whole else slug[:limit].strip("-")
    return slug or "trace"


def trace_dir_name(index: int, trace: Trace) -> str:
    """The trace's artifact folder, ``trace-N-<id>``: confined to the output directory whatever the id."""
    return f"trace-{index}-{path_slug(trace.id)}"


def analyse_traces(
    jobs: list[Job],
    options: BatchOptions,
    *,
    make_provider: Callable[[], AnalysisProvider] | None,
    log: Callable[[str], None],
    control: RunControl | None = None,
    cost: CostGuard | None = None,
) -> list[TraceOutcome]:
    """Analyse each job and write it into its own folder, ``concurrency`` at a time.

    Outcomes come back in the order of ``jobs``. ``make_provider`` is None for the triage alone;
    ``cost`` is the run's cost cap, shared by every trace.
    """
    control = control or RunControl()
    total = len(jobs)
    slots = [_Slot(prepared=job.prepared, selection=job.selection) for job in jobs]

    def folder(job: Job) -> Path:
        return options.out_dir if options.flat else options.out_dir / trace_dir_name(job.number, job.trace)

    def one(index: int, job: Job) -> TraceOutcome | None:
        tag = trace_tag(index, total, job.trace)
        control.check(f"the model stages of trace {job.trace.id}")
        if make_provider is not None:
            result = run_analysis(
                job.prepared,
                make_provider(),
                store_id=options.store_id,
                progress=lambda stage, msg: log(f"{tag} {msg}"),
                control=control,
                cost=cost,
            )
        else:
            result = offline_result(job.prepared)
        result.selection = job.selection
        if not slots[index - 1].claim():
            return None  # the run was cancelled and the main thread has written this trace already
        artifacts = write_artifacts(result, folder(job), now=options.now)
        log(f"{tag} done: {result.status}: {artifacts.report}")
        error = result.error.one_line() if result.error is not None else None
        return TraceOutcome(index, job.trace, result, artifacts, error, cancelled=isinstance(result.error, Cancelled))

    pool = ThreadPoolExecutor(max_workers=max(1, min(options.concurrency, total)), thread_name_prefix="refinery-trace")
    futures = [pool.submit(one, i, job) for i, job in enumerate(jobs, start=1)]
    _wait_for(futures, control, options.grace_s)
    # Never wait for a worker stuck in a request: after a cancellation the caller ends the process.
    pool.shutdown(wait=not control.cancelled, cancel_futures=True)
    return [
        _outcome(index, job.trace, future, slots[index - 1], folder(job), control, options.now)
        for index, (job, future) in enumerate(zip(jobs, futures, strict=True), start=1)
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
    if not slot.claim():  # its worker is writing them: the outcome says the run was cancelled
        return TraceOutcome(index, trace, error=error.one_line(), cancelled=True)
    result = offline_result(slot.prepared)
    result.selection = slot.selection
    result.error = error
    result.warnings.append(f"{error.one_line()} The triage is complete; the model stages did not finish.")
    artifacts = write_artifacts(result, folder, now=now)
    return TraceOutcome(index, trace, result, artifacts, error.one_line(), cancelled=True)
