"""Triage as the documents see it: triage.md, and which runs trace.md must keep in full."""

from __future__ import annotations

from refinery.documents.model import Document, Section, assemble_document
from refinery.documents.render import Focus, RenderOptions, document_header
from refinery.documents.text import fence
from refinery.trace.model import Trace
from refinery.triage.confidence import agent_sentence, failure_subject, origin_phrase, precision_note, unnamed_reason
from refinery.triage.model import TriageReport
from refinery.words import plural


def triage_focus(trace: Trace, triage: TriageReport) -> Focus:
    """Every run a finding cites, and the origin's path to the root; where each propagated error came from."""
    keep: set[str] = set()
    path: set[str] = set()
    propagated: dict[str, str] = {}
    for finding in triage.findings:
        if finding.run_id:
            keep.add(finding.run_id)
            if finding.role == "propagated" and finding.related_sections:
                propagated[finding.run_id] = finding.related_sections[0]
    if triage.origin:
        path.update(r.id for r in trace.path(triage.origin.run_id))
    return Focus(keep=frozenset(keep), path=frozenset(path), propagated_from=propagated)


def render_triage_md(triage: TriageReport, options: RenderOptions, verdict: str | None = None) -> Document:
    """triage.md: one section per finding, ``F01`` first; a run not known to have failed (``verdict``)
    is not called a failure."""
    sections = []
    for finding in triage.findings:
        lines = [
            f"rule: {finding.rule} · category: {finding.category} ({finding.group}) · severity: {finding.severity}",
            f"run: {finding.section or '—'} `{finding.name or ''}`"
            + (f" · agent: {finding.agent}" if finding.agent else "")
            + (f" · role: {finding.role}" if finding.role else ""),
        ]
        if finding.related_sections:
            lines.append("related: " + ", ".join(finding.related_sections[:20]))
        body = "  \n".join(lines) + f"\n\n{finding.explanation}\n\n" + fence(finding.evidence)
        sections.append(
            Section(
                id=finding.id,
                heading=f"{finding.id} · {finding.severity} · {finding.category} · {finding.section or '—'}",
                body=body,
                priority=0 if finding.severity in ("critical", "high") else 1,
                stub="  \n".join(lines),
            )
        )
    lines = [
        f"{plural(len(triage.findings), 'finding')} over {plural(triage.runs, 'run')} ({triage.errored_runs} errored)."
    ]
    o = triage.stated_origin
    if o is not None:
        agent = f" by agent {o.agent}" if o.agent else ""
        lines.append(
            f"{failure_subject(verdict)} {origin_phrase(o)} {o.section} `{o.name}`{agent} ({o.finding_id}: {o.reason}); "
            f"{precision_note(o)}. Evidence: {'; '.join(o.evidence)}."
        )
    else:
        lines.append(unnamed_reason(triage.checked, triage.origin))
    if triage.stated_agent is not None:
        lines.append(agent_sentence(triage.stated_agent, verdict=verdict))
    return assemble_document("triage.md", "triage", document_header("Triage", lines), sections, options.doc_budget)
