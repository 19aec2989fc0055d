"""Cost estimates from the price table in ``prices.json`` (configuration, not code)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from refinery.analysis.providers.base import Usage


@cache
def price_table() -> dict[str, dict[str, float]]:
    data = json.loads((resources.files("refinery") / "analysis" / "prices.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def estimate_cost(model: str, usage: Usage) -> float | None:
    """USD for ``usage`` on ``model``, or None when the model is not in the table."""
    name = model.lower().split("/")[-1]
    matches = [k for k in price_table() if name.startswith(k)]
    if not matches:
        return None
    price = price_table()[max(matches, key=len)]
    uncached = max(usage.input_tokens - usage.cached_tokens, 0)
    # Reasoning tokens are billed as output tokens and already counted in output_tokens.
    cost = (
        uncached * price["input"] + usage.cached_tokens * price["cached_input"] + usage.output_tokens * price["output"]
    ) / 1_000_000
    return round(cost, 6)
