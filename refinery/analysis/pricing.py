"""Cost estimates from the price table in ``prices.json`` (configuration, not code)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from refinery.analysis.providers.base import Usage


@cache
def _prices() -> dict[str, Any]:
    return dict(json.loads((resources.files("refinery") / "analysis" / "prices.json").read_text(encoding="utf-8")))


def price_table() -> dict[str, dict[str, float]]:
    return {k: v for k, v in _prices().items() if not k.startswith("_")}


def tool_price(tool: str) -> float:
    """USD per call of a hosted tool (``file_search``)."""
    return float(_prices()["_tools"].get(tool, 0.0))


def model_price(model: str) -> dict[str, float] | None:
    """The model's row (longest name prefix wins), or None when the table does not know it."""
    name = model.lower().split("/")[-1]
    matches = [k for k in price_table() if name.startswith(k)]
    return price_table()[max(matches, key=len)] if matches else None


def estimate_cost(model: str, usage: Usage) -> float | None:
    """USD for ``usage`` on ``model``, or None when the model is not in the table."""
    price = model_price(model)
    if price is None:
        return None
    if "above_tokens" in price and usage.input_tokens > price["above_tokens"]:
        # Long prompts are billed at the higher tier, every token of the request.
        price = {k: price.get(f"{k}_above", v) for k, v in price.items()}
    uncached = max(usage.input_tokens - usage.cached_tokens, 0)
    # Reasoning tokens are billed as output tokens and already counted in output_tokens.
    cost = (
        uncached * price["input"] + usage.cached_tokens * price["cached_input"] + usage.output_tokens * price["output"]
    ) / 1_000_000
    return round(cost, 6)
