"""The stages on providers without hosted file search: the documents are packed into the prompt.

Back-ends implement one call (``generate``) that returns the model's JSON text; the rest
(packing, the re-ask for invalid output, one larger-limit retry for a cut-off reply) is
shared here, so every provider behaves the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from refinery.analysis.control import RunControl
from refinery.analysis.cost import StageEstimate, text_tokens
from refinery.analysis.packing import OUTPUT_RESERVE, Pack, context_window, pack_documents
from refinery.analysis.providers.base import (
    AnalysisContext,
    Capabilities,
    ClosedContext,
    StageCall,
    StageReply,
    Usage,
)
from refinery.analysis.providers.policy import Attempt, complete_stage, parse_output
from refinery.analysis.schemas import strict_json_schema
from refinery.documents.render import DocumentSet
from refinery.errors import ConfigError, ProviderError
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

CANARY_MAX_TOKENS = 1_024
"""Room for a thinking model's reasoning before its one-word reply."""


class CanaryReply(BaseModel):
    """The canary's one-field answer."""

    reply: str


@dataclass(frozen=True)
class GenerateRequest:
    """One model call, whatever the back-end."""

    system: str
    messages: list[dict[str, str]]
    schema_name: str
    schema: dict[str, Any]
    output_model: type[BaseModel]
    max_tokens: int


@dataclass
class InlineContext(AnalysisContext):
    """The documents packed into the prompt, under the model's token budget."""

    pack: Pack | None = None


@dataclass
class Generation:
    """One model reply."""

    text: str
    usage: Usage
    truncated: bool = False
    """The reply hit the output-token limit."""
    response_id: str = ""


class InlineProvider(ABC):
    """AnalysisProvider that packs the documents into each documents-reading stage's prompt."""

    name = "inline"
    capabilities = Capabilities(hosted_documents=False)

    def __init__(
        self,
        client: Any,
        model: str,
        *,
        context_budget: int | None = None,
        temperature: float | None = 0.2,
        control: RunControl | None = None,
    ) -> None:
        self._client = client
        self._control = control or RunControl()
        self.model = model
        self._context_budget = context_budget
        self._temperature = temperature

    @abstractmethod
    def generate(self, request: GenerateRequest) -> Generation:
        """One call returning the reply as JSON text (already extracted from tool calls and the like)."""

    def budget(self) -> int:
        window = self._context_budget or context_window(self.model)
        return max(window - OUTPUT_RESERVE, 2_000) if self._context_budget is None else window

    def open_context(
        self, trace: Trace, documents: DocumentSet, *, triage: TriageReport | None = None, store_id: str | None = None
    ) -> AnalysisContext:
        if store_id:
            raise ConfigError(f"--store-id works with the openai provider only, not {self.name}.")
        if triage is None:
            raise ProviderError("Packing the documents needs the triage.")
        pack = pack_documents(trace, triage, documents, self.budget())
        return InlineContext(trace=trace, documents=documents, triage=triage, pack=pack)

    def close_context(self, context: AnalysisContext) -> ClosedContext:
        return ClosedContext()

    def canary(self) -> str:
        """Prove auth, base URL, model access and structured output with one tiny call."""
        request = GenerateRequest(
            system="Answer with JSON only.",
            messages=[{"role": "user", "content": 'Reply with {"reply": "OK"}.'}],
            schema_name="canary",
            schema=strict_json_schema(CanaryReply),
            output_model=CanaryReply,
            max_tokens=CANARY_MAX_TOKENS,
        )
        reply = self.generate(request)
        output, problem = parse_output(reply.text, CanaryReply)
        if not isinstance(output, CanaryReply):
            raise ProviderError(f"The canary reply on {self.name} was not the JSON asked for: {problem}.")
        return output.reply

    @staticmethod
    def _user_text(call: StageCall, context: AnalysisContext) -> str:
        pack = context.pack if isinstance(context, InlineContext) else None
        if call.use_documents and pack is not None:
            return (
                "The documents are included below (there is no file_search tool here).\n"
                f"{pack.coverage_note}\n\n{pack.text}\n\n---\n\n{call.user_text}"
            )
        return call.user_text

    def estimate_stage(self, call: StageCall, context: AnalysisContext) -> StageEstimate:
        """At most: the system text and the user text with the packed documents, the stage's output limit."""
        return StageEstimate(
            model=self.model,
            input_tokens=text_tokens(call.system_text, self._user_text(call, context)),
            output_tokens=call.max_output_tokens,
        )

    def run_stage(self, call: StageCall, context: AnalysisContext) -> StageReply:
        schema = strict_json_schema(call.output_model)
        first = {"role": "user", "content": self._user_text(call, context)}

        def send(turns: list[dict[str, str]], max_tokens: int) -> Attempt:
            self._control.check(f"stage {call.stage}")
            request = GenerateRequest(
                call.system_text, [first, *turns], call.schema_name, schema, call.output_model, max_tokens
            )
            reply = self.generate(request)
            return Attempt(reply.text, reply.usage, reply.response_id, reply.truncated)

        return complete_stage(call, send, provider=self.name, model=self.model)
