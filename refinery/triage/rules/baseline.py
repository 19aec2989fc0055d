"""The step where the run first parted from a passing run of the same task (``compare/``)."""

from __future__ import annotations

from refinery.compare.model import Divergence
from refinery.trace.model import Trace
from refinery.triage.model import CATEGORY_GROUP, Finding
from refinery.triage.rules.base import RuleOptions

CATEGORY = {
    "different_tool": "Tool Selection Errors",
    "different_arguments": "Goal Deviation",
    "extra_step": "Goal Deviation",
    "missing_step": "Task Orchestration",
    "error": "Service Errors",
}
_EXPLAIN = {
    "different_tool": "Here the run called another tool than the passing run of the same task did.",
    "different_arguments": "Here the run called the same tool as the passing run, with other arguments.",
    "extra_step": "Here the run took a step the passing run of the same task never took.",
    "missing_step": "After this step the passing run took one this run never did.",
    "error": "This step failed here and succeeded in the passing run of the same task.",
}


def departure_finding(trace: Trace, divergence: Divergence, rule: str, explanation: str) -> Finding:
    """The finding at the step where a run departed (from a passing run, or from the expected actions)."""
    run = trace.get(str(divergence.run_id))
    category = CATEGORY[divergence.kind]
    return Finding(
        rule=rule,
        category=category,
        group=CATEGORY_GROUP[category],
        severity="high",
        run_id=run.id,
        section=divergence.section,
        step=run.order,
        agent=run.agent,
        name=run.name,
        evidence=(divergence.sentence or divergence.detail)[:600],
        explanation=explanation,
    )


def find_baseline_divergence(trace: Trace, options: RuleOptions) -> list[Finding]:
    divergence = options.divergence
    if divergence is None or divergence.run_id is None:
        return []
    where = f" (baseline.md#{divergence.baseline_section})" if divergence.baseline_section else ""
    explanation = _EXPLAIN[divergence.kind] + f" It is the first divergence from the passing run{where}."
    return [departure_finding(trace, divergence, "baseline_divergence", explanation)]
