"""What each tracing convention's span attributes become in a run: its kind, name, input and output,
model, agent, cost and role, one convention at a time.

The attribute names are the conventions' own (OpenTelemetry GenAI, OpenInference, OpenLLMetry /
Traceloop, the Vercel AI SDK); the producers' real files are read whole in test_readers.py and
tests/integration/test_genai_producers.py. Here each rule is checked alone, so that a reader that
confuses two conventions fails by name.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from refinery.trace.files.otlp import load_otlp
from refinery.trace.model import Run

START = "2026-01-01T00:00:00Z"


def read_span(attributes: dict[str, Any], **span: Any) -> Run:
    record = {"span_id": "s1", "name": "span name", "start_time": START, "attributes": attributes, **span}
    [trace] = load_otlp({"trace_id": "t1", "spans": [record]})
    return trace.root


@pytest.mark.parametrize(
    ("attributes", "run_type"),
    [
        ({"traceloop.span.kind": "tool", "openinference.span.kind": "LLM"}, "tool"),  # Traceloop's kind first
        ({"traceloop.span.kind": "workflow"}, "chain"),
        ({"traceloop.span.kind": "unknown", "openinference.span.kind": "retriever"}, "retriever"),
        ({"openinference.span.kind": "AGENT", "gen_ai.operation.name": "chat"}, "agent"),
        ({"openinference.span.kind": "EVALUATOR"}, "chain"),
        ({"gen_ai.operation.name": "execute_tool"}, "tool"),
        ({"gen_ai.operation.name": "invoke_agent"}, "agent"),
        ({"gen_ai.operation.name": "embeddings"}, "embedding"),
        ({"gen_ai.operation.name": "unknown", "gen_ai.tool.name": "search"}, "tool"),
        ({"tool.name": "search"}, "tool"),
        ({"gen_ai.request.model": "gpt-4o"}, "llm"),
        ({"llm.model_name": "gpt-4o"}, "llm"),
        ({}, "chain"),
    ],
)
def test_a_spans_kind_is_read_from_the_first_convention_that_states_one(attributes: dict, run_type: str) -> None:
    assert read_span(attributes).run_type == run_type


def test_a_tool_span_is_named_by_its_tool_and_a_task_by_its_function() -> None:
    assert read_span({"tool.name": "search", "gen_ai.tool.name": "other"}).name == "search"
    assert read_span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}).name == "lookup"
    assert read_span({"gen_ai.operation.name": "execute_tool"}).name == "span name"
    assert read_span({"traceloop.entity.name": "plan_trip", "traceloop.span.kind": "task"}).name == "plan_trip"
    assert read_span({"gen_ai.tool.name": "x", "gen_ai.operation.name": "chat"}).name == "span name"  # not a tool
    assert read_span({}, name=None, span_name="snake name").name == "snake name"
    assert read_span({}, name=None).name == "span"


def test_model_agent_cost_and_the_graders_role_come_from_their_attributes() -> None:
    run = read_span(
        {
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.agent.name": "planner",
            "graph.node.id": "node-3",
            "llm.cost.total": 0.0042,
        }
    )
    assert (run.model, run.agent, run.cost, run.actor) == ("gpt-4o-2024-08-06", "planner", 0.0042, None)
    assert read_span({"llm.model_name": "claude", "gen_ai.response.model": "x"}).model == "claude"
    assert read_span({"gen_ai.request.model": "gpt-4o"}).model == "gpt-4o"
    assert read_span({"agent.name": "a", "gen_ai.agent.name": "b"}).agent == "a"
    assert read_span({"graph.node.id": "node-3"}).agent == "node-3"
    assert read_span({"openinference.span.kind": "evaluator"}).actor == "environment"
    assert read_span({"openinference.span.kind": "LLM"}).actor is None


def test_a_tools_arguments_and_result_are_its_input_and_output() -> None:
    run = read_span({"tool.name": "search", "tool.parameters": '{"q": "fare"}', "gen_ai.tool.call.result": '{"n": 2}'})
    assert (run.inputs, run.outputs) == ({"arguments": {"q": "fare"}}, {"output": {"n": 2}})
    genai = read_span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": {"q": 1}})
    assert genai.inputs == {"arguments": {"q": 1}} and genai.outputs is None
    # A tool span that already has an OpenInference input keeps it rather than the arguments.
    both = read_span({"tool.name": "s", "tool.parameters": "{}", "input.value": '{"query": "x"}'})
    assert both.inputs == {"arguments": {}, "input": {"query": "x"}}
    # Arguments on a span that is not a tool are not its input.
    assert read_span({"tool.parameters": "{}", "openinference.span.kind": "LLM"}).inputs == {}


def test_a_model_calls_system_prompt_and_messages_in_each_convention() -> None:
    parts = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Fare?"}]}])
    system = json.dumps([{"type": "text", "content": "You are TravelBot."}])
    run = read_span(
        {"gen_ai.operation.name": "chat", "gen_ai.input.messages": parts, "gen_ai.system_instructions": system}
    )
    assert run.inputs == {"system": "You are TravelBot.", "messages": [{"role": "user", "content": "Fare?"}]}
    vercel = read_span({"ai.prompt.messages": '[{"role": "user", "content": "Fare?"}]', "ai.response.text": "397.8"})
    assert (vercel.inputs, vercel.outputs) == (
        {"messages": [{"role": "user", "content": "Fare?"}]},
        {"output": "397.8"},
    )
    # Messages read from a convention win over the Vercel copy and over OpenInference's raw value.
    both = read_span({"gen_ai.input.messages": parts, "ai.prompt.messages": "[]", "input.value": "raw"})
    assert both.inputs == {"messages": [{"role": "user", "content": "Fare?"}]}
    openinference = read_span({"input.value": '{"q": 1}', "output.value": "done"})
    assert (openinference.inputs, openinference.outputs) == ({"input": {"q": 1}}, {"output": "done"})


def test_traceloop_entities_and_the_oldest_single_attributes_are_read_when_nothing_else_is() -> None:
    task = read_span({"traceloop.entity.input": '{"args": [1]}', "traceloop.entity.output": "not json"})
    assert (task.inputs, task.outputs) == ({"input": {"args": [1]}}, {"output": "not json"})
    oldest = read_span({"gen_ai.prompt": '{"text": "hi"}', "gen_ai.completion": "hello"})
    assert (oldest.inputs, oldest.outputs) == ({"prompt": {"text": "hi"}}, {"completion": "hello"})
    # Once a convention gave an input, the oldest form adds nothing.
    newer = read_span({"input.value": "x", "gen_ai.prompt": "old", "output.value": "y", "gen_ai.completion": "old"})
    assert (newer.inputs, newer.outputs) == ({"input": "x"}, {"output": "y"})


def test_content_sent_as_a_details_log_record_fills_what_the_span_left_out() -> None:
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "From the log."}]}])
    details = {"name": "gen_ai.client.inference.operation.details", "attributes": {"gen_ai.input.messages": messages}}
    run = read_span({"gen_ai.operation.name": "chat"}, events=[details])
    assert run.inputs == {"messages": [{"role": "user", "content": "From the log."}]}
    stated = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "On the span."}]}])
    kept = read_span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": stated}, events=[details])
    assert kept.inputs == {"messages": [{"role": "user", "content": "On the span."}]}


def test_a_time_out_of_range_is_passed_on_so_the_trace_says_it_was_ignored() -> None:
    [trace] = load_otlp({"trace_id": "t1", "spans": [{"span_id": "s1", "name": "n", "start_time": "year 99999"}]})
    assert trace.root.start_time is None and any(w.code == "bad_time" for w in trace.warnings)
    [fine] = load_otlp({"trace_id": "t1", "spans": [{"span_id": "s1", "name": "n", "start_time": "0", "end_time": 0}]})
    assert not any(w.code == "bad_time" for w in fine.warnings)


def test_snake_case_span_attributes_and_a_span_without_id_are_read_too() -> None:
    record = {"name": "n", "start_time": START, "span_attributes": {"tool.name": "search"}}
    [trace] = load_otlp({"trace_id": "t1", "spans": [record]})
    assert trace.root.run_type == "tool" and trace.root.name == "search"
    assert any(w.code == "missing_id" for w in trace.warnings)  # given a positional id, and said


def test_span_times_in_nanoseconds_or_iso_with_or_without_a_zone_read_as_utc() -> None:
    from datetime import UTC, datetime

    expected = datetime(2026, 1, 1, tzinfo=UTC)
    for given in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00", "1767225600000000000"):
        assert read_span({}, start_time=given).start_time == expected
    assert read_span({}, start_time=1767225600000000000).start_time == expected
    assert read_span({}, start_time="1" * 400).start_time is None  # digits past any date: no time


def test_events_in_each_exporters_form_feed_the_messages_and_the_error() -> None:
    events = [
        "junk",
        {"event_attributes": {"event.name": "gen_ai.user.message", "content": "snake-case event"}},
        {"eventName": "gen_ai.assistant.message", "body": {"content": "a decoded body", "role": "assistant"}},
        {"event_name": "exception", "event_attributes": {"exception.type": "ValueError", "exception.message": "bad"}},
    ]
    run = read_span({"gen_ai.operation.name": "chat"}, events=events, status="not an object")
    assert run.inputs["messages"][0] == {"role": "user", "content": "snake-case event"}
    assert run.inputs["messages"][1]["role"] == "assistant"
    assert run.error == "ValueError: bad" and run.status == "error"


def test_an_openinference_message_without_a_role_says_so() -> None:
    run = read_span({"llm.input_messages.0.message.content": "hi", "openinference.span.kind": "LLM"})
    assert run.inputs["messages"] == [{"role": "unknown", "content": "hi"}]
