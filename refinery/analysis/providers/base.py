"""The interface every model back-end implements for the four stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from refinery.documents.render import DocumentSet
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport


class Usage(BaseModel):
    """Tokens one call (or a sum of calls) used."""

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


def total_usage(items: list[Usage]) -> Usage:
    total = Usage()
    for item in items:
        total = total + item
    return total


def reask_turns(reply: str, problem: str) -> list[dict[str, str]]:
    """The two turns of the one re-ask: the invalid reply, and what was wrong with it."""
    return [
        {"role": "assistant", "content": reply or "(empty reply)"},
        {
            "role": "user",
            "content": f"That reply does not match the required JSON schema: {problem}. "
            "Reply again with only a JSON object that matches the schema.",
        },
    ]


@dataclass(frozen=True)
class StageCall:
    """One stage to run: its schema, its texts, and whether it searches the documents."""

    stage: str
    schema_name: str
    output_model: type[BaseModel]
    system_text: str
    user_text: str
    use_documents: bool
    max_output_tokens: int


@dataclass
class StageReply:
    """A validated stage output and what it cost."""

    output: BaseModel
    raw_text: str
    usage: Usage
    attempts: int
    response_ids: list[str] = field(default_factory=list)
    provider: str = ""
    model: str = ""


@dataclass
class AnalysisContext:
    """Where the documents live for the duration of one analysis."""

    trace: Trace
    documents: DocumentSet
    store_id: str | None = None
    file_ids: list[str] = field(default_factory=list)
    owned: bool = True
    """False for a store the user passed in (--store-id): never delete it."""
    extra: dict[str, Any] = field(default_factory=dict)


class AnalysisProvider(Protocol):
    """A model back-end able to run the stages over a trace's documents."""

    name: str
    model: str

    def open_context(
        self, trace: Trace, documents: DocumentSet, *, triage: TriageReport | None = None, store_id: str | None = None
    ) -> AnalysisContext:
        """Make the documents available to the model (upload, or pack inline by triage priority)."""
        ...

    def run_stage(self, call: StageCall, context: AnalysisContext) -> StageReply:
        """Run one stage and return its validated output."""
        ...

    def close_context(self, context: AnalysisContext) -> list[str]:
        """Release what open_context created; returns warnings instead of raising."""
        ...
