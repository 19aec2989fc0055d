"""Signals, for the entry points: SIGTERM and SIGINT cancel the run instead of killing it mid-write.

The Actions runner cancels a job with SIGTERM, then SIGKILL about 7.5 s later. As PID 1 in a
container the default SIGTERM action is to be ignored, so a handler is the only way the
signal does anything. The first signal cancels the run (workers stop, the triage is written,
what the run created is deleted); in the main thread's own work, with no worker to notice,
it raises Cancelled there. A second signal ends the process at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from refinery.analysis.control import Cancelled, RunControl

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_cancelled: list[RunControl] = []
"""Runs this process cancelled: the entry point then ends it without waiting for stuck workers."""


def cancelled_any() -> bool:
    """Whether a signal cancelled a run of this process."""
    return bool(_cancelled)


@contextmanager
def cancel_on_signals(control: RunControl) -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT cancel ``control``'s run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only; nothing to install here
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if control.cancelled:
            sys.stdout.flush()
            os._exit(128 + signum)
        control.cancel(f"{name} received")
        _cancelled.append(control)
        if control.interruptible:
            raise Cancelled(f"The run was cancelled ({name} received).")

    previous = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def end_process(code: int) -> None:
    """Exit now, without waiting for worker threads a cancellation left stuck in a request."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
