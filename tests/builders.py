"""Small builders for purpose-made traces (the shapes real sources produce, in few lines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from refinery.trace.assemble import assemble_trace
from refinery.trace.model import Feedback, Trace

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class TraceBuilder:
    """Runs are added in execution order; each gets a start time 1 s after the previous."""

    def __init__(self, root_name: str = "agent", **root: Any) -> None:
        self.drafts: list[dict[str, Any]] = []
        self.root = self.add(root_name, None, "chain", **root)

    def add(self, name: str, parent: str | None, run_type: str = "chain", *, ms: float = 100, **fields: Any) -> str:
        rid = f"r{len(self.drafts):03d}"
        start = T0 + timedelta(seconds=len(self.drafts))
        self.drafts.append(
            {
                "id": rid,
                "parent_id": parent,
                "name": name,
                "run_type": run_type,
                "start_time": start,
                "end_time": start + timedelta(milliseconds=ms),
                **fields,
            }
        )
        return rid

    def llm(
        self,
        parent: str,
        content: str | None = "ok",
        *,
        tool_calls: list[dict[str, Any]] | None = None,
        finish_reason: str = "stop",
        system: str | None = None,
        **fields: Any,
    ) -> str:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "go"}]
        return self.add(
            "ChatOpenAI",
            parent,
            "llm",
            inputs={"messages": messages},
            outputs={"choices": [{"message": message, "finish_reason": finish_reason}]},
            **fields,
        )

    def build(self, feedback: list[Feedback] | None = None, **trace: Any) -> Trace:
        return assemble_trace([dict(d) for d in self.drafts], source="test", feedback=feedback, **trace)


def tool_call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
