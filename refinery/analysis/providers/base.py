"""The interface every model back-end implements for the four stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from refinery.documents.render import DocumentSet
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

if TYPE_CHECKING:
    from refinery.analysis.control import RunControl
    from refinery.analysis.cost import StageEstimate
    from refinery.analysis.ratelimit import RateGate
    from refinery.settings import Section, Settings


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


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do beyond running a stage, declared rather than discovered."""

    hosted_documents: bool = False
    """The documents live in a hosted store the model searches (OpenAI's vector stores): a store made
    by ``refinery init`` can be reused (``--store-id``) and kept (``--keep-store``)."""


@dataclass
class AnalysisContext:
    """Where the documents live for the duration of one analysis. Each provider returns its own kind."""

    trace: Trace
    documents: DocumentSet
    triage: TriageReport | None = None


@dataclass
class StoreContext(AnalysisContext):
    """The documents in a hosted vector store."""

    store_id: str = ""
    owned: bool = True
    """False for a store the user passed in (--store-id): never delete it."""
    handle: object | None = None
    """The store manager's handle, to delete the store and its files afterwards."""


@dataclass
class ClosedContext:
    """What closing a context left: warnings, and the store still there afterwards (if any)."""

    warnings: list[str] = field(default_factory=list)
    kept_store: str | None = None
    """A vector store that outlives the run (kept on request, or the user's own): the pack names it."""


class AnalysisProvider(Protocol):
    """A model back-end able to run the stages over a trace's documents."""

    name: str
    model: str
    capabilities: Capabilities

    def open_context(
        self, trace: Trace, documents: DocumentSet, *, triage: TriageReport | None = None, store_id: str | None = None
    ) -> AnalysisContext:
        """Make the documents available to the model (upload, or pack inline by triage priority)."""
        ...

    def estimate_stage(self, call: StageCall, context: AnalysisContext) -> StageEstimate | None:
        """The most this stage can cost here, for the run's cost cap; None when it cannot be priced."""
        ...

    def run_stage(self, call: StageCall, context: AnalysisContext) -> StageReply:
        """Run one stage and return its validated output."""
        ...

    def close_context(self, context: AnalysisContext) -> ClosedContext:
        """Release what open_context created; returns warnings instead of raising."""
        ...

    def canary(self) -> str:
        """One tiny structured call: proves the key, the base URL, model access and structured output."""
        ...


@dataclass(frozen=True)
class BuildOptions:
    """What every provider built for one run shares, from the core settings and the run."""

    max_retries: int
    """The SDK's own retries (the one retry layer)."""
    timeout_s: float
    """One HTTP request's timeout."""
    stage_timeout_s: float
    store_timeout_s: float
    context_budget: int | None
    gate: RateGate | None = None
    """The run's shared rate gate: every client's requests go through it."""
    control: RunControl | None = None
    keep_store: bool = False
    background: bool | None = None

    def event_hooks(self, *extra_response: Callable[[Any], None]) -> dict[str, list[Callable[[Any], None]]]:
        """httpx event hooks: the gate's, and any of the adapter's own on each response."""
        hooks = self.gate.event_hooks() if self.gate is not None else {"request": [], "response": []}
        hooks["response"] = [*extra_response, *hooks["response"]]
        return hooks


@dataclass(frozen=True)
class ProviderPlugin:
    """A model back-end as the composition root registers it: one module, one registry line."""

    name: str
    section: type[Section]
    build: Callable[[Settings, BuildOptions], AnalysisProvider]
    """Builds the provider and its SDK client from its section of the settings."""
