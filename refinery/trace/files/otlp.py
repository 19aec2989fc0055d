"""OpenTelemetry spans: OTLP/JSON (``resourceSpans/scopeSpans/spans``) and nested span trees.

Span attributes follow the OpenInference conventions (``openinference.span.kind``,
``input.value``, ``llm.token_count.*``, ``llm.input_messages.N.message.*``) or the
OpenTelemetry GenAI ones (``gen_ai.operation.name``, ``gen_ai.usage.*``). Both are
mapped to run types, inputs/outputs and tokens; every other attribute is kept in metadata.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from refinery.trace.assemble import RunDraft, assemble_trace
from refinery.trace.bounds import epoch_datetime
from refinery.trace.files.genai import add_tool_runs
from refinery.trace.files.span_content import (
    CONSUMED_PREFIXES,
    DETAILS_EVENT,
    actor_of,
    first_present,
    run_type_of,
    span_io,
)
from refinery.trace.model import Trace

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
        return _attributes((value["kvlistValue"] or {}).get("values"))
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


def _nanos(value: Any) -> datetime | None:
    if value in (None, 0, "0"):  # an unset OTLP time is zero, not the epoch
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return epoch_datetime(float(value) / 1e9)  # too many digits: infinite, so no time
    try:
        parsed = datetime.fromisoformat(str(value))  # "Z" included, since Python 3.11
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(value: Any) -> timedelta | None:
    if isinstance(value, (int, float)):
        return timedelta(microseconds=value / 1000)  # nanoseconds
    match = _ISO_DURATION.match(str(value))
    if match:
        d, h, m, s = match.groups()
        return timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(m or 0), seconds=float(s or 0))
    return None


def _event_dicts(span: dict[str, Any]) -> list[dict[str, Any]]:
    """The span's events (and the log records attached to it) as flat dicts."""
    out = []
    for event in [*(span.get("events") or []), *(span.get("_log_events") or [])]:
        if isinstance(event, dict):
            attrs = _attributes(event.get("attributes") or event.get("event_attributes"))
            body = event.get("body")
            out.append(
                {
                    "name": event.get("name") or event.get("eventName") or attrs.get("event.name"),
                    **attrs,
                    **(
                        {"body": _any_value(body) if isinstance(body, dict) and len(body) == 1 else body}
                        if body is not None
                        else {}
                    ),
                }
            )
    return out


def draft_from_span(span: dict[str, Any], resource: dict[str, Any] | None = None) -> RunDraft:
    """Map one span (OTLP/JSON camelCase or nested snake_case) to a RunDraft."""
    attrs = _attributes(span.get("attributes") if "attributes" in span else span.get("span_attributes"))
    # The Traceloop SDK names its spans "<function>.task"; the function's own name is the run's.
    name = str(attrs.get("traceloop.entity.name") or span.get("name") or span.get("span_name") or "span")
    run_type = run_type_of(attrs, name)
    for event in _event_dicts(span):
        if event.get("name") == DETAILS_EVENT:  # content sent as a log record instead of on the span
            attrs.update({k: v for k, v in event.items() if k.startswith("gen_ai.") and k not in attrs})
    inputs, outputs = span_io(attrs, run_type, _event_dicts(span))
    given_start = span.get("startTimeUnixNano") or span.get("start_time") or span.get("timestamp")
    given_end = span.get("endTimeUnixNano") or span.get("end_time")
    start, end = _nanos(given_start), _nanos(given_end)
    if end is None and start is not None:
        duration = _duration(span.get("duration"))
        end = start + duration if duration is not None else None
    events, error = _events_and_error(span)
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
        **_token_counts(attrs),
        "cost": attrs.get("llm.cost.total"),
        "model": first_present(attrs, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model"),
        "agent": first_present(attrs, "agent.name", "gen_ai.agent.name", "graph.node.id"),
        "actor": actor_of(attrs),
        "tags": [],
        "metadata": _span_metadata(span, attrs, resource),
        "events": events,
        "status": "error" if error else None,
    }


def _events_and_error(span: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The span's events and logs as run events, and its error: the status message and any exceptions."""
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
    if not (code in _STATUS_ERROR or exceptions):
        return events, None
    parts: list[str] = []
    for part in filter(None, [*exceptions, message]):
        if not any(part in seen for seen in parts):
            parts.append(part)
    return events, "\n".join(parts).strip() or "span status ERROR"


def _span_metadata(span: dict[str, Any], attrs: dict[str, Any], resource: dict[str, Any] | None) -> dict[str, Any]:
    """The attributes no field took, the resource, and the span's kind and service."""
    metadata = {k: v for k, v in attrs.items() if not any(k == p or k.startswith(p) for p in CONSUMED_PREFIXES)}
    if resource:
        metadata["resource"] = resource
    for key in ("kind", "span_kind", "service_name"):
        if span.get(key) not in (None, ""):
            metadata[f"otel.{key}"] = span[key]
    return metadata


def _token_counts(attrs: dict[str, Any]) -> dict[str, Any]:
    """Prompt, completion and total tokens, by whichever convention the producer wrote them."""
    prompt_tokens = first_present(
        attrs,
        "llm.token_count.prompt",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "ai.usage.promptTokens",
    )
    completion_tokens = first_present(
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
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}


def _log_events(payloads: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """OTLP log records tied to a span (GenAI events emitted through the Logs API), by span id."""
    by_span: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for payload in payloads:
        for resource_logs in payload.get("resourceLogs") or []:
            for scope_logs in resource_logs.get("scopeLogs") or []:
                for record in scope_logs.get("logRecords") or []:
                    if isinstance(record, dict) and record.get("spanId"):
                        by_span[str(record["spanId"])].append(record)
    return by_span


def _otlp_spans(payload: dict[str, Any], logs: dict[str, list[dict[str, Any]]] | None = None) -> list[RunDraft]:
    drafts = []
    for resource_spans in payload.get("resourceSpans") or []:
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []:
            for span in scope_spans.get("spans") or []:
                if isinstance(span, dict):
                    records = (logs or {}).get(str(span.get("spanId")))
                    drafts.append(
                        draft_from_span({**span, "_log_events": records} if records else span, resource or None)
                    )
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
        return (
            bool(data)
            and all(isinstance(d, dict) and ("resourceSpans" in d or "resourceLogs" in d) for d in data)
            and any("resourceSpans" in d for d in data)
        )
    return isinstance(data, dict) and (
        "resourceSpans" in data
        or (
            isinstance(data.get("spans"), list)
            and any(isinstance(s, dict) and ("span_id" in s or "spanId" in s) for s in data["spans"])
        )
    )


def assemble_spans(drafts: list[RunDraft], source: str) -> list[Trace]:
    """One trace per trace id, from span drafts of any export format; every tool call a run."""
    groups: dict[str, list[RunDraft]] = defaultdict(list)
    for draft in drafts:
        groups[draft["trace_id"]].append(draft)
    return [assemble_trace(add_tool_runs(group), source=source) for group in groups.values()]


def load_otlp(data: Any) -> list[Trace]:
    """Traces from OTLP/JSON or nested spans, one per trace id."""
    payloads = data if isinstance(data, list) else [data]
    logs = _log_events(payloads)
    drafts: list[RunDraft] = []
    for payload in payloads:  # a logs-only request holds no spans: its records were read above
        if "resourceSpans" in payload:
            drafts.extend(_otlp_spans(payload, logs))
        else:
            drafts.extend(_nested_spans(payload.get("spans") or [], payload.get("trace_id")))
    return assemble_spans(drafts, "file:otlp")
