"""What a span says, under every convention: its run type, inputs and outputs.

Spans carry a model call's messages and a tool's arguments and result in the attributes of
OpenInference (``llm.input_messages.N.message.*``, ``input.value``, ``tool.parameters``), the
OpenTelemetry GenAI conventions (``gen_ai.*``, read by ``genai.py``), OpenLLMetry and the
Traceloop SDK (``traceloop.span.kind``, ``traceloop.entity.input``) and the Vercel AI SDK
(``ai.prompt.messages``). The exporters (OTLP, Phoenix, the console, OTel JS) share this.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from refinery.trace.files.genai import event_messages, flattened_messages, maybe_json, normalize_messages, system_text

_OI_KIND = {
    "LLM": "llm",
    "CHAIN": "chain",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "EMBEDDING": "embedding",
    "AGENT": "agent",
    "RERANKER": "retriever",
    "GUARDRAIL": "chain",
    "EVALUATOR": "chain",
    "PROMPT": "prompt",
}
_GENAI_OPERATION = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_TRACELOOP_KIND = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}


def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Rebuild ``prefix.N.rest`` attributes into a list of nested dicts."""
    items: dict[int, dict[str, Any]] = defaultdict(dict)
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        index, _, rest = key[len(prefix) + 1 :].partition(".")
        if index.isdigit() and rest:
            items[int(index)][rest] = value
    return [items[i] for i in sorted(items)]


def _messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    out = []
    for item in _indexed(attrs, prefix):
        msg: dict[str, Any] = {"role": item.get("message.role", "unknown")}
        if "message.content" in item:
            msg["content"] = item["message.content"]
        calls = _indexed({k: v for k, v in item.items()}, "message.tool_calls")
        if calls:
            msg["tool_calls"] = [
                {
                    "id": c.get("tool_call.id"),
                    "type": "function",
                    "function": {
                        "name": c.get("tool_call.function.name"),
                        "arguments": c.get("tool_call.function.arguments"),
                    },
                }
                for c in calls
            ]
        if item.get("message.tool_call_id"):
            msg["tool_call_id"] = item["message.tool_call_id"]
        out.append(msg)
    return out


def actor_of(attrs: dict[str, Any]) -> str | None:
    """``environment`` for an OpenInference EVALUATOR span: a grader judges the system, it is not part of it."""
    kind = attrs.get("openinference.span.kind")
    return "environment" if isinstance(kind, str) and kind.upper() == "EVALUATOR" else None


def run_type_of(attrs: dict[str, Any], name: str) -> str:
    traceloop = attrs.get("traceloop.span.kind")
    if isinstance(traceloop, str) and traceloop in _TRACELOOP_KIND:
        return _TRACELOOP_KIND[traceloop]
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OI_KIND:
        return _OI_KIND[kind.upper()]
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_OPERATION:
        return _GENAI_OPERATION[operation]
    if "tool.name" in attrs or "gen_ai.tool.name" in attrs:
        return "tool"
    if "llm.model_name" in attrs or "gen_ai.request.model" in attrs:
        return "llm"
    return "chain"


def span_io(
    attrs: dict[str, Any], run_type: str, events: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    event_in, event_out = event_messages(events)
    in_msgs = (
        _messages(attrs, "llm.input_messages")
        or normalize_messages(attrs.get("gen_ai.input.messages"))
        or flattened_messages(attrs, "gen_ai.prompt")
        or event_in
    )
    out_msgs = (
        _messages(attrs, "llm.output_messages")
        or normalize_messages(attrs.get("gen_ai.output.messages"))
        or flattened_messages(attrs, "gen_ai.completion")
        or event_out
    )
    system = attrs.get("gen_ai.system_instructions")
    if system:
        inputs["system"] = system_text(system)
    if in_msgs:
        inputs["messages"] = in_msgs
    if out_msgs:
        outputs["messages"] = out_msgs
    if run_type == "tool":
        args = first_present(attrs, "tool.parameters", "gen_ai.tool.call.arguments")
        if args is not None and "input" not in inputs:
            inputs["arguments"] = maybe_json(args)
        result = attrs.get("gen_ai.tool.call.result")
        if result is not None:
            outputs["output"] = maybe_json(result)
    if "ai.prompt.messages" in attrs and not inputs.get("messages"):  # the Vercel AI SDK's own attributes
        inputs["messages"] = maybe_json(attrs["ai.prompt.messages"])
    if "ai.response.text" in attrs and not outputs:
        outputs["output"] = attrs["ai.response.text"]
    for key, into in (("traceloop.entity.input", inputs), ("traceloop.entity.output", outputs)):
        if key in attrs and not into:  # OpenLLMetry's workflow and task spans
            into["input" if into is inputs else "output"] = _entity_value(attrs[key])
    if "input.value" in attrs and not inputs.get("messages"):
        inputs["input"] = maybe_json(attrs["input.value"])
    if "output.value" in attrs and not outputs.get("messages"):
        outputs["output"] = maybe_json(attrs["output.value"])
    for legacy_in, legacy_out in (("gen_ai.prompt", "gen_ai.completion"),):  # one JSON attribute, the oldest form
        if legacy_in in attrs and not inputs:
            inputs["prompt"] = maybe_json(attrs[legacy_in])
        if legacy_out in attrs and not outputs:
            outputs["completion"] = maybe_json(attrs[legacy_out])
    return inputs, (outputs or None)


def first_present(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if attrs.get(key) is not None:
            return attrs[key]
    return None


CONSUMED_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "input.value",
    "output.value",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "tool.parameters",
    "traceloop.entity.input",
    "traceloop.entity.output",
    "ai.prompt.messages",
    "ai.response.text",
)


def _entity_value(value: Any) -> Any:
    """The Traceloop SDK writes a task's input and output with ``json.dumps``: read them back whole."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
