"""A small example agent, instrumented with the langsmith SDK: the bundled examples are its traces.

Each scenario is ordinary agent code decorated with ``traceable``, as a team's own agent
would be; the SDK posts its runs to whatever endpoint the Client points at. The bundled
``examples/*.json`` are recorded from it (``python -m tests.fakes.make_examples``), and the
tests record the same scenarios against the fake LangSmith, so fixtures are what the SDK
really sends, not hand-typed JSON.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import langsmith
from langsmith import traceable
from langsmith.run_helpers import get_current_run_tree, tracing_context

PROJECT = "refinery-fixtures"
MODEL = "gpt-4.1-mini"


class ToolError(RuntimeError):
    pass


def _llm(name: str, reply: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> Callable[..., Any]:
    @traceable(run_type="llm", name=name, metadata={"ls_model_name": MODEL, "ls_provider": "openai"})
    def call(messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "choices": [{"message": reply, "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop"}],
            "usage_metadata": {
                "input_tokens": prompt_tokens,
                "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    return call


def _tool_call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}],
    }


SYSTEM_PROMPT = (
    "You are TravelBot. Answer questions about flights using the tools. "
    "Always cite the fare you found. Never invent prices."
)


def rate_limited_agent(question: str = "What is the cheapest flight from SFO to JFK on 2026-12-01?") -> Any:
    """A search tool hits a 429; the agent gives up and the chain errors (a cascade)."""

    @traceable(run_type="tool", name="search_flights")
    def search_flights(origin: str, destination: str, date: str) -> dict[str, Any]:
        raise ToolError("HTTP 429 Too Many Requests from flights-api: rate limit exceeded (retry after 30s)")

    @traceable(run_type="chain", name="plan_and_search")
    def plan_and_search(q: str) -> str:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": q}]
        _llm(
            "ChatOpenAI",
            _tool_call("search_flights", {"origin": "SFO", "destination": "JFK", "date": "2026-12-01"}, "call_1"),
            412,
            38,
        )(messages)
        return str(search_flights("SFO", "JFK", "2026-12-01"))

    @traceable(run_type="chain", name="travel_agent")
    def travel_agent(q: str) -> str:
        return plan_and_search(q)

    return travel_agent(question)


def looping_agent(question: str = "Find the refund policy for booking ABC123.") -> Any:
    """The agent calls the same tool with the same arguments again and again."""

    @traceable(run_type="tool", name="lookup_booking")
    def lookup_booking(booking_id: str) -> dict[str, Any]:
        return {"status": "ok", "booking": {"id": booking_id, "fare_class": "basic"}, "note": "policy not included"}

    @traceable(run_type="chain", name="support_agent")
    def support_agent(q: str) -> dict[str, Any]:
        messages = [
            {"role": "system", "content": "You are SupportBot. Use lookup_booking, then answer."},
            {"role": "user", "content": q},
        ]
        for turn in range(4):
            _llm(
                "ChatOpenAI",
                _tool_call("lookup_booking", {"booking_id": "ABC123"}, f"call_{turn}"),
                300 + 90 * turn,
                21,
            )(messages)
            result = lookup_booking("ABC123")
            messages.append({"role": "tool", "content": json.dumps(result), "tool_call_id": f"call_{turn}"})
        _llm("ChatOpenAI", {"role": "assistant", "content": ""}, 720, 1)(messages)
        return {"output": ""}

    return support_agent(question)


def wrong_answer_agent(client: langsmith.Client, question: str = "What is 17% of 2,340?") -> str:
    """A calculator tool is fed a wrong expression; the evaluator marks the answer incorrect."""
    dataset = client.create_dataset("math-evals")
    example = client.create_example(inputs={"question": question}, outputs={"answer": "397.8"}, dataset_id=dataset.id)

    @traceable(run_type="tool", name="calculator")
    def calculator(expression: str) -> dict[str, Any]:
        return {"result": eval(expression, {"__builtins__": {}})}

    @traceable(run_type="chain", name="math_agent")
    def math_agent(q: str) -> dict[str, Any]:
        run = get_current_run_tree()
        if run is not None:
            run.reference_example_id = example.id
        messages = [
            {"role": "system", "content": "You are MathBot. Use the calculator for arithmetic."},
            {"role": "user", "content": q},
        ]
        _llm("ChatOpenAI", _tool_call("calculator", {"expression": "2340 * 0.71"}, "call_1"), 210, 19)(messages)
        value = calculator("2340 * 0.71")["result"]
        _llm("ChatOpenAI", {"role": "assistant", "content": f"17% of 2,340 is {value:.1f}."}, 260, 14)(messages)
        return {"answer": f"{value:.1f}"}

    captured: dict[str, Any] = {}

    def grab(run: Any) -> None:
        captured["id"] = run.id

    math_agent(question, langsmith_extra={"on_end": grab})
    client.flush()
    client.create_feedback(
        captured["id"],
        key="correctness",
        score=0,
        comment="Expected 397.8 (17% of 2,340) but the agent answered 1661.4: it computed 71% instead of 17%.",
        trace_id=captured["id"],
        session_id=client.read_project(project_name=PROJECT).id,
    )
    return str(captured["id"])


def run_scenario(client: langsmith.Client, scenario: Callable[..., Any], *args: Any, project: str = PROJECT) -> str:
    """Run one scenario with tracing sent to ``client``; return the root run id."""
    captured: dict[str, Any] = {}

    @traceable(run_type="chain", name="eval_case")
    def entry() -> Any:
        tree = get_current_run_tree()
        captured["id"] = tree.id if tree else None
        return scenario(*args)

    with tracing_context(enabled=True, client=client, project_name=project), contextlib.suppress(ToolError):
        entry()
    client.flush()
    return str(captured["id"])


def sdk_client(url: str, api_key: str) -> langsmith.Client:
    """A client that writes runs synchronously (no background batching) to ``url``."""
    return langsmith.Client(api_url=url, api_key=api_key, auto_batch_tracing=False)


def new_id(seed: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, seed)
