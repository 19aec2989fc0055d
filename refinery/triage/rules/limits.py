"""A run cut off by its own limit: the framework stopped it, it did not finish.

A run that reached its turn, round, step, message, time or recursion limit did not decide to stop:
the work before it did not converge. That is context the engineer needs (raise the limit, or find
why the work went round), and it says where the failure is *not*: the stop message is a symptom,
never the origin (it is in no origin rule). A limit the framework raised as an error is already a
failed run (``run_errors``); this rule reads the stop messages that are not errors.
"""

from __future__ import annotations

from refinery.documents.ids import run_section
from refinery.trace.model import Trace
from refinery.triage.classify import excerpt, new_finding
from refinery.triage.ending import limit_report, said
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions


def find_limit_reached(trace: Trace, options: RuleOptions) -> list[Finding]:
    """The first run whose message reports a limit reached (``triage.ending.LIMIT_REACHED``), once."""
    reports = [(run, line) for run in trace.runs if not run.is_error for line in [limit_report(said(run))] if line]
    if not reports:
        return []
    run, line = reports[0]
    return [
        new_finding(
            run,
            rule="limit_reached",
            category="Resource Exhaustion",
            severity="high",
            evidence=excerpt(line),
            explanation=(
                "The run stopped here because it reached a limit its framework sets, not because it finished: "
                "the work before it did not converge, and that work is where to look, not this stop."
            ),
            related_sections=[run_section(r.order) for r, _ in reports[1:]],
        )
    ]
