"""OpenTelemetry spans: OTLP/JSON (``resourceSpans/scopeSpans/spans``) and nested span trees.

Span attributes follow the OpenInference conventions (``openinference.span.kind``,
``input.value``, ``llm.token_count.*``, ``llm.input_messages.N.message.*``) or the
OpenTelemetry GenAI ones (``gen_ai.operation.name``, ``gen_ai.usage.*``). Both are
mapped to run types, inputs/outputs and tokens; every other attribute is kept in metadata.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from refinery.trace.assemble import RunDraft, assemble_trace
from refinery.trace.bounds import epoch_datetime
from refinery.trace.model import Trace

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
_STATUS_ERROR = {2, "2", "STATUS_CODE_ERROR", "ERROR", "Error"}
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$")


def _any_value(value: Any) -> Any:
    """Decode an OTLP/JSON AnyValue."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(items: Any) -> dict[str, Any]:
    if isinstance(items, dict):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items or []:
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = _any_value(item.get("value"))
    return out


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


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
                    "name": c.get("tool_call.function.name"),
                    "arguments": _maybe_json(c.get("tool_call.function.arguments")),
                }
                for c in calls
            ]
        if item.get("message.tool_call_id"):
            msg["tool_call_id"] = item["message.tool_call_id"]
        out.append(msg)
    return out


def _nanos(value: Any) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return epoch_datetime(float(value) / 1e9) if len(str(value)) <= 30 else None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(value: Any) -> timedelta | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return timedelta(microseconds=value / 1000)  # nanoseconds
    match = _ISO_DURATION.match(str(value))
    if match:
        d, h, m, s = match.groups()
        return timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(m or 0), seconds=float(s or 0))
    return None


def _run_type(attrs: dict[str, Any], name: str) -> str:
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


def _io(attrs: dict[str, Any], run_type: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    in_msgs = _messages(attrs, "llm.input_messages") or _maybe_json(attrs.get("gen_ai.input.messages"))
    out_msgs = _messages(attrs, "llm.output_messages") or _maybe_json(attrs.get("gen_ai.output.messages"))
    system = attrs.get("gen_ai.system_instructions")
    if system:
        inputs["system"] = _maybe_json(system)
    if in_msgs:
        inputs["messages"] = in_msgs
    if out_msgs:
        outputs["messages"] = out_msgs
    if run_type == "tool":
        args = _first_present(attrs, "tool.parameters", "gen_ai.tool.call.arguments")
        if args is not None and "input" not in inputs:
            inputs["arguments"] = _maybe_json(args)
        result = attrs.get("gen_ai.tool.call.result")
        if result is not None:
            outputs["output"] = _maybe_json(result)
    if "ai.prompt.messages" in attrs and not inputs.get("messages"):  # the Vercel AI SDK's own attributes
        inputs["messages"] = _maybe_json(attrs["ai.prompt.messages"])
    if "ai.response.text" in attrs and not outputs:
        outputs["output"] = attrs["ai.response.text"]
    if "input.value" in attrs and not inputs.get("messages"):
        inputs["input"] = _maybe_json(attrs["input.value"])
    if "output.value" in attrs and not outputs.get("messages"):
        outputs["output"] = _maybe_json(attrs["output.value"])
    for legacy_in, legacy_out in (("gen_ai.prompt", "gen_ai.completion"),):
        if legacy_in in attrs and not inputs:
            inputs["prompt"] = _maybe_json(attrs[legacy_in])
        if legacy_out in attrs and not outputs:
            outputs["completion"] = _maybe_json(attrs[legacy_out])
    return inputs, (outputs or None)


def _first_present(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if attrs.get(key) is not None:
            return attrs[key]
    return None


_CONSUMED_PREFIXES = (
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
    "ai.prompt.messages",
    "ai.response.text",
)


def draft_from_span(span: dict[str, Any], resource: dict[str, Any] | None = None) -> RunDraft:
    """Map one span (OTLP/JSON camelCase or nested snake_case) to a RunDraft."""
    attrs = _attributes(span.get("attributes") if "attributes" in span else span.get("span_attributes"))
    name = str(span.get("name") or span.get("span_name") or "span")
    run_type = _run_type(attrs, name)
    inputs, outputs = _io(attrs, run_type)
    given_start = span.get("startTimeUnixNano") or span.get("start_time") or span.get("timestamp")
    given_end = span.get("endTimeUnixNano") or span.get("end_time")
    start, end = _nanos(given_start), _nanos(given_end)
    if end is None and start is not None:
        duration = _duration(span.get("duration"))
        end = start + duration if duration is not None else None

    status = span.get("status") or {}
    code = status.get("code") if isinstance(status, dict) else None
    code = span.get("status_code", code)
    message = (status.get("message") if isinstance(status, dict) else None) or span.get("status_message")
    events = []
    exceptions = []
    for event in span.get("events") or []:
        if not isinstance(event, dict):
            continue
        event_attrs = _attributes(event.get("attributes") or event.get("event_attributes"))
        name_ = event.get("name") or event.get("event_name")
        events.append(
            {"name": name_, "time": str(event.get("timeUnixNano") or event.get("timestamp") or ""), **event_attrs}
        )
        if name_ == "exception":
            text = ": ".join(str(event_attrs[k]) for k in ("exception.type", "exception.message") if event_attrs.get(k))
            stack = str(event_attrs.get("exception.stacktrace") or "")
            exceptions.append(stack if text in stack else "\n".join(filter(None, [text, stack])))
    for log in span.get("logs") or []:
        if isinstance(log, dict):
            events.append({"name": "log", **{k: v for k, v in log.items() if k != "body"}, "body": log.get("body")})
    error = None
    if code in _STATUS_ERROR or exceptions:
        parts: list[str] = []
        for part in filter(None, [*exceptions, message]):
            if not any(part in seen for seen in parts):
                parts.append(part)
        error = "\n".join(parts).strip() or "span status ERROR"

    metadata = {k: v for k, v in attrs.items() if not any(k == p or k.startswith(p) for p in _CONSUMED_PREFIXES)}
    if resource:
        metadata["resource"] = resource
    for key in ("kind", "span_kind", "service_name"):
        if span.get(key) not in (None, ""):
            metadata[f"otel.{key}"] = span[key]
    prompt_tokens = _first_present(
        attrs,
        "llm.token_count.prompt",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "ai.usage.promptTokens",
    )
    completion_tokens = _first_present(
        attrs,
        "llm.token_count.completion",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "ai.usage.completionTokens",
        "ai.usage.outputTokens",
    )
    total = attrs.get("llm.token_count.total")
    if total is None and (prompt_tokens is not None or completion_tokens is not None):
        total = int(prompt_tokens or 0) + int(completion_tokens or 0)
    return {
        "id": str(span.get("spanId") or span.get("span_id") or ""),
        "parent_id": span.get("parentSpanId") or span.get("parent_span_id") or None,
        "trace_id": str(span.get("traceId") or span.get("trace_id") or ""),
        "name": str(attrs.get("tool.name") or attrs.get("gen_ai.tool.name") or name) if run_type == "tool" else name,
        "run_type": run_type,
        "inputs": inputs,
        "outputs": outputs,
        "error": error,
        # A time given but out of range is passed on as given, so that assembly warns about it.
        "start_time": start if start is not None or given_start in (None, "", 0, "0") else str(given_start),
        "end_time": end if end is not None or given_end in (None, "", 0, "0") else str(given_end),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total,
        "cost": attrs.get("llm.cost.total"),
        "model": _first_present(attrs, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model"),
        "agent": _first_present(attrs, "agent.name", "gen_ai.agent.name", "graph.node.id"),
        "tags": [],
        "metadata": metadata,
        "events": events,
        "status": "error" if error else None,
    }


def _otlp_spans(payload: dict[str, Any]) -> list[RunDraft]:
    drafts = []
    for resource_spans in payload.get("resourceSpans") or []:
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []:
            for span in scope_spans.get("spans") or []:
                if isinstance(span, dict):
                    drafts.append(draft_from_span(span, resource or None))
    return drafts


def _nested_spans(spans: list[Any], trace_id: str | None) -> list[RunDraft]:
    drafts = []
    stack: list[tuple[Any, str | None]] = [(s, None) for s in reversed(spans)]
    while stack:
        span, parent = stack.pop()
        if not isinstance(span, dict):
            continue
        draft = draft_from_span(span)
        if parent and not draft["parent_id"]:
            draft["parent_id"] = parent
        if trace_id and not draft["trace_id"]:
            draft["trace_id"] = trace_id
        drafts.append(draft)
        stack.extend((c, draft["id"]) for c in reversed(span.get("child_spans") or []))
    return drafts


def is_otlp(data: Any) -> bool:
    """OTLP/JSON export request, a JSONL of them, or a nested span tree."""
    if isinstance(data, list):
        return bool(data) and all(isinstance(d, dict) and "resourceSpans" in d for d in data)
    return isinstance(data, dict) and (
        "resourceSpans" in data
        or (
            isinstance(data.get("spans"), list)
            and any(isinstance(s, dict) and ("span_id" in s or "spanId" in s) for s in data["spans"])
        )
    )


def assemble_spans(drafts: list[RunDraft], source: str) -> list[Trace]:
    """One trace per trace id, from span drafts of any export format."""
    groups: dict[str, list[RunDraft]] = defaultdict(list)
    for draft in drafts:
        groups[draft["trace_id"]].append(draft)
    return [assemble_trace(group, source=source) for group in groups.values()]


def load_otlp(data: Any) -> list[Trace]:
    """Traces from OTLP/JSON or nested spans, one per trace id."""
    payloads = data if isinstance(data, list) else [data]
    drafts: list[RunDraft] = []
    for payload in payloads:
        if "resourceSpans" in payload:
            drafts.extend(_otlp_spans(payload))
        else:
            drafts.extend(_nested_spans(payload.get("spans") or [], payload.get("trace_id")))
    return assemble_spans(drafts, "file:otlp")
