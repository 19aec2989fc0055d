"""The run's cost cap: each stage's cost is estimated before it starts, and a stage that
would take the run past ``max-cost`` is not started.

The estimate is an upper bound for one attempt: the input counted from the texts the stage
sends (the packed documents inline; for file_search, the results of a few searches), the
output at the stage's maximum, and the searches at the tool's price. After a stage, its
real usage replaces the estimate, so later stages see what was actually spent. One guard
is shared by every trace of a run, like the rate gate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from refinery.analysis.packing import estimate_tokens
from refinery.analysis.pricing import estimate_cost, tool_price
from refinery.analysis.providers.base import Usage
from refinery.errors import CostCapReached


@dataclass(frozen=True)
class StageEstimate:
    """What one stage will cost at most, before it runs."""

    model: str
    input_tokens: int
    output_tokens: int
    searches: int = 0
    """file_search calls, each priced as a tool call."""

    @property
    def usd(self) -> float | None:
        """USD, or None when the model has no price in the table."""
        tokens = estimate_cost(self.model, Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens))
        return None if tokens is None else round(tokens + self.searches * tool_price("file_search"), 6)


def text_tokens(*texts: str) -> int:
    """Tokens of what a request sends, counted conservatively (3.5 characters a token)."""
    return sum(estimate_tokens(t) for t in texts if t)


class CostGuard:
    """Admits a stage only while the run's spend plus its estimate stays within ``cap_usd``."""

    def __init__(self, cap_usd: float | None) -> None:
        self.cap_usd = cap_usd
        self._lock = threading.Lock()
        self._spent = 0.0
        self._reserved = 0.0
        self.unpriced: set[str] = set()
        """Models whose stages ran without a price: the cap could not hold them."""

    @property
    def spent(self) -> float:
        with self._lock:
            return round(self._spent, 6)

    def admit(self, stage: str, estimate: StageEstimate) -> float:
        """Reserve the stage's estimate; CostCapReached when it would cross the cap. Returns the reservation."""
        cost = estimate.usd
        with self._lock:
            if cost is None:
                self.unpriced.add(estimate.model)
                return 0.0
            if self.cap_usd is not None and self._spent + self._reserved + cost > self.cap_usd:
                raise CostCapReached(
                    f"Stage {stage} was not started: its estimated cost ${cost:.4f} would take this run past "
                    f"max-cost ${self.cap_usd:.2f} (${self._spent + self._reserved:.4f} spent or committed).",
                    hint="Raise `max-cost` (CLI: --max-cost), lower `max-traces`, or use a cheaper `model`.",
                )
            self._reserved += cost
            return cost

    def settle(self, reserved: float, actual: float | None) -> None:
        """Replace a reservation by what the stage really cost (its estimate, when unknown)."""
        with self._lock:
            self._reserved = max(0.0, self._reserved - reserved)
            self._spent += reserved if actual is None else actual
