"""Deterministic triage: what rules can see in a trace before any model runs.

Each finding names a TRAIL category (reasoning / system execution / planning), a run and
its section id, an evidence excerpt and an explanation. Findings are ranked, and the
most likely origin step is named, with its agent where the trace has agents. This is
the whole report when there is no model key, and the fallback when a model fails.

- ``model.py``: ``Finding``, ``Origin``, ``TriageReport`` and the TRAIL categories.
- ``rules/``: one module per rule family, run in the order of ``rules.RULES``.
  **Adding a rule takes one file in ``rules/`` and one line in ``RULES``.**
- ``origin.py``: causal origin and propagation (which error came first, what it failed).
- ``workers.py``: which agent of a multi-agent run to look at first, when no step is named.
- ``classify.py``: an error's TRAIL category, and building a finding at a run.
- ``document.py``: triage.md, and which runs the other documents must keep in full.
"""

from __future__ import annotations

from refinery.compare.model import Divergence
from refinery.documents.ids import numbered
from refinery.trace.model import Trace
from refinery.trace.roles import Roles
from refinery.triage.checked import what_was_checked
from refinery.triage.model import TriageReport
from refinery.triage.origin import choose_origin, score_finding
from refinery.triage.recovery import mark_recoveries
from refinery.triage.rules import RULES, RuleOptions
from refinery.triage.rules.baseline import find_baseline_divergence
from refinery.triage.workers import claim_agent


def run_triage(trace: Trace, *, eval_threshold: float = 0.5, divergence: Divergence | None = None) -> TriageReport:
    """Every rule over ``trace``; findings ranked (F01 first) and the origin named. ``divergence`` is
    where the run first parted from a passing run of the same task, when one was compared."""
    roles = Roles.of(trace)
    options = RuleOptions(eval_threshold=eval_threshold, divergence=divergence, roles=roles)
    findings = mark_recoveries(trace, [finding for rule in RULES for finding in rule(trace, options)], roles)
    findings.sort(key=lambda f: (-score_finding(f), f.step if f.step is not None else 1 << 30, f.rule))
    for index, finding in enumerate(findings, start=1):
        finding.id = numbered("F", index)
    origin = choose_origin(trace, findings, roles)
    return TriageReport(
        trace_id=trace.id,
        findings=findings,
        origin=origin,
        runs=len(trace.runs),
        errored_runs=len(trace.errored_runs),
        checked=what_was_checked(trace, findings, roles),
        agent=claim_agent(trace, roles, origin),
    )


def extend_triage(report: TriageReport, trace: Trace, divergence: Divergence) -> TriageReport:
    """``report`` with the divergence from a passing run added: the findings triaged (and clustered)
    before keep their ids and order, the new one comes after them, and the origin is chosen again
    by the same rule ``run_triage`` follows."""
    roles = Roles.of(trace)
    added = find_baseline_divergence(trace, RuleOptions(divergence=divergence, roles=roles))
    findings = list(report.findings)
    for finding in added:
        findings.append(finding.model_copy(update={"id": numbered("F", len(findings) + 1)}))
    origin = choose_origin(trace, findings, roles)
    return report.model_copy(
        update={
            "findings": findings,
            "origin": origin,
            "checked": what_was_checked(trace, findings, roles),
            "agent": claim_agent(trace, roles, origin),
        }
    )
