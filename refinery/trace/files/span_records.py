"""Span records in the OpenTelemetry SDK's own JSON shape, as two producers write them:

- Arize Phoenix, as a REST span list (``{"data": [...]}``), a JSONL of spans, or named groups
  of span lists: ``context.trace_id``/``span_id``, ``parent_id``, ``span_kind``, nested
  ``attributes``, ``status_code``, events;
- the OpenTelemetry SDK's ``ConsoleSpanExporter``: the same records, pretty-printed one after
  another (concatenated JSON objects), with ``status.status_code`` and 0x-prefixed ids.

Each record is mapped to the OTLP reader's span form, so the same semantic conventions apply.
"""

from __future__ import annotations

from typing import Any

from refinery.trace.assemble import RunDraft
from refinery.trace.files.otlp import assemble_spans, draft_from_span
from refinery.trace.model import Trace


def _is_record(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("context"), dict)
        and "span_id" in item["context"]
        and "name" in item
    )


def _records(data: Any) -> list[dict[str, Any]] | None:
    """The span records ``data`` holds, or None when it is not this format."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if isinstance(data, list):
        return data if data and all(_is_record(item) for item in data[:20]) else None
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        groups = [_records(v) for v in data.values()]
        if any(g is None for g in groups):
            return None
        return [r for g in groups for r in g or []]
    return None


def is_span_records(data: Any) -> bool:
    return _records(data) is not None


def _hex(value: Any) -> str:
    text = str(value or "")
    return text[2:] if text.startswith("0x") else text


def _span(record: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = record["status"] if isinstance(record.get("status"), dict) else {}
    code = record.get("status_code") or status.get("status_code")
    attributes = dict(record.get("attributes") or {})
    if record.get("span_kind") and "openinference.span.kind" not in attributes:
        attributes["openinference.span.kind"] = record["span_kind"]  # Phoenix keeps the kind beside them
    return {
        "name": record.get("name"),
        "span_id": _hex(record["context"].get("span_id")),
        "trace_id": _hex(record["context"].get("trace_id")),
        "parent_span_id": _hex(record.get("parent_id")) or None,
        "start_time": record.get("start_time"),
        "end_time": record.get("end_time"),
        "status_code": code,
        "status_message": record.get("status_message") or status.get("description"),
        "attributes": attributes,
        "events": [
            {"name": e.get("name"), "timestamp": e.get("timestamp"), "attributes": e.get("attributes") or {}}
            for e in record.get("events") or []
            if isinstance(e, dict)
        ],
        "span_kind": record.get("span_kind") or record.get("kind"),
    }


def load_span_records(data: Any) -> list[Trace]:
    records = _records(data) or []
    drafts: list[RunDraft] = [draft_from_span(_span(r)) for r in records]
    return assemble_spans(drafts, "file:spans")
