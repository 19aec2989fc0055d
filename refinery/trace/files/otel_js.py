"""OpenTelemetry JS ``ReadableSpan`` arrays, as the JS SDK's exporters and test fixtures hold them:
``spanContext.traceId``/``spanId``, ``parentSpanId`` (or ``parentSpanContext``), HrTime
``[seconds, nanoseconds]`` times, ``status.code``, flat ``attributes`` and events.
"""

from __future__ import annotations

from typing import Any

from refinery.trace.assemble import RunDraft
from refinery.trace.files.otlp import assemble_spans, draft_from_span
from refinery.trace.model import Trace


def _is_span(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("spanContext"), dict) and "name" in item


def is_otel_js(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and all(_is_span(item) for item in data[:20])


def _nanos(hrtime: Any) -> int | None:
    if isinstance(hrtime, list) and len(hrtime) == 2 and all(isinstance(v, int) for v in hrtime):
        return int(hrtime[0]) * 1_000_000_000 + int(hrtime[1])
    return None


def _span(item: dict[str, Any]) -> dict[str, Any]:
    context = item["spanContext"]
    parent_context: dict[str, Any] = (
        item["parentSpanContext"] if isinstance(item.get("parentSpanContext"), dict) else {}
    )
    parent = item.get("parentSpanId") or parent_context.get("spanId")
    status: dict[str, Any] = item["status"] if isinstance(item.get("status"), dict) else {}
    return {
        "name": item.get("name"),
        "spanId": context.get("spanId"),
        "traceId": context.get("traceId"),
        "parentSpanId": parent,
        "startTimeUnixNano": _nanos(item.get("startTime")),
        "endTimeUnixNano": _nanos(item.get("endTime")),
        "status": {"code": status.get("code"), "message": status.get("message")},
        "attributes": item.get("attributes") or {},
        "events": [
            {"name": e.get("name"), "timeUnixNano": _nanos(e.get("time")), "attributes": e.get("attributes") or {}}
            for e in item.get("events") or []
            if isinstance(e, dict)
        ],
        "kind": item.get("kind"),
    }


def load_otel_js(data: list[dict[str, Any]]) -> list[Trace]:
    drafts: list[RunDraft] = [draft_from_span(_span(item)) for item in data]
    return assemble_spans(drafts, "file:otel-js")
