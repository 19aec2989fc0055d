"""Runs that raised: the origin of each error chain, and the enclosing runs it failed."""

from __future__ import annotations

from refinery.documents.ids import run_section
from refinery.trace.model import Trace
from refinery.triage.classify import EXCERPT, classify_error, excerpt, last_error_line, new_finding
from refinery.triage.model import Finding, Role
from refinery.triage.origin import error_chains
from refinery.triage.rules.base import RuleOptions
from refinery.words import plural


def find_run_errors(trace: Trace, options: RuleOptions) -> list[Finding]:
    """Errored runs; the first error leaf in causal order is the origin, its errored ancestors propagated."""
    findings: list[Finding] = []
    for index, chain in enumerate(error_chains(trace)):
        leaf = chain.leaf
        error = leaf.error or "status error"
        category = classify_error(error, leaf.run_type)
        role: Role = "origin" if index == 0 else "independent"
        findings.append(
            new_finding(
                leaf,
                rule="run_error",
                category=category,
                severity="critical" if role == "origin" else "high",
                evidence=excerpt(last_error_line(error) if len(error) > EXCERPT else error),
                explanation=(
                    f"{leaf.run_type} `{leaf.name}` failed"
                    + (
                        f"; the error propagated to {plural(len(chain.propagated), 'enclosing run')}."
                        if chain.propagated
                        else "."
                    )
                ),
                role=role,
                related_sections=[run_section(a.order) for a in chain.propagated],
            )
        )
        for ancestor in chain.propagated:
            findings.append(
                new_finding(
                    ancestor,
                    rule="run_error",
                    category=category,
                    severity="medium",
                    evidence=excerpt(last_error_line(ancestor.error or "status error")),
                    explanation=f"Failed because `{leaf.name}` ({run_section(leaf.order)}) failed below it.",
                    role="propagated",
                    related_sections=[run_section(leaf.order)],
                )
            )
    return findings
