"""A small synthetic sample in TRAIL's shape, so CI exercises the TRAIL scoring path.

TRAIL itself is gated (its terms forbid resharing it), so nothing of it is in this repository;
these traces are made up, in the dataset's format: an OpenInference span tree per trace and
``{"trace_id", "errors": [{"category", "location", ...}]}`` labels, one JSONL row each. Each
trace has one failure triage can see (a span in error) and one it cannot (a hallucination
in an LLM's text), so the baseline's scores are neither 0 nor 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FAILURES = [
    ("429 Too Many Requests: rate limit exceeded for web_search", "Rate Limiting"),
    ("TimeoutError: page fetch exceeded 30 s", "Timeout Issues"),
    ("HTTP 404 Not Found: https://example.org/report.pdf", "Resource Not Found"),
]


def _span(span_id: str, name: str, kind: str, start_s: int, children: list[Any], **attrs: Any) -> dict[str, Any]:
    return {
        "span_id": span_id,
        "span_name": name,
        "timestamp": f"2025-03-19T16:45:{start_s:02d}.000Z",
        "duration": "PT1S",
        "status_code": "Unset",
        "status_message": "",
        "span_attributes": {"openinference.span.kind": kind, **attrs},
        "child_spans": children,
    }


def sample_rows() -> list[dict[str, Any]]:
    rows = []
    for i, (message, category) in enumerate(FAILURES):
        tid = f"trail-sample-{i}"
        tool = _span(f"{tid}-tool", "web_search", "TOOL", 3, [], **{"tool.name": "web_search", "input.value": "q"})
        tool["status_code"] = "Error"
        tool["status_message"] = message
        llm = _span(
            f"{tid}-llm",
            "LiteLLMModel.__call__",
            "LLM",
            5,
            [],
            **{"output.value": "The report says revenue grew 40 % in 2024.", "llm.model_name": "gpt-4o"},
        )
        plan = _span(f"{tid}-plan", "LiteLLMModel.__call__", "LLM", 2, [], **{"output.value": "Search the web."})
        root = _span(f"{tid}-root", "CodeAgent.run", "AGENT", 1, [plan, tool, llm], **{"input.value": "task"})
        trace = {"trace_id": tid, "spans": [root]}
        labels = {
            "trace_id": tid,
            "errors": [
                {"category": category, "location": f"{tid}-tool", "evidence": message, "impact": "HIGH"},
                {
                    "category": "Language-only",
                    "location": f"{tid}-llm",
                    "evidence": "no source gives the figure",
                    "impact": "HIGH",
                },
            ],
        }
        rows.append({"trace": json.dumps(trace), "labels": json.dumps(labels)})
    return rows


def write_sample(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in sample_rows()))
    return path
