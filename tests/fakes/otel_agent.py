"""OTLP/JSON fixtures produced by the real OpenTelemetry SDK and its OTLP encoder.

A tiny agent emits spans with OpenInference or GenAI attributes; the SDK's own OTLP
protobuf encoder serializes them, and ``MessageToDict`` gives the JSON mapping. OTLP/JSON
spells trace and span ids in hex (protobuf's JSON mapping would give base64), so ids are
converted as a collector's file exporter writes them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str) and value:
                out[key] = base64.b64decode(value).hex()
            else:
                out[key] = _hex_ids(value)
        return out
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


@contextmanager
def recorded_provider(service: str, out: dict[str, Any]) -> Iterator[Any]:
    """A tracer provider whose finished spans land in ``out`` as OTLP/JSON (hex ids) when the block ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()
    out.update(_hex_ids(MessageToDict(encode_spans(exporter.get_finished_spans()))))


@contextmanager
def _recorded(service: str, scope: str, out: dict[str, Any]) -> Iterator[Any]:
    """A tracer whose finished spans land in ``out`` as OTLP/JSON (hex ids) when the block ends."""
    with recorded_provider(service, out) as provider:
        yield provider.get_tracer(scope)


def openinference_agent_otlp() -> dict[str, Any]:
    """An OpenInference-instrumented agent whose retriever tool times out."""
    recorded: dict[str, Any] = {}
    with _recorded("docs-agent", "openinference.instrumentation.fixture", recorded) as tracer:
        _openinference_spans(tracer)
    return recorded


def _openinference_spans(tracer: Any) -> None:
    with tracer.start_as_current_span("agent") as agent:
        agent.set_attribute("openinference.span.kind", "AGENT")
        agent.set_attribute("input.value", "How do I rotate my API key?")
        with tracer.start_as_current_span("ChatCompletion") as llm:
            llm.set_attribute("openinference.span.kind", "LLM")
            llm.set_attribute("llm.model_name", "gpt-4.1-mini")
            llm.set_attribute("llm.input_messages.0.message.role", "system")
            llm.set_attribute(
                "llm.input_messages.0.message.content", "You are DocsBot. Search the docs before answering."
            )
            llm.set_attribute("llm.input_messages.1.message.role", "user")
            llm.set_attribute("llm.input_messages.1.message.content", "How do I rotate my API key?")
            llm.set_attribute("llm.output_messages.0.message.role", "assistant")
            llm.set_attribute("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "search_docs")
            llm.set_attribute(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", '{"query": "rotate API key"}'
            )
            llm.set_attribute("llm.token_count.prompt", 512)
            llm.set_attribute("llm.token_count.completion", 24)
            llm.set_attribute("llm.token_count.total", 536)
        with tracer.start_as_current_span("search_docs") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_attribute("tool.name", "search_docs")
            tool.set_attribute("tool.parameters", '{"query": "rotate API key"}')
            tool.record_exception(TimeoutError("search backend timed out after 30s"))
            tool.set_status(Status(StatusCode.ERROR, "TimeoutError: search backend timed out after 30s"))
        with tracer.start_as_current_span("ChatCompletion") as llm2:
            llm2.set_attribute("openinference.span.kind", "LLM")
            llm2.set_attribute("llm.model_name", "gpt-4.1-mini")
            llm2.set_attribute("output.value", "I could not find that in the docs.")
            llm2.set_attribute("llm.token_count.prompt", 560)
            llm2.set_attribute("llm.token_count.completion", 11)
        agent.set_attribute("output.value", "I could not find that in the docs.")


def genai_agent_otlp() -> dict[str, Any]:
    """A GenAI-semconv agent: invoke_agent → chat → execute_tool."""
    recorded: dict[str, Any] = {}
    with _recorded("genai-agent", "genai.fixture", recorded) as tracer:
        _genai_spans(tracer)
    return recorded


def _genai_spans(tracer: Any) -> None:
    with tracer.start_as_current_span("invoke_agent planner") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", "planner")
        with tracer.start_as_current_span("chat gpt-4.1") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4.1")
            chat.set_attribute("gen_ai.usage.input_tokens", 100)
            chat.set_attribute("gen_ai.usage.output_tokens", 20)
            chat.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": "weather?"}]}]),
            )
            chat.set_attribute("gen_ai.response.finish_reasons", ["tool_calls"])
        with tracer.start_as_current_span("execute_tool get_weather") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "get_weather")
            tool.set_attribute("gen_ai.tool.call.arguments", '{"city": "Paris"}')
            tool.set_attribute("gen_ai.tool.call.result", '{"error": "HTTP 503 Service Unavailable"}')
