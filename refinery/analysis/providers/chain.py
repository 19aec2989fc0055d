"""Per-stage providers and a fallback chain, as one AnalysisProvider.

A stage runs on its own provider (``--stage-provider diagnosis=anthropic``) or the default
one; when that provider still fails after its own retries, the stage runs again on the
next provider of the fallback chain. A request the provider rejected as invalid (400) is
not retried elsewhere: the same input would fail the same way. Each provider's context
(a vector store, or a packed prompt) is opened the first time one of its stages runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from refinery.analysis.cost import StageEstimate
from refinery.analysis.providers.base import (
    AnalysisContext,
    AnalysisProvider,
    Capabilities,
    ClosedContext,
    StageCall,
    StageReply,
)
from refinery.documents.render import DocumentSet
from refinery.errors import ProviderBadRequest, ProviderError
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

log = logging.getLogger(__name__)


@dataclass
class ChainContext(AnalysisContext):
    """Each provider's own context, opened the first time one of its stages runs."""

    store_id: str | None = None
    """A store the user passed in (--store-id), for the providers whose documents are hosted."""
    contexts: dict[str, AnalysisContext] = field(default_factory=dict)


class ProviderChain:
    """Routes each stage to its provider, falling back along the chain on provider failures."""

    capabilities = Capabilities(hosted_documents=False)

    def __init__(
        self,
        providers: Mapping[str, AnalysisProvider],
        *,
        default: str,
        fallback: Sequence[str] = (),
        stage_providers: Mapping[str, str] | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._default = default
        self._fallback = [p for p in fallback if p != default]
        self._stage_providers = dict(stage_providers or {})
        self.name = default
        self.model = self._providers[default].model
        self.capabilities = self._providers[default].capabilities
        self.fallbacks_used: list[str] = []

    def _order(self, stage: str) -> list[str]:
        first = self._stage_providers.get(stage, self._default)
        return [first, *[p for p in [self._default, *self._fallback] if p != first]] if self._fallback else [first]

    def open_context(
        self, trace: Trace, documents: DocumentSet, *, triage: TriageReport | None = None, store_id: str | None = None
    ) -> ChainContext:
        return ChainContext(trace=trace, documents=documents, triage=triage, store_id=store_id)

    def _context(self, name: str, context: AnalysisContext) -> AnalysisContext:
        if not isinstance(context, ChainContext):
            raise TypeError("a provider chain runs on the context it opened")
        if name not in context.contexts:
            provider = self._providers[name]
            store_id = context.store_id if provider.capabilities.hosted_documents else None
            context.contexts[name] = provider.open_context(
                context.trace, context.documents, triage=context.triage, store_id=store_id
            )
        return context.contexts[name]

    def estimate_stage(self, call: StageCall, context: AnalysisContext) -> StageEstimate | None:
        """The estimate of the provider the stage runs on first (a fallback is admitted as it is tried)."""
        name = self._order(call.stage)[0]
        return self._providers[name].estimate_stage(call, self._context(name, context))

    def run_stage(self, call: StageCall, context: AnalysisContext) -> StageReply:
        order = self._order(call.stage)
        for index, name in enumerate(order):
            try:
                return self._providers[name].run_stage(call, self._context(name, context))
            except ProviderBadRequest:
                raise
            except ProviderError as exc:
                if index + 1 >= len(order):
                    raise
                note = f"stage {call.stage}: {name} failed ({exc.one_line()}); falling back to {order[index + 1]}"
                log.warning(note)
                self.fallbacks_used.append(note)
        raise AssertionError("unreachable")  # pragma: no cover

    def canary(self) -> str:
        return self._providers[self._default].canary()

    def close_context(self, context: AnalysisContext) -> ClosedContext:
        closed = ClosedContext(list(self.fallbacks_used))
        inner = context.contexts if isinstance(context, ChainContext) else {}
        for name, each in inner.items():
            done = self._providers[name].close_context(each)
            closed.warnings.extend(done.warnings)
            closed.kept_store = closed.kept_store or done.kept_store
        return closed
