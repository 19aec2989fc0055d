"""The four stages' structured outputs, as strict pydantic models.

Models are strict in both directions: pydantic rejects unknown fields, and
``strict_json_schema`` turns each model into the shape OpenAI's strict structured outputs
accept (every object ``additionalProperties: false``, every property required, optional
values written as ``X | None``, no defaults).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from refinery.triage.model import TRAIL_CATEGORIES

Category = Literal[TRAIL_CATEGORIES]  # type: ignore[valid-type]
DocumentName = Literal["trace.md", "prompts.md", "evals.md", "triage.md", "baseline.md", "changes.md"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Citation(StrictModel):
    """A pointer into the documents."""

    file: DocumentName = Field(
        description="The document: trace.md, prompts.md, evals.md, triage.md, or baseline.md and changes.md when "
        "they were given."
    )
    section: str = Field(description="The section id exactly as in its heading: R0007, P01, E02, F01.")


class Evidence(StrictModel):
    """A section that matters, and why."""

    file: DocumentName = Field(description="The document the section is in.")
    section: str = Field(description="The section id, e.g. R0007.")
    rationale: str = Field(description="Why this section matters for the failure.")


class Coverage(StrictModel):
    """What was read and what was not."""

    files_scanned: list[str] = Field(description="Documents (or section ranges) actually read.")
    remaining: list[str] = Field(description="Documents or section ranges not read; empty if everything was read.")


class TimelineStep(StrictModel):
    section: str = Field(description="The run's section id, e.g. R0004.")
    summary: str = Field(description="What happened in this step, in one sentence.")
    outcome: Literal["ok", "error", "suspect"] = Field(
        description="ok, error, or suspect (looks wrong without failing)."
    )


class KeyEvent(StrictModel):
    kind: Literal["error", "tool_failure", "retry", "loop", "truncation", "handoff", "decision", "other"]
    section: str = Field(description="Where it happened (section id).")
    description: str = Field(description="What happened.")


class TraceAnalysis(StrictModel):
    """Stage 1: what happened, step by step."""

    timeline: list[TimelineStep] = Field(description="The steps that matter, in execution order.")
    events: list[KeyEvent] = Field(description="Errors, retries, loops, truncations, hand-offs and decisions.")
    coverage: Coverage
    evidence: list[Evidence] = Field(description="The sections that best show what went wrong.")


class Clause(StrictModel):
    expectation: str = Field(description="One thing the run was expected to do (from evals.md).")
    status: Literal["met", "partial", "missing"]
    observed: str = Field(description="What the trace shows instead.")
    citations: list[Citation]


class GapAnalysis(StrictModel):
    """Stage 2: each expectation against what the trace shows."""

    clauses: list[Clause]
    coverage: Coverage


class CausalChain(StrictModel):
    symptom: str = Field(description="What the evaluator or user saw.")
    mechanism: str = Field(description="How the cause produced the symptom.")
    cause: str = Field(description="The root cause.")
    category: Category = Field(description="TRAIL category of the root cause.")
    origin_run_id: str = Field(description="Section id of the run where the failure began, e.g. R0004.")
    citations: list[Citation]


class Remediation(StrictModel):
    action: str = Field(description="What to change.")
    target: str = Field(description="Where: a prompt, tool, file, config or eval.")


class Diagnosis(StrictModel):
    """Stage 3: root cause."""

    causal_chains: list[CausalChain]
    remediations: list[Remediation]
    confidence: float = Field(ge=0, le=1, description="0 to 1.")
    inconclusive: bool = Field(description="True when the evidence does not support a root cause.")
    inconclusive_reason: str | None = Field(description="Why, when inconclusive; otherwise null.")


class ProposedChange(StrictModel):
    kind: Literal["prompt", "tool_description", "code", "config", "eval"]
    target: str = Field(description="The prompt (P01), tool, file or setting to change.")
    before: str | None = Field(description="The current text, when quoting it helps; otherwise null.")
    after: str = Field(description="The proposed text or change.")


class Hypothesis(StrictModel):
    id: str = Field(description="H1, H2, …")
    title: str
    category: Category
    origin_run_id: str = Field(description="Section id of the run the hypothesis is about, e.g. R0004.")
    rationale: str
    proposed_change: ProposedChange
    expected_effect: str
    how_to_verify: str = Field(description="A concrete check: the eval to rerun, the assertion to watch.")
    confidence: float = Field(ge=0, le=1)


class ModelFix(StrictModel):
    """An edit to a file of the pull request's head that implements a hypothesis (pack 1.6). Refinery
    checks it against the checkout (file, lines, redaction, size) and drops it with a note otherwise."""

    hypothesis_id: str = Field(description="The hypothesis it implements: H1, H2, …")
    path: str = Field(description="The file, relative to the repository root, as changes.md names it.")
    start_line: int = Field(description="The first line replaced, 1-based, in the pull request's head.")
    end_line: int = Field(description="The last line replaced (inclusive).")
    original: list[str] = Field(description="The lines there now, exactly, one string per line.")
    replacement: list[str] = Field(description="The lines that take their place, one string per line.")


class Synthesis(StrictModel):
    """Stage 4: what to tell the team, and what to try."""

    summary: str = Field(description="Two to four sentences: what failed and why.")
    top_findings: list[str]
    actions_next: list[str]
    hypotheses: list[Hypothesis]
    fixes: list[ModelFix] = Field(
        default_factory=list,
        description="Edits to the pull request's files that implement a hypothesis, only where changes.md "
        "shows the exact lines; empty otherwise.",
    )


STAGE_MODELS: dict[str, type[StrictModel]] = {
    "trace_analysis": TraceAnalysis,
    "gap_analysis": GapAnalysis,
    "diagnosis": Diagnosis,
    "synthesis": Synthesis,
}
_UNSUPPORTED = ("default", "title")


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema in the form OpenAI's strict mode requires."""
    schema = copy.deepcopy(model.model_json_schema())

    def visit(node: Any) -> None:
        # `node` is always a schema; maps of names to schemas (properties, $defs) are
        # walked by value, so a property that happens to be called "title" survives.
        if not isinstance(node, dict):
            return
        for key in _UNSUPPORTED:
            node.pop(key, None)
        if node.get("type") == "object" or "properties" in node:
            node["type"] = "object"
            node["additionalProperties"] = False
            node["required"] = list(node.get("properties", {}))
        for key in ("properties", "$defs"):
            for child in (node.get(key) or {}).values():
                visit(child)
        for key in ("items",):
            visit(node.get(key))
        for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
            for child in node.get(key) or []:
                visit(child)

    visit(schema)
    return schema
