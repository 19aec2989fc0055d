"""What every worker of one run shares besides the rate gate: whether the run was cancelled, and
what it created remotely that must not outlive it.

The entry point cancels the run (on SIGTERM or SIGINT); workers see it at their next check,
or at once when they are waiting (polling a background response, a vector store). Whatever
a worker created and has not deleted yet is registered here with the function that deletes
it, so that the entry point can delete it even when the worker is stuck in a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager

from refinery.errors import RefineryError


class Cancelled(RefineryError):
    """The run was stopped (SIGTERM, SIGINT) before this step could run."""

    exit_code = 130


Cleanup = Callable[[], list[str]]
"""Deletes one remote resource; returns warnings instead of raising."""


class RunControl:
    """Cancellation and the resources to clean up, for one run (shared by its threads)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._owned: dict[str, Cleanup] = {}
        self._interruptible = 0
        self.reason: str | None = None
        """Why the run was cancelled, e.g. "SIGTERM received"."""
        self.cancelled_at: float | None = None

    # -- cancellation ------------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str) -> None:
        """Stop the run: every later check raises, every wait returns at once."""
        with self._lock:
            if not self._event.is_set():
                self.reason = reason
                self.cancelled_at = self._clock()
                self._event.set()

    def check(self, before: str) -> None:
        """Raise Cancelled if the run was cancelled; ``before`` names the step that will not run."""
        if self._event.is_set():
            raise Cancelled(f"The run was cancelled ({self.reason}) before {before}.")

    def sleep(self, seconds: float, before: str) -> None:
        """Wait ``seconds``, or less if the run is cancelled meanwhile (then raise Cancelled)."""
        self._event.wait(max(seconds, 0.0))
        self.check(before)

    def remaining(self, budget_s: float) -> float:
        """Seconds left of ``budget_s`` counted from the cancellation (the whole budget if not cancelled)."""
        if self.cancelled_at is None:
            return budget_s
        return budget_s - (self._clock() - self.cancelled_at)

    @property
    def interruptible(self) -> bool:
        """Whether the main thread may be interrupted by raising Cancelled (outside the workers' phase)."""
        return self._interruptible > 0

    @contextmanager
    def interruptible_section(self) -> Iterator[None]:
        """Main-thread work with no worker to notice a cancellation: a signal may raise Cancelled in it."""
        self._interruptible += 1
        try:
            self.check("it started")
            yield
        finally:
            self._interruptible -= 1

    # -- remote resources ----------------------------------------------------------------------

    def own(self, key: str, cleanup: Cleanup) -> None:
        """Record a remote resource (a vector store with its files) and how to delete it."""
        with self._lock:
            self._owned[key] = cleanup

    def release(self, key: str) -> None:
        """The resource was deleted (or handed over to the user): nothing left to do."""
        with self._lock:
            self._owned.pop(key, None)

    @property
    def owned(self) -> list[str]:
        with self._lock:
            return sorted(self._owned)

    def clean_up(self, timeout_s: float) -> list[str]:
        """Delete every resource still registered, in parallel, within ``timeout_s``. Returns warnings."""
        with self._lock:
            pending = dict(self._owned)
        if not pending:
            return []
        warnings: list[str] = []
        pool = ThreadPoolExecutor(max_workers=min(8, len(pending)), thread_name_prefix="refinery-cleanup")
        futures = {pool.submit(cleanup): key for key, cleanup in pending.items()}
        done, not_done = wait(futures, timeout=max(timeout_s, 0.0))
        pool.shutdown(wait=False, cancel_futures=True)
        for future in done:
            key = futures[future]
            try:
                warnings.extend(future.result())
            except Exception as exc:  # a cleanup is best effort: say what is left, never raise here
                warnings.append(f"Could not delete {key}: {type(exc).__name__}: {exc}")
            self.release(key)
        for future in not_done:
            warnings.append(f"Could not delete {futures[future]} in time; it expires after 1 day idle.")
        return warnings
