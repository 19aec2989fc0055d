"""One rate gate shared by every worker of a run.

The SDK's own retry handles a 429 for the request that got it; the gate makes the other
workers wait out the same Retry-After instead of each running into the limit in turn, and
optionally spends a tokens-per-minute budget. It is not a second retry layer: it only
delays requests, never repeats one. It hooks into the HTTP client the SDK is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

DEFAULT_PAUSE_S = 1.0
MAX_PAUSE_S = 60.0


def retry_after_seconds(headers: Mapping[str, str]) -> float:
    """Retry-After (ms or s) from a response, bounded; 1 s when the server gives none."""
    for key, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(key)
        if value:
            try:
                return min(max(float(value) / scale, 0.0), MAX_PAUSE_S)
            except ValueError:
                continue
    return DEFAULT_PAUSE_S


class RateGate:
    """Pauses every worker after any 429; spends an optional tokens-per-minute budget."""

    def __init__(
        self,
        tokens_per_minute: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._tpm = tokens_per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._budget = float(tokens_per_minute or 0)
        self._refilled = clock()
        self.pauses = 0
        """How many 429s paused the gate (for the logs and the tests)."""

    def _refill(self, now: float) -> None:
        if self._tpm:
            self._budget = min(float(self._tpm), self._budget + (now - self._refilled) * self._tpm / 60.0)
            self._refilled = now

    def before_request(self, estimated_tokens: int) -> None:
        """Block until the gate is open and the budget covers ``estimated_tokens``."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._paused_until - now
                if wait <= 0 and self._tpm:
                    self._refill(now)
                    need = min(float(estimated_tokens), float(self._tpm))
                    if self._budget >= need:
                        self._budget -= need
                        return
                    wait = (need - self._budget) * 60.0 / self._tpm
                elif wait <= 0:
                    return
            self._sleep(wait)

    def after_response(self, status: int, headers: Mapping[str, str]) -> None:
        if status == 429:
            with self._lock:
                self._paused_until = max(self._paused_until, self._clock() + retry_after_seconds(headers))
                self.pauses += 1

    def event_hooks(self) -> dict[str, list[Callable[[Any], None]]]:
        """httpx event hooks that route every request and response of a client through the gate."""

        def on_request(request: Any) -> None:
            # Content-Length, not the body: uploads stream, and reading them here would consume them.
            length = request.headers.get("content-length")
            self.before_request(int(length) // 4 if length and length.isdigit() else 0)

        def on_response(response: Any) -> None:
            self.after_response(response.status_code, response.headers)

        return {"request": [on_request], "response": [on_response]}
