"""report.md after the model stages: synthesis and hypotheses on top of the triage report."""

from __future__ import annotations

from refinery.analysis.orchestrator import AnalysisResult
from refinery.analysis.schemas import Diagnosis, GapAnalysis, Hypothesis
from refinery.report.agreement import agreement_sentence
from refinery.report.baseline import baseline_section
from refinery.report.changes import changes_section
from refinery.report.offline import (
    MODEL_HINT,
    ReportContext,
    origin_line,
    render_offline_report,
    report_title,
    triage_sections,
    verdict_lines,
)
from refinery.report.sanitize import fenced, inline_code, prose, table_cell
from refinery.triage.confidence import agent_sentence


def _hypothesis(h: Hypothesis) -> list[str]:
    change = h.proposed_change
    out = [
        f"### {table_cell(h.id, 8)} · {prose(h.title, 160)}",
        "",
        f"{h.category} · about {inline_code(h.origin_run_id, 20)} · confidence {h.confidence:.2f}",
        "",
        prose(h.rationale, 1200),
        "",
        f"**Proposed change** ({change.kind} → {inline_code(change.target, 120)}):",
        "",
    ]
    if change.before:
        out += ["Before:", "", fenced(change.before, 2000), ""]
    out += ["After:", "", fenced(change.after, 3000), ""]
    out += [
        f"**Expected effect:** {prose(h.expected_effect, 600)}",
        "",
        f"**How to verify:** {prose(h.how_to_verify, 600)}",
        "",
    ]
    return out


def _diagnosis(diagnosis: Diagnosis) -> list[str]:
    out = ["## Root cause", ""]
    if diagnosis.inconclusive:
        out += [f"Inconclusive: {prose(diagnosis.inconclusive_reason or 'no reason given', 600)}", ""]
    for chain in diagnosis.causal_chains:
        cites = ", ".join(f"{c.file}#{c.section}" for c in chain.citations[:6])
        out.append(
            f"- **{prose(chain.cause, 400)}** ({chain.category}, placed at {inline_code(chain.origin_run_id, 20)}): "
            f"{prose(chain.mechanism, 500)} → {prose(chain.symptom, 300)}" + (f" [{cites}]" if cites else "")
        )
    out += ["", f"The model's own confidence: {diagnosis.confidence:.2f} (not measured against labelled failures).", ""]
    return out


def _gaps(gaps: GapAnalysis) -> list[str]:
    out = [
        "## Expectations against the trace",
        "",
        "| Expectation | Status | Observed | Evidence |",
        "|---|---|---|---|",
    ]
    for clause in gaps.clauses[:20]:
        cites = ", ".join(f"{c.file}#{c.section}" for c in clause.citations[:4])
        out.append(
            f"| {table_cell(clause.expectation, 200)} | {clause.status} | {table_cell(clause.observed, 240)} | {table_cell(cites, 80)} |"
        )
    return [*out, ""]


def render_report(result: AnalysisResult) -> str:
    """report.md for any result: offline, complete or partial."""
    prepared = result.prepared
    trace, triage = prepared.trace, prepared.triage
    context = ReportContext(
        redaction_counts=prepared.redaction_counts,
        redaction_enabled=prepared.redaction_enabled,
        budget_notes=prepared.documents.notes,
        model_note=MODEL_HINT if result.provider is None else None,
        comparison=prepared.comparison,
        suspects=prepared.suspects,
        fixes=prepared.fixes,
        fix_notes=prepared.fix_notes,
        selection=result.selection,
    )
    if result.provider is None:
        return render_offline_report(trace, triage, context)
    out = [*report_title(trace), *verdict_lines(result.selection)]
    synthesis = result.synthesis
    if synthesis is not None:
        out += [f"**Summary.** {prose(synthesis.summary, 1500)}", ""]
    if result.error is not None:
        failed = next((s.stage for s in result.stages if s.status == "failed"), "setup")
        out += [
            f"> **The model analysis stopped at {failed}:** {prose(result.error.one_line(), 500)}",
            "> The deterministic triage below is complete.",
            "",
        ]
    out += origin_line(triage, "Origin step (triage)")
    verdict = result.selection.verdict if result.selection else None
    if triage.stated_origin is None and triage.stated_agent is not None:
        out += [agent_sentence(triage.stated_agent, lambda name: inline_code(name, 60), verdict), ""]
    said = agreement_sentence(
        triage.origin,
        triage.agent,
        result.diagnosis_origin(),
        result.diagnosis_agent(),
        lambda t: inline_code(t, 60),
        verdict,
    )
    out += [said, ""] if said else []
    out += baseline_section(prepared.comparison)
    out += changes_section(prepared.suspects, prepared.fixes, prepared.fix_notes)
    if synthesis is not None:
        if synthesis.top_findings:
            out += ["## Top findings", ""] + [f"- {prose(f, 500)}" for f in synthesis.top_findings[:8]] + [""]
        if synthesis.hypotheses:
            out += ["## Fix hypotheses", ""]
            for hypothesis in synthesis.hypotheses[:6]:
                out += _hypothesis(hypothesis)
        if synthesis.actions_next:
            out += ["## Next actions", ""] + [f"1. {prose(a, 400)}" for a in synthesis.actions_next[:8]] + [""]
    diagnosis = result.outputs.get("diagnosis")
    if isinstance(diagnosis, Diagnosis):
        out += _diagnosis(diagnosis)
    gaps = result.outputs.get("gap_analysis")
    if isinstance(gaps, GapAnalysis):
        out += _gaps(gaps)
    out += triage_sections(trace, triage, context)
    usage = result.usage()
    cost = f", about ${usage.cost_usd:.4f}" if usage.cost_usd is not None else ""
    out += [
        f"_{result.provider} {inline_code(result.model or '', 60)}: {usage.input_tokens:,} input "
        f"({usage.cached_tokens:,} cached) and {usage.output_tokens:,} output tokens{cost}_",
        "",
    ]
    return "\n".join(out)
