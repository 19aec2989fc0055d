"""The offline report: what triage alone can tell, as Markdown for a PR comment or summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from refinery.analysis.pack import PackSelection
from refinery.changes.fix import Fix
from refinery.changes.model import Suspect
from refinery.compare.model import Comparison
from refinery.report.baseline import baseline_section
from refinery.report.changes import changes_section
from refinery.report.mermaid import render_mermaid
from refinery.report.sanitize import inline_code, prose, table_cell
from refinery.report.timeline import timeline_table
from refinery.trace.model import Trace
from refinery.triage.confidence import (
    agent_sentence,
    failure_subject,
    origin_phrase,
    precision_note,
    unnamed_reason,
)
from refinery.triage.model import TriageReport
from refinery.words import plural

ORIGIN_EVIDENCE = 400
"""Characters of the origin's evidence in the summary: a departure from the expected actions says
what the run did and then what was expected, and the second half is the point."""
FINDING_EVIDENCE = 320
"""Characters of a finding's evidence in the findings table (all of it is in ``triage.json``)."""
MODEL_HINT = "Set OPENAI_API_KEY (or another provider's key) to add the four-stage model diagnosis with fix hypotheses."


@dataclass
class ReportContext:
    """What the report says about how it was made."""

    redaction_counts: dict[str, int] = field(default_factory=dict)
    redaction_enabled: bool = True
    budget_notes: list[str] = field(default_factory=list)
    model_note: str | None = MODEL_HINT
    comparison: Comparison | None = None
    """Against a passing run, when one was compared."""
    suspects: list[Suspect] = field(default_factory=list)
    """The pull request's hunks, ranked."""
    fixes: list[Fix] = field(default_factory=list)
    """Fixes that passed their checks."""
    fix_notes: list[str] = field(default_factory=list)
    """Why a fix was dropped."""
    selection: PackSelection | None = None
    """Why the trace was chosen: its verdict by the selection rule, with the evidence."""


def verdict_lines(selection: PackSelection | None) -> list[str]:
    """Whether the trace failed, by the selection rule, and what says so: never "failed" for a pass."""
    if selection is None:
        return []
    why = prose("; ".join(selection.reasons), 500)
    text = {
        "failed": f"**Verdict.** Failed: {why}.",
        "passed": f"**Verdict.** Passed ({why}); analysed because it was asked for.",
        "unknown": "**Verdict.** Unknown: no error and no feedback score to judge it by; analysed because it was asked for.",
    }[selection.verdict]
    flaky = f" {prose(selection.flaky, 100)}." if selection.flaky else ""
    return [text + flaky, ""]


def _quoted(evidence: str, limit: int) -> str:
    # The sentence supplies its own full stop; one inside the quote as well reads as "…`.".
    return inline_code(evidence.rstrip(". "), limit)


def _run_counts(trace: Trace, triage: TriageReport) -> str:
    """How many runs raised an error, and how many returned one as their output: "0 errored" alone
    reads as "nothing failed" above an origin that is a tool's reported error."""
    reported = len({f.run_id for f in triage.findings if f.rule == "tool_output_error"})
    also = f", {reported} returned an error as output" if reported else ""
    return f"{plural(len(trace.runs), 'run')}, {len(trace.errored_runs)} errored{also}."


def _summary(trace: Trace, triage: TriageReport, verdict: str | None) -> str:
    parts = [_run_counts(trace, triage)]
    origin = triage.stated_origin
    if origin:
        finding = next(f for f in triage.findings if f.id == origin.finding_id)
        agent = f" (agent {inline_code(origin.agent)})" if origin.agent else ""
        parts.append(
            f"{failure_subject(verdict)} {origin_phrase(origin)} **{origin.section}** {inline_code(origin.name)}{agent}: "
            f"{finding.category.lower()}, {_quoted(finding.evidence, ORIGIN_EVIDENCE)} ({precision_note(origin)})."
        )
    else:
        parts.append(unnamed_reason(triage.checked, triage.origin))
    if triage.stated_agent is not None:
        parts.append(agent_sentence(triage.stated_agent, lambda name: inline_code(name, 60), verdict))
    gaps = [f for f in triage.findings if f.rule == "eval_feedback"]
    if gaps:
        parts.append("Evaluator verdict: " + "; ".join(_quoted(f.evidence, 140) for f in gaps[:3]) + ".")
    return " ".join(parts)


def report_title(trace: Trace) -> list[str]:
    """The report's heading and trace line."""
    out = [f"# Refinery report: {inline_code(trace.root.name, 80)}", ""]
    meta = [f"trace {inline_code(trace.id, 80)}", trace.source]
    if trace.project:
        meta.append(f"project {inline_code(trace.project, 60)}")
    return [*out, " · ".join(meta), ""]


def origin_line(triage: TriageReport, label: str = "Origin step") -> list[str]:
    o = triage.stated_origin
    if o is None:
        return []
    agent = f" · agent {inline_code(o.agent)}" if o.agent else ""
    evidence = "; ".join(prose(e, 200) for e in o.evidence)
    symptom = f" It showed as a failure at {o.symptom_section}." if o.symptom_section else ""
    return [
        f"**{label}:** {o.section} {inline_code(o.name)} (step {o.step}){agent}: {o.reason}.{symptom} "
        f"Evidence: {evidence}. {precision_note(o).capitalize()}.",
        "",
    ]


def tree_helps(trace: Trace) -> bool:
    """Whether a run tree says more than the timeline: only when runs nest below others. A flat run,
    whatever its agents or errors, would draw a fan of boxes under the root that the timeline above
    already lists, each with its agent, status and what it did."""
    root = trace.root.id
    return any(r.parent_id not in (None, root) for r in trace.runs)


def render_offline_report(trace: Trace, triage: TriageReport, context: ReportContext | None = None) -> str:
    """report.md for a trace analysed by triage alone."""
    context = context or ReportContext()
    out = [*report_title(trace), *verdict_lines(context.selection)]
    verdict = context.selection.verdict if context.selection else None
    out += [f"**Summary.** {_summary(trace, triage, verdict)}", "", *origin_line(triage)]
    out += baseline_section(context.comparison)
    out += changes_section(context.suspects, context.fixes, context.fix_notes)
    out += triage_sections(trace, triage, context)
    if context.model_note:
        out += [f"> {context.model_note}", ""]
    return "\n".join(out)


def triage_sections(trace: Trace, triage: TriageReport, context: ReportContext) -> list[str]:
    """Findings, eval gaps, timeline, run tree and notes: the body both report kinds share."""
    out: list[str] = []
    out += ["## Findings", ""]
    # A failure that propagated through enclosing runs is one line with its path, not one line per run.
    shown = [f for f in triage.findings if f.role != "propagated"]
    if shown:
        out += ["| ID | Severity | Category | Run | Evidence |", "|---|---|---|---|---|"]
        for f in shown[:30]:
            where = f"{f.section} {table_cell(f.name or '', 40)}" + (f" @{table_cell(f.agent, 30)}" if f.agent else "")
            path = " → ".join(f.related_sections[:6]) if f.rule == "run_error" and f.related_sections else ""
            through = f" (propagated through {path})" if path else ""
            recovered = f" (recovered at {f.recovered_at})" if f.recovered_at else ""
            evidence = table_cell(f.evidence, FINDING_EVIDENCE) + through + recovered
            out.append(f"| {f.id} | {f.severity} | {f.category} | {where} | {evidence} |")
        if len(shown) > 30:
            out.append(f"\n{len(shown) - 30} more findings are in `triage.json`.")
    else:
        out.append("No findings.")
    out.append("")

    gaps = [f for f in triage.findings if f.group == "evaluation"]
    out += ["## Eval gaps", ""]
    if gaps:
        out += [f"- **{f.id}** {table_cell(f.explanation, 200)} {inline_code(f.evidence, 240)}" for f in gaps]
    elif trace.feedback or trace.reference_outputs:
        out.append("Evaluator feedback and the reference output show no gap at the threshold.")
    else:
        out.append("No evaluator feedback or reference output came with this trace.")
    out.append("")

    out += ["## Timeline", "", *timeline_table(trace, triage)]
    if tree_helps(trace):
        out += ["", "## Run tree", "", "```mermaid", render_mermaid(trace, triage), "```", ""]
    else:
        out.append("")

    notes = []
    if context.redaction_enabled:
        counts = context.redaction_counts
        if counts:
            detail = ", ".join(f"{name}: {n}" for name, n in counts.items())
            notes.append(f"Redacted {sum(counts.values())} values before writing anything ({detail}).")
        else:
            notes.append("Redaction was on; nothing matched.")
    else:
        notes.append("Redaction was **off** (`--no-redact`).")
    notes += [f"{w.message} ({w.code}, {w.count})" for w in trace.warnings]
    notes += context.budget_notes
    if trace.partial:
        notes.append("This trace is **partial**: not every run could be fetched.")
    out += ["## Notes", ""] + [f"- {table_cell(n, 400)}" for n in notes] + [""]
    return out
