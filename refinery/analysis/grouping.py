"""Group failures that share a root cause, deterministically.

Two traces fall in one group when they fail in the same TRAIL category at a run (or tool) of
the same name, or in the same category with causes that read alike. The model's diagnosis is
used when a trace has one; the triage origin otherwise. Groups are ranked by how many
traces they hold, then by severity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from refinery.analysis.orchestrator import AnalysisResult
from refinery.analysis.schemas import Diagnosis

_SEVERITY = {"critical": 4, "high": 3, "medium": 2, "low": 1}
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "of", "to", "and", "in", "on", "was", "is", "by", "for", "it", "with", "at", "from", "that"}
SIMILAR = 0.5


class FailureGroup(BaseModel):
    """Failures that share a root cause."""

    id: str
    """G1, G2, … in rank order."""
    title: str
    """What they share, e.g. "tool `search` (Rate Limiting)"."""
    category: str
    origin_name: str | None
    """The run or tool where they start."""
    cause: str
    """The clearest statement of the cause among the members."""
    severity: str
    trace_ids: list[str] = Field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.trace_ids)


class _Signature(BaseModel):
    trace_id: str
    category: str
    origin_name: str | None
    run_type: str | None
    cause: str
    severity: str


def _signature(result: AnalysisResult) -> _Signature | None:
    trace = result.prepared.trace
    triage = result.prepared.triage
    diagnosis = result.outputs.get("diagnosis")
    if isinstance(diagnosis, Diagnosis) and diagnosis.causal_chains and not diagnosis.inconclusive:
        chain = diagnosis.causal_chains[0]
        run = next((r for r in trace.runs if f"R{r.order:04d}" == chain.origin_run_id.strip()), None)
        return _Signature(
            trace_id=trace.id,
            category=str(chain.category),
            origin_name=run.name if run else None,
            run_type=run.run_type if run else None,
            cause=chain.cause,
            severity="high",
        )
    origin = triage.origin
    if origin is None:
        gaps = [f for f in triage.findings if f.group == "evaluation"]
        if not gaps:
            return None
        return _Signature(
            trace_id=trace.id,
            category="Eval Gap",
            origin_name=None,
            run_type=None,
            cause=gaps[0].evidence,
            severity=gaps[0].severity,
        )
    finding = next(f for f in triage.findings if f.id == origin.finding_id)
    run = trace.get(origin.run_id)
    return _Signature(
        trace_id=trace.id,
        category=finding.category,
        origin_name=origin.name,
        run_type=run.run_type,
        cause=finding.evidence,
        severity=finding.severity,
    )


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and not w.isdigit()}


def _similar(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= SIMILAR


def group_failures(results: Sequence[AnalysisResult]) -> list[FailureGroup]:
    """Groups of failures with a shared root cause, largest and most severe first."""
    members: list[list[_Signature]] = []
    for result in results:
        signature = _signature(result)
        if signature is None:
            continue
        for group in members:
            head = group[0]
            same_place = head.origin_name is not None and head.origin_name == signature.origin_name
            if head.category == signature.category and (same_place or _similar(head.cause, signature.cause)):
                group.append(signature)
                break
        else:
            members.append([signature])
    groups: list[FailureGroup] = []
    for group in members:
        head = group[0]
        severity = max((s.severity for s in group), key=lambda s: _SEVERITY.get(s, 0))
        where = f"{head.run_type or 'run'} `{head.origin_name}`" if head.origin_name else "the final answer"
        groups.append(
            FailureGroup(
                id="",
                title=f"{where}: {head.category}",
                category=head.category,
                origin_name=head.origin_name,
                cause=min((s.cause for s in group), key=len),
                severity=severity,
                trace_ids=[s.trace_id for s in group],
            )
        )
    groups.sort(key=lambda g: (-g.count, -_SEVERITY.get(g.severity, 0), g.title))
    for index, ranked in enumerate(groups, start=1):
        ranked.id = f"G{index}"
    return groups
