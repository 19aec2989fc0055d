"""``analyze``: the four stages over a prepared trace, shared by the CLI and the action.

A failing stage never loses the triage: the result keeps what ran, the error, and the
offline report underneath.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from refinery import __version__
from refinery.analysis.control import RunControl
from refinery.analysis.cost import CostGuard, StageEstimate
from refinery.analysis.pack import (
    CitationStats,
    HypothesisPack,
    PackSelection,
    PackTrace,
    PackTriage,
    PackUsage,
    StageRecord,
)
from refinery.analysis.pricing import estimate_cost
from refinery.analysis.providers.base import AnalysisContext, AnalysisProvider, StageCall, Usage
from refinery.analysis.schemas import Synthesis
from refinery.analysis.stages import STAGES, StageSpec, build_stage_call, check_citations, prompts_version
from refinery.changes import claim_threshold
from refinery.documents.ids import run_section
from refinery.errors import CostCapReached, RefineryError, StageOutputError
from refinery.pipeline import Prepared

log = logging.getLogger(__name__)
Progress = Callable[[str, str], None]
"""progress(stage, message)"""


@dataclass
class AnalysisResult:
    """Everything the analysis produced, whether or not every stage succeeded."""

    prepared: Prepared
    provider: str | None
    model: str | None
    stages: list[StageRecord] = field(default_factory=list)
    outputs: dict[str, BaseModel] = field(default_factory=dict)
    error: RefineryError | None = None
    warnings: list[str] = field(default_factory=list)
    store_id: str | None = None
    """The vector store that still exists after the run (--keep-store, or one given with --store-id)."""
    selection: PackSelection | None = None
    """Why the trace was selected, when a selection chose it."""

    @property
    def synthesis(self) -> Synthesis | None:
        output = self.outputs.get("synthesis")
        return output if isinstance(output, Synthesis) else None

    @property
    def status(self) -> str:
        if self.provider is None:
            return "offline"
        return "complete" if self.synthesis is not None and self.error is None else "partial"

    def usage(self) -> PackUsage:
        total = Usage()
        costs: list[float | None] = []
        for record in self.stages:
            total = total + record.usage
            costs.append(record.cost_usd)
        known = [c for c in costs if c is not None]
        cost = round(sum(known), 6) if known and len(known) == len(costs) else None
        return PackUsage(**total.model_dump(), cost_usd=cost)

    def pack(self, *, now: datetime | None = None) -> HypothesisPack:
        trace = self.prepared.trace
        synthesis = self.synthesis
        warnings = list(self.warnings) + [w.message for w in trace.warnings] + list(self.prepared.documents.notes)
        return HypothesisPack(
            generated_at=now or datetime.now(UTC),
            refinery_version=__version__,
            status=self.status,  # type: ignore[arg-type]
            trace=PackTrace(id=trace.id, source=trace.source, url=trace.url, name=trace.root.name),
            provider=self.provider,
            model=self.model,
            prompts_version=prompts_version(),
            summary=synthesis.summary if synthesis else None,
            stages=self.stages,
            hypotheses=list(synthesis.hypotheses) if synthesis else [],
            triage=PackTriage(
                origin=self.prepared.triage.origin,
                findings=self.prepared.triage.findings,
                checked=self.prepared.triage.checked,
                agent=self.prepared.triage.agent,
            ),
            usage=self.usage(),
            warnings=warnings,
            error=self.error.one_line() if self.error else None,
            store_id=self.store_id,
            selection=self.selection,
            baseline=self.prepared.comparison,
            suspects=self.prepared.suspects[:20],
            suspect_threshold=claim_threshold() if self.prepared.suspects else None,
            triage_agreement=self.triage_agreement(),
            diagnosis_origin=self.diagnosis_origin(),
            diagnosis_agent=self.diagnosis_agent(),
            agent_agreement=self.agent_agreement(),
            fixes=self.prepared.fixes,
            fix_notes=self.prepared.fix_notes,
        )

    def diagnosis_origin(self) -> str | None:
        """The section the diagnosis's first causal chain begins at, as the model wrote it."""
        chains = getattr(self.outputs.get("diagnosis"), "causal_chains", None)
        return str(chains[0].origin_run_id) if chains else None

    def diagnosis_agent(self) -> str | None:
        """The agent of the run the diagnosis starts at; None for a section no run of the trace has."""
        section = self.diagnosis_origin()
        trace = self.prepared.trace
        run = next((r for r in trace.runs if run_section(r.order) == section), None)
        return run.agent if run is not None else None

    def agent_agreement(self) -> Literal["agrees", "differs"] | None:
        """Whether the diagnosis's step belongs to the agent triage's claim names."""
        claim, agent = self.prepared.triage.agent, self.diagnosis_agent()
        if claim is None or agent is None:
            return None
        return "agrees" if agent.lower() == claim.agent.lower() else "differs"

    def triage_agreement(self) -> Literal["agrees", "differs", "no_triage_origin"] | None:
        """Whether the diagnosis's first causal chain begins where triage's origin is."""
        diagnosis = self.outputs.get("diagnosis")
        chains = getattr(diagnosis, "causal_chains", None)
        if not chains:
            return None
        origin = self.prepared.triage.origin
        if origin is None:
            return "no_triage_origin"
        return "agrees" if chains[0].origin_run_id == origin.section else "differs"


def offline_result(prepared: Prepared) -> AnalysisResult:
    """A result with no model stages: the triage alone."""
    return AnalysisResult(prepared=prepared, provider=None, model=None)


def analyze(
    prepared: Prepared,
    provider: AnalysisProvider,
    *,
    store_id: str | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.perf_counter,
    control: RunControl | None = None,
    cost: CostGuard | None = None,
) -> AnalysisResult:
    """Run the four stages in order; stop at the first failure (or the run's cancellation, or a stage
    the cost cap refuses) and keep everything so far."""
    control = control or RunControl()
    runner = _StageRunner(prepared, provider, progress or (lambda stage, message: None), clock, cost)
    context: AnalysisContext | None = None
    try:
        control.check("the documents were uploaded")
        runner.notify("documents", "making the documents available to the model")
        context = provider.open_context(prepared.trace, prepared.documents, triage=prepared.triage, store_id=store_id)
        for spec in STAGES:
            control.check(f"stage {spec.number}/4 {spec.key}")
            runner.run(spec, context)
    except RefineryError as exc:
        runner.stop(exc)
    finally:
        runner.close(context)
    return runner.result


class _StageRunner:
    """One trace's stages: each run, recorded and billed; the rest skipped after a failure."""

    def __init__(
        self,
        prepared: Prepared,
        provider: AnalysisProvider,
        notify: Progress,
        clock: Callable[[], float],
        cost: CostGuard | None,
    ) -> None:
        self.prepared = prepared
        self.provider = provider
        self.notify = notify
        self.clock = clock
        self.cost = cost
        self.version = prompts_version()
        self.result = AnalysisResult(prepared=prepared, provider=provider.name, model=provider.model)

    def run(self, spec: StageSpec, context: AnalysisContext) -> None:
        prepared, result = self.prepared, self.result
        call = build_stage_call(
            spec,
            prepared.trace,
            prepared.triage,
            prepared.documents,
            result.outputs,
            prepared.comparison,
            prepared.suspects,
        )
        reserved = _admit(self.cost, self.provider, spec.key, call, context)
        self.notify(spec.key, f"stage {spec.number}/4 {spec.key}: running")
        started = self.clock()
        try:
            reply = self.provider.run_stage(call, context)
        except RefineryError as exc:
            if self.cost is not None:
                self.cost.settle(reserved, None)  # a failed attempt is still billed: count the estimate
            result.stages.append(self._failed(spec, exc, started))
            raise
        checked, citations = check_citations(reply.output, prepared.documents)
        result.outputs[spec.key] = checked
        record = StageRecord(
            stage=spec.key,
            number=spec.number,
            status="ok",
            prompts_version=self.version,
            provider=reply.provider,
            model=reply.model,
            attempts=reply.attempts,
            wall_time_s=round(self.clock() - started, 3),
            usage=reply.usage,
            cost_usd=estimate_cost(reply.model, reply.usage),
            citations=CitationStats(**vars(citations)),
            output=checked.model_dump(mode="json"),
        )
        result.stages.append(record)
        if self.cost is not None:
            self.cost.settle(reserved, record.cost_usd)
        if citations.dropped:
            result.warnings.append(
                f"Stage {spec.key}: dropped {citations.dropped} citations to sections that do not exist."
            )
        self.notify(spec.key, f"stage {spec.number}/4 {spec.key}: done in {record.wall_time_s:.1f}s")

    def _failed(self, spec: StageSpec, exc: RefineryError, started: float) -> StageRecord:
        return StageRecord(
            stage=spec.key,
            number=spec.number,
            status="failed",
            prompts_version=self.version,
            provider=self.provider.name,
            model=self.provider.model,
            wall_time_s=round(self.clock() - started, 3),
            attempts=exc.attempts if isinstance(exc, StageOutputError) else 1,
            error=exc.one_line(),
        )

    def stop(self, exc: RefineryError) -> None:
        """The run stops here: the error kept, a cost cap said, every stage not run marked skipped."""
        result, cost = self.result, self.cost
        result.error = exc
        if isinstance(exc, CostCapReached):
            result.warnings.append(
                f"Partial: {exc.one_line()} The cap is max-cost ${cost.cap_usd:.2f}."
                if cost and cost.cap_usd is not None
                else exc.one_line()
            )
        for spec in STAGES:
            if spec.key not in {r.stage for r in result.stages}:
                result.stages.append(
                    StageRecord(stage=spec.key, number=spec.number, status="skipped", prompts_version=self.version)
                )
        result.stages.sort(key=lambda r: r.number)
        self.notify("error", exc.one_line())

    def close(self, context: AnalysisContext | None) -> None:
        result, cost = self.result, self.cost
        if context is not None:
            closed = self.provider.close_context(context)
            result.warnings.extend(closed.warnings)
            result.store_id = closed.kept_store
        used = {r.model for r in result.stages if r.model}
        if cost is not None and cost.unpriced & used:
            models = ", ".join(sorted(cost.unpriced & used))
            result.warnings.append(f"No price is known for {models}: max-cost could not limit its stages.")


def _admit(
    cost: CostGuard | None, provider: AnalysisProvider, stage: str, call: StageCall, context: AnalysisContext
) -> float:
    """The stage's reservation under the cost cap (CostCapReached when it would cross it)."""
    if cost is None:
        return 0.0
    estimate: StageEstimate | None = provider.estimate_stage(call, context)
    return cost.admit(stage, estimate) if estimate is not None else 0.0
