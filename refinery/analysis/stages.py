"""The four stages: their prompts, their user texts, and the citation check on their outputs.

Each stage's output goes compactly into the next stage's user text, so every request
stays small (the documents themselves are reached through file_search, or packed inline
by the non-OpenAI providers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from pydantic import BaseModel

from refinery.analysis.providers.base import StageCall
from refinery.analysis.schemas import (
    Citation,
    Diagnosis,
    Evidence,
    GapAnalysis,
    Synthesis,
    TraceAnalysis,
)
from refinery.changes.model import Suspect
from refinery.compare.model import Comparison
from refinery.documents.render import DocumentSet
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport


@dataclass(frozen=True)
class StageSpec:
    key: str
    number: int
    prompt_file: str
    output_model: type[BaseModel]
    use_documents: bool
    max_output_tokens: int


STAGES: tuple[StageSpec, ...] = (
    StageSpec("trace_analysis", 1, "stage1_trace_analysis.md", TraceAnalysis, True, 4_000),
    StageSpec("gap_analysis", 2, "stage2_gap_analysis.md", GapAnalysis, True, 3_000),
    StageSpec("diagnosis", 3, "stage3_diagnosis.md", Diagnosis, True, 4_000),
    StageSpec("synthesis", 4, "stage4_synthesis.md", Synthesis, False, 4_000),
)


@cache
def prompt_text(name: str) -> str:
    return (resources.files("refinery") / "prompts" / name).read_text(encoding="utf-8")


def prompts_version() -> str:
    """The version recorded with every stage output."""
    return prompt_text("VERSION").strip()


def triage_digest(triage: TriageReport, limit: int = 8) -> str:
    lines = []
    if triage.origin:
        o = triage.origin
        agent = f" (agent {o.agent})" if o.agent else ""
        weight = "established" if o.confidence == "high" else "a lead to test against the trace, not a fact"
        if not o.stated:
            weight = "a weak lead: at this level triage is wrong more often than right"
        lines.append(
            f"- origin ({o.confidence} confidence, {weight}): {o.section} `{o.name}`{agent}, {o.reason} [{o.finding_id}]"
        )
    claim = triage.agent
    if claim is not None and claim.basis in ("most_work", "first_answer", "ended_it"):
        measured = f"right {claim.right} of {claim.named} times on labelled failures" if claim.named else "unmeasured"
        lines.append(
            f"- agent lead ({claim.confidence} confidence, {measured}; a lead, not a fact): {claim.agent}, "
            f"{claim.reason}; start reading at {claim.first_section}"
            + (", where the run's final answer first appears in its output" if claim.answer else "")
        )
    for f in triage.findings[:limit]:
        lines.append(f"- {f.id} {f.severity} {f.category} at {f.section}: {_clip(f.evidence, 160)}")
    if len(triage.findings) > limit:
        lines.append(f"- … {len(triage.findings) - limit} more in triage.md")
    return "\n".join(lines) or "- no findings: nothing failed, looped or ended empty"


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lines(lines: list[str], limit: int) -> str:
    """Whole lines up to ``limit`` characters, then a count of what was left out.

    Plain lines, not JSON: inside the request body JSON every quote would be escaped, and
    the tokens would go on punctuation instead of content.
    """
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        if used + len(line) + 1 > limit:
            out.append(f"(+{len(lines) - index} more)")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out) or "(none)"


def compact_trace_analysis(output: TraceAnalysis, limit: int = 1_800) -> str:
    lines = [f"- {e.kind} at {e.section}: {_clip(e.description, 140)}" for e in output.events[:12]]
    lines += [f"- evidence {e.file}#{e.section}: {_clip(e.rationale, 120)}" for e in output.evidence[:10]]
    lines += [
        f"- step {s.section} {s.outcome}: {_clip(s.summary, 120)}" for s in output.timeline[:20] if s.outcome != "ok"
    ]
    return _lines(lines, limit)


def compact_gaps(output: GapAnalysis, limit: int = 1_400) -> str:
    lines = [
        f"- [{c.status}] {_clip(c.expectation, 120)}; observed: {_clip(c.observed, 140)}"
        + (f" ({', '.join(f'{x.file}#{x.section}' for x in c.citations[:3])})" if c.citations else "")
        for c in sorted(output.clauses, key=lambda c: {"missing": 0, "partial": 1, "met": 2}[c.status])[:10]
    ]
    return _lines(lines, limit)


def compact_diagnosis(output: Diagnosis, limit: int = 1_800) -> str:
    lines = [
        f"- cause ({c.category}, from {c.origin_run_id}): {_clip(c.cause, 200)}; mechanism: {_clip(c.mechanism, 160)}; "
        f"symptom: {_clip(c.symptom, 100)}"
        + (f" ({', '.join(f'{x.file}#{x.section}' for x in c.citations[:3])})" if c.citations else "")
        for c in output.causal_chains[:4]
    ]
    lines.append(
        f"- confidence {output.confidence:.2f}"
        + (f"; inconclusive: {_clip(output.inconclusive_reason or '', 160)}" if output.inconclusive else "")
    )
    lines += [f"- remediation: {_clip(r.action, 140)} (target: {_clip(r.target, 60)})" for r in output.remediations[:6]]
    return _lines(lines, limit)


# Characters of each earlier stage's digest in each later stage's request: sized so that even
# maximal outputs keep every request under 2,000 tokens (benchmarks/stages.py, "worst").
DIGEST_LIMITS: dict[str, dict[str, int]] = {
    "gap_analysis": {"previous": 1_800},
    "diagnosis": {"previous": 900, "gaps": 900},
    "synthesis": {"diagnosis": 1_100, "gaps": 400, "previous": 400},
}


BASELINE_STAGES = {
    "gap_analysis": "Compare this run with the passing run step by step: a clause for each difference that matters.",
    "diagnosis": "Your diagnosis must explain the first divergence from the passing run, or say why it does not "
    "explain the failure.",
    "synthesis": "Say where the run parted from the passing one, and let a hypothesis undo that divergence.",
}


def baseline_digest(comparison: Comparison, limit: int = 700) -> str:
    """The comparison with the passing run, in a few lines, for stages 2-4."""
    lines = []
    divergence = comparison.divergence
    if divergence is not None:
        where = f" [baseline.md#{divergence.baseline_section}]" if divergence.baseline_section else ""
        agent = f" (agent {divergence.agent})" if divergence.agent else ""
        lines.append(f"- first divergence{agent}: {_clip(divergence.sentence or divergence.detail, 320)}{where}")
    else:
        lines.append("- this run took the same steps as the passing run")
    lines.append(
        f"- {len(comparison.differences)} differences in all; steps {comparison.steps} vs {comparison.baseline_steps}"
    )
    lines += [f"- {change.what}: {_clip(change.detail, 160)}" for change in comparison.changes]
    return _lines(lines, limit)


CHANGES_STAGES = {
    "diagnosis": "If one of these changes explains the failure, say so and cite it (changes.md#C…).",
    "synthesis": 'A hypothesis may target a changed line: say so ("restore the rule removed in C02"); '
    "the lines each change left in the head are given as `now L<n>: <line>`.",
}


HEAD_LINES = 6
"""Lines of each change's new side the synthesis sees, numbered, so that a fix can quote them exactly."""


def _head_lines(suspect: Suspect) -> list[str]:
    """The change's added lines, numbered when they are one run of lines (so their numbers are known)."""
    whole = len(suspect.added) == suspect.end_line - suspect.start_line + 1
    return [
        f"\n  now L{suspect.start_line + n}: {_clip(line, 160)}" if whole else f"\n  now: {_clip(line, 160)}"
        for n, line in enumerate(suspect.added[:HEAD_LINES])
    ]


def changes_digest(suspects: list[Suspect], limit: int = 1_200) -> str:
    """The best-ranked hunks of the pull request, a line each."""
    lines = [
        f"- {s.change_id} {s.path} L{s.start_line}-L{s.end_line} (score {s.score:.2f}): {_clip(s.reason, 160)}"
        + (f"; removed: {_clip(' / '.join(s.removed), 120)}" if s.removed else "")
        + "".join(_head_lines(s))
        for s in suspects[:5]
    ]
    return _lines(lines, limit)


def _changes_block(spec: StageSpec, suspects: list[Suspect]) -> str:
    if not suspects or spec.key not in CHANGES_STAGES:
        return ""
    return f"The pull request's changes, ranked against the failure (changes.md):\n{changes_digest(suspects)}\n{CHANGES_STAGES[spec.key]}\n\n"


def _baseline_block(spec: StageSpec, comparison: Comparison | None) -> str:
    if comparison is None or spec.key not in BASELINE_STAGES:
        return ""
    return (
        f"Against a passing run of the same task ({comparison.trace}, baseline.md):\n"
        f"{baseline_digest(comparison)}\n{BASELINE_STAGES[spec.key]}\n\n"
    )


def build_stage_call(
    spec: StageSpec,
    trace: Trace,
    triage: TriageReport,
    documents: DocumentSet,
    previous: dict[str, BaseModel],
    comparison: Comparison | None = None,
    suspects: list[Suspect] | None = None,
) -> StageCall:
    """The StageCall for ``spec``, given the outputs of the stages before it (and the passing run, if any)."""
    values: dict[str, str] = {
        "trace_id": trace.id,
        "run_count": str(len(trace.runs)),
        "error_count": str(len(trace.errored_runs)),
        "root_name": _clip(trace.root.name, 80),
        "documents": ", ".join(f"{d.name} ({len(d.section_ids)} sections)" for d in documents.documents),
        "triage_digest": triage_digest(triage),
        "previous": "",
        "gaps": "",
        "diagnosis": "",
        "baseline_block": _baseline_block(spec, comparison),
        "changes_block": _changes_block(spec, suspects or []),
    }
    limits = DIGEST_LIMITS.get(spec.key, {})
    stage1 = previous.get("trace_analysis")
    if isinstance(stage1, TraceAnalysis) and "previous" in limits:
        values["previous"] = compact_trace_analysis(stage1, limits["previous"])
    gaps = previous.get("gap_analysis")
    if isinstance(gaps, GapAnalysis) and "gaps" in limits:
        values["gaps"] = compact_gaps(gaps, limits["gaps"])
    diagnosis = previous.get("diagnosis")
    if isinstance(diagnosis, Diagnosis) and "diagnosis" in limits:
        values["diagnosis"] = compact_diagnosis(diagnosis, limits["diagnosis"])
    user_text = Template(prompt_text(spec.prompt_file)).safe_substitute(values)
    return StageCall(
        stage=spec.key,
        schema_name=spec.key,
        output_model=spec.output_model,
        system_text=prompt_text("system.md"),
        user_text=user_text,
        use_documents=spec.use_documents,
        max_output_tokens=spec.max_output_tokens,
    )


# -- citations -------------------------------------------------------------------------------


@dataclass
class CitationCheck:
    """What the check kept, corrected and dropped."""

    checked: int = 0
    dropped: int = 0
    corrected: int = 0
    unknown_origins: int = 0


def check_citations(output: BaseModel, documents: DocumentSet) -> tuple[BaseModel, CitationCheck]:
    """Drop (and count) citations whose section id does not exist; fix a wrong file name when the id is unique."""
    where: dict[str, str] = {}
    for document in documents.documents:
        for sid in document.section_ids:
            where[sid] = document.name
    report = CitationCheck()

    def keep(item: Citation | Evidence) -> bool:
        report.checked += 1
        section = item.section.strip().lstrip("#")
        if section not in where:
            report.dropped += 1
            return False
        if where[section] != item.file or section != item.section:
            report.corrected += 1
            item.file = where[section]  # type: ignore[assignment]
            item.section = section
        return True

    def visit(node: Any) -> None:
        if isinstance(node, BaseModel):
            for name in type(node).model_fields:
                value = getattr(node, name)
                if isinstance(value, list) and value and isinstance(value[0], (Citation, Evidence)):
                    setattr(node, name, [v for v in value if keep(v)])
                else:
                    visit(value)
                if name == "origin_run_id" and isinstance(value, str) and value.strip() not in where:
                    report.unknown_origins += 1
        elif isinstance(node, list):
            for item in node:
                visit(item)

    copy = output.model_copy(deep=True)
    visit(copy)
    return copy, report
