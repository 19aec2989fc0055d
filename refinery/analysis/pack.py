"""The Hypothesis Pack: Refinery's versioned, machine-readable result.

Its JSON Schema is generated from these models and published at
``schemas/hypothesis-pack-1.9.json`` (1.0 to 1.8 stay published beside it); a test fails if
the two drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from refinery.analysis.providers.base import Usage
from refinery.analysis.schemas import Hypothesis
from refinery.changes.fix import Fix
from refinery.changes.model import Suspect
from refinery.compare.model import Comparison
from refinery.triage.model import AgentClaim, Finding, Origin

SCHEMA_VERSION: Literal["1.9"] = "1.9"
"""1.1 adds ``groups`` and ``trace.name``; 1.2 adds ``selection``, ``baseline``, ``suspects``,
each group's ``members`` and ``total``; 1.3 adds ``selection.verdict``; 1.4 adds the origin's
``confidence``, measured ``precision``, ``basis``, ``evidence`` and ``symptom_section``,
``triage.checked`` and ``triage_agreement``; 1.5 adds ``fixes`` and ``fix_notes``; 1.6 adds
``triage.agent``, each fix's ``id`` and fixes from the model (``source: model``, the synthesis
stage's ``fixes``); 1.7 adds the agent claim's bases ``first_answer`` and ``only_agent``, and
``diagnosis_origin``, ``diagnosis_agent`` and ``agent_agreement``; 1.8 adds the agent claim's basis
``ended_it`` and a finding's ``evaluator``; 1.9 adds the agent claim's ``answer`` (the run's final
answer, when it first appears in the agent's output before the run's last step). Every older pack is a valid pack of each later version."""


class PackTrace(BaseModel):
    """Which trace was analysed."""

    id: str
    source: str
    url: str | None = None
    name: str | None = None
    """The root run's name (1.1)."""


class GroupMember(BaseModel):
    """One failing trace of a group (1.2)."""

    trace_id: str
    name: str | None = None
    url: str | None = None
    analysed: bool = False
    """The model stages ran on it (the group's representative)."""
    flaky: str | None = None
    """"flaky: failed 1 of 3 repetitions" when its example passed in other repetitions."""


class PackSelection(BaseModel):
    """Why this trace was chosen, and how its example fared across repetitions (1.2)."""

    reasons: list[str] = Field(default_factory=list)
    """The error, or each feedback score at or below the threshold; for a trace that passed, why it passed."""
    verdict: Literal["failed", "passed", "unknown"] = "failed"
    """What the selection rule says of the trace: failed, passed (analysed because it was named or
    ``--all`` asked), or unknown (no error and no feedback to judge by) (1.3)."""
    example_id: str | None = None
    repetitions: int = 1
    failed_repetitions: int = 1
    flaky: str | None = None
    passed_trace_ids: list[str] = Field(default_factory=list)


class FailureGroup(BaseModel):
    """Failures that share a root cause (1.1)."""

    id: str
    """G1, G2, … in rank order."""
    title: str
    """What they share, e.g. "tool `search`: Rate Limiting"."""
    category: str
    origin_name: str | None
    """The run or tool where they start."""
    cause: str
    """The clearest statement of the cause among the members."""
    severity: str
    trace_ids: list[str] = Field(default_factory=list)
    members: list[GroupMember] = Field(default_factory=list)
    """Each trace with its link, whether it was analysed and whether it is flaky (1.2)."""
    total: int | None = None
    """Failures in the whole run, so that "6 of 12" reads from the pack (1.2)."""

    @property
    def count(self) -> int:
        return len(self.trace_ids)


class CitationStats(BaseModel):
    """How the stage's citations fared against the real section ids."""

    checked: int = 0
    dropped: int = 0
    corrected: int = 0
    unknown_origins: int = 0


class StageRecord(BaseModel):
    """One stage's outcome."""

    stage: str
    """trace_analysis, gap_analysis, diagnosis or synthesis."""
    number: int
    status: Literal["ok", "failed", "skipped"]
    prompts_version: str
    provider: str | None = None
    model: str | None = None
    attempts: int = 0
    """1, or 2 after a re-ask for invalid output."""
    wall_time_s: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    citations: CitationStats = Field(default_factory=CitationStats)
    output: dict[str, Any] | None = None
    error: str | None = None


class PackUsage(Usage):
    """Tokens and estimated cost over all stages."""

    cost_usd: float | None = None


class PackTriage(BaseModel):
    """The deterministic triage the stages started from."""

    origin: Origin | None
    """The most likely origin at any level; ``origin.stated`` says whether the report names it (1.4)."""
    findings: list[Finding]
    checked: list[str] = Field(default_factory=list)
    """What triage looked for and found, said when it names no origin (1.4)."""
    agent: AgentClaim | None = None
    """The agent of a multi-agent system the failure most likely lies with, and on what basis (1.6)."""


class HypothesisPack(BaseModel):
    """Why the eval failed, and what to try: the artifact other tools consume."""

    schema_version: Literal["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9"] = SCHEMA_VERSION
    generated_at: datetime
    refinery_version: str
    status: Literal["complete", "partial", "offline"]
    """complete: all four stages ran; partial: a stage failed; offline: triage only."""
    trace: PackTrace
    provider: str | None
    model: str | None
    prompts_version: str
    summary: str | None
    stages: list[StageRecord]
    hypotheses: list[Hypothesis]
    triage: PackTriage
    usage: PackUsage
    warnings: list[str]
    error: str | None = None
    store_id: str | None = None
    """The OpenAI vector store that still holds the documents, when it was kept (1.1): `refinery chat --pack` reuses it."""
    groups: list[FailureGroup] = Field(default_factory=list)
    """Failures grouped by shared root cause: one group for a single trace's pack, several after a merge (1.1)."""
    selection: PackSelection | None = None
    """Why the trace was selected as failing (1.2)."""
    baseline: Comparison | None = None
    """Against a passing run of the same task: the first divergence and every difference (1.2)."""
    suspects: list[Suspect] = Field(default_factory=list)
    """The pull request's hunks ranked against the failure, best first (1.2): the first is claimed as the
    likely cause only when its score clears ``suspect_threshold``."""
    suspect_threshold: float | None = None
    """The score a suspect must reach to be claimed (1.2)."""
    triage_agreement: Literal["agrees", "differs", "no_triage_origin"] | None = None
    """Whether the diagnosis placed the origin where triage did (its first causal chain's step); None
    without a diagnosis (1.4)."""
    diagnosis_origin: str | None = None
    """The section where the diagnosis's first causal chain begins, as the model gave it (1.7)."""
    diagnosis_agent: str | None = None
    """The agent whose step that is, in a trace of named agents (1.7)."""
    agent_agreement: Literal["agrees", "differs"] | None = None
    """Whether ``diagnosis_agent`` is the agent triage's claim names; None without both (1.7)."""
    fixes: list[Fix] = Field(default_factory=list)
    """Edits to the pull request's head that passed every check (its file, its lines, redaction, size) (1.5)."""
    fix_notes: list[str] = Field(default_factory=list)
    """Why a fix was dropped before it was shown (1.5)."""

    @property
    def verdict(self) -> str | None:
        """Whether the run failed, passed or is unknown, as its selection judged it; None without one."""
        return self.selection.verdict if self.selection else None


def pack_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the HypothesisPack (the current version)."""
    schema = HypothesisPack.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://github.com/refinery-ai/refinery/schemas/hypothesis-pack-{SCHEMA_VERSION}.json"
    return schema
