"""Synthetic LangSmith-shaped traces of any size, for benchmarks.

Shape: a root chain, then agent turns; each turn is a chain holding an LLM call with
chat messages and token usage, and a tool call with a JSON result. Every 50th tool call
fails with a rate limit. Text sizes resemble real agent traces (0.5-2 KB per field).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

_WORDS = [
    "search",
    "result",
    "flight",
    "fare",
    "booking",
    "policy",
    "refund",
    "customer",
    "agent",
    "tool",
    "query",
    "answer",
    "context",
    "document",
    "page",
    "price",
    "date",
    "city",
    "airport",
    "status",
    "error",
    "retry",
    "plan",
    "step",
]


SYSTEM_PROMPT = (
    "You are TravelBot, an assistant that finds flights and fares. Use the tools to search, look up bookings and "
    "get fares. Always cite the fare you found and never invent prices. If a tool fails, say so and stop."
)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def synthetic_runs(n_runs: int, seed: int = 7) -> list[dict[str, Any]]:
    """About ``n_runs`` LangSmith run dicts of one trace, in dotted order."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    trace_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def stamp(t: datetime, rid: str) -> str:
        return t.strftime("%Y%m%dT%H%M%S%fZ") + rid

    root_order = stamp(start, trace_id)
    runs: list[dict[str, Any]] = [
        {
            "id": trace_id,
            "trace_id": trace_id,
            "parent_run_id": None,
            "dotted_order": root_order,
            "name": "agent_executor",
            "run_type": "chain",
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(milliseconds=n_runs * 40)).isoformat(),
            "inputs": {"input": _text(rng, 40)},
            "outputs": {"output": _text(rng, 60)},
            "extra": {"metadata": {"ls_run_depth": 0}},
        }
    ]
    t = start
    turn = 0
    while len(runs) < n_runs:
        turn_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t += timedelta(milliseconds=5)
        turn_order = f"{root_order}.{stamp(t, turn_id)}"
        runs.append(
            {
                "id": turn_id,
                "trace_id": trace_id,
                "parent_run_id": trace_id,
                "dotted_order": turn_order,
                "name": "agent_turn",
                "run_type": "chain",
                "start_time": t.isoformat(),
                "end_time": (t + timedelta(milliseconds=35)).isoformat(),
                "inputs": {"turn": turn},
                "outputs": {"done": False},
            }
        )
        llm_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        tool_name = rng.choice(["search", "lookup_booking", "get_fare", "calculator"])
        runs.append(
            {
                "id": llm_id,
                "trace_id": trace_id,
                "parent_run_id": turn_id,
                "dotted_order": f"{turn_order}.{stamp(t, llm_id)}",
                "name": "ChatOpenAI",
                "run_type": "llm",
                "start_time": t.isoformat(),
                "end_time": (t + timedelta(milliseconds=20)).isoformat(),
                "inputs": {
                    "messages": [
                        {"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": _text(rng, 80)},
                    ]
                },
                "outputs": {
                    "choices": [
                        {
                            "message": {
                                "role": "assistant",
                                "content": _text(rng, 40),
                                "tool_calls": [
                                    {
                                        "id": f"call_{turn}",
                                        "type": "function",
                                        "function": {"name": tool_name, "arguments": json.dumps({"q": _text(rng, 6)})},
                                    }
                                ],
                            },
                            "finish_reason": "tool_calls",
                        }
                    ],
                    "usage_metadata": {
                        "input_tokens": 900 + turn % 400,
                        "output_tokens": 60,
                        "total_tokens": 960 + turn % 400,
                    },
                },
                "extra": {"metadata": {"ls_model_name": "gpt-4.1-mini"}},
            }
        )
        tool_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t2 = t + timedelta(milliseconds=21)
        failed = turn % 50 == 49
        runs.append(
            {
                "id": tool_id,
                "trace_id": trace_id,
                "parent_run_id": turn_id,
                "dotted_order": f"{turn_order}.{stamp(t2, tool_id)}",
                "name": tool_name,
                "run_type": "tool",
                "start_time": t2.isoformat(),
                "end_time": (t2 + timedelta(milliseconds=12)).isoformat(),
                "inputs": {"q": _text(rng, 6)},
                "outputs": None if failed else {"output": json.dumps({"results": [_text(rng, 30) for _ in range(4)]})},
                "error": "RateLimitError: HTTP 429 Too Many Requests" if failed else None,
            }
        )
        t += timedelta(milliseconds=40)
        turn += 1
    return runs[:n_runs]
