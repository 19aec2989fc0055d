"""Causal origin and propagation: which failure came first, and which failures it caused.

An errored run whose errored descendants explain it has *propagated* the error; an errored
run with none is a *leaf*. The first leaf in execution order is the origin of its chain.
When nothing failed outright, a loop or an empty answer is the origin instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from refinery.documents.ids import run_section
from refinery.trace.model import Run, Trace
from refinery.triage.model import Finding, Origin

ORIGIN_RULES = ("run_error", "tool_output_error", "truncated_output", "invalid_json")
_SEVERITY_WEIGHT = {"critical": 4, "high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True)
class ErrorChain:
    """An errored leaf run and the errored ancestors that failed because of it."""

    leaf: Run
    propagated: list[Run]


def error_chains(trace: Trace) -> list[ErrorChain]:
    """Each errored leaf, in execution order, with the ancestors it propagated to.

    An ancestor belongs to the first chain that reaches it, so no run is counted twice.
    """
    errored = [r for r in trace.runs if r.is_error]
    if not errored:
        return []
    errored_ids = {r.id for r in errored}
    has_errored_descendant: set[str] = set()
    for run in errored:
        for ancestor in trace.ancestors(run.id):
            if ancestor.id in errored_ids:
                has_errored_descendant.add(ancestor.id)
    chains: list[ErrorChain] = []
    claimed: set[str] = set()
    for leaf in (r for r in errored if r.id not in has_errored_descendant):
        chain = [a for a in trace.ancestors(leaf.id) if a.id in errored_ids and a.id not in claimed]
        claimed.update(a.id for a in chain)
        chains.append(ErrorChain(leaf, chain))
    return chains


def score_finding(finding: Finding) -> float:
    """How much a finding matters: severity, raised for an origin, lowered for propagation and outliers."""
    score = float(_SEVERITY_WEIGHT[finding.severity])
    if finding.role == "origin":
        score += 2
    elif finding.role == "propagated":
        score -= 1
    if finding.rule in ("latency_outlier", "token_outlier"):
        score -= 0.5
    return score


def choose_origin(trace: Trace, findings: list[Finding]) -> Origin | None:
    """The step where the failure most likely began, or None when nothing points anywhere."""
    candidates = [f for f in findings if f.rule in ORIGIN_RULES and f.role != "propagated" and f.step is not None]
    reason = "the earliest failure signal in execution order"
    if not candidates:
        candidates = [f for f in findings if f.rule == "baseline_divergence"]
        reason = "no run failed outright; here it first parted from the passing run of the same task"
    if not candidates:
        candidates = [f for f in findings if f.rule in ("repeated_call", "empty_output")]
        reason = "no run failed outright; the agent looped or ended empty here"
    if not candidates:
        return None
    first = min(candidates, key=lambda f: (f.step if f.step is not None else 1 << 30, -score_finding(f)))
    run = trace.get(first.blamed_run_id or str(first.run_id))
    if first.blamed_run_id:
        reason = f"its output was executed and failed at {first.section}"
    return Origin(
        run_id=run.id,
        section=run_section(run.order),
        step=run.order,
        name=run.name,
        agent=run.agent,
        finding_id=first.id,
        reason=reason,
        run_type=run.run_type,
    )
