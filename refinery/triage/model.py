"""What triage reports: findings, the origin, and the TRAIL taxonomy they are named in."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["critical", "high", "medium", "low"]
Confidence = Literal["high", "medium", "low"]
FLOOR = 0.5
"""Below this measured precision an origin is not named: a step that is wrong more often than right
sends the engineer to the wrong place, which is worse than saying what was checked."""
Role = Literal["origin", "propagated", "independent"]

CATEGORY_GROUP = {
    "Language-only Hallucinations": "reasoning",
    "Tool-related Hallucinations": "reasoning",
    "Poor Information Retrieval": "reasoning",
    "Tool Output Misinterpretation": "reasoning",
    "Incorrect Problem Identification": "reasoning",
    "Tool Selection Errors": "reasoning",
    "Formatting Errors": "reasoning",
    "Instruction Non-compliance": "reasoning",
    "Tool Definition Issues": "system_execution",
    "Environment Setup Errors": "system_execution",
    "Rate Limiting": "system_execution",
    "Authentication Errors": "system_execution",
    "Service Errors": "system_execution",
    "Resource Not Found": "system_execution",
    "Resource Exhaustion": "system_execution",
    "Timeout Issues": "system_execution",
    "Context Handling Failures": "planning",
    "Resource Abuse": "planning",
    "Goal Deviation": "planning",
    "Task Orchestration": "planning",
    "Eval Gap": "evaluation",
}
TRAIL_CATEGORIES = tuple(c for c, g in CATEGORY_GROUP.items() if g != "evaluation")


class Finding(BaseModel):
    """One thing the rules saw."""

    id: str = ""
    """``F01``…, in rank order."""
    rule: str
    """The rule that fired: run_error, tool_output_error, truncated_output, invalid_json, repeated_call, …"""
    category: str
    """TRAIL category (or ``Eval Gap`` for evaluator verdicts)."""
    group: str
    """reasoning, system_execution, planning or evaluation."""
    severity: Severity
    """critical, high, medium or low."""
    run_id: str | None
    """The run the evidence is in."""
    section: str | None
    """Its section id in trace.md (``R0007``)."""
    step: int | None
    """Its execution position."""
    agent: str | None = None
    """The acting agent, when the trace has agents."""
    name: str | None = None
    """The run's name."""
    evidence: str
    """An excerpt from the trace (redacted, capped)."""
    explanation: str
    """What the rule concluded, in one or two sentences."""
    role: Role | None = None
    """For errors: origin of the chain, propagated from it, or an independent failure."""
    blamed_run_id: str | None = None
    """Where the fault most likely lies when not where it surfaced (code that failed to run)."""
    related_sections: list[str] = Field(default_factory=list)
    """Other sections the finding spans (each repetition of a loop, the propagated chain)."""
    evaluator: str | None = None
    """For an evaluator's verdict: the evaluator's key (``correctness``), which failures it judged share (1.8)."""
    recovered_at: str | None = None
    """For a failure: the section where the same operation later succeeded. The run got past it, so it
    is context for the failure, not its origin, unless nothing later explains the failure."""


class Origin(BaseModel):
    """The step where the failure most likely began, how sure triage is, and why."""

    run_id: str
    section: str
    step: int
    name: str
    agent: str | None
    """The agent of the system under test that took the step, when the trace has agents."""
    finding_id: str
    reason: str
    """The principle that placed it here, in one sentence."""
    run_type: str | None = None
    """llm, tool, chain, … of the origin run."""
    basis: str = "error"
    """What placed it: ``expected_actions``, ``baseline``, ``error``, ``precondition``, ``loop``,
    ``empty_output`` or ``recovered_error``."""
    confidence: Confidence = "low"
    """high, medium or low, from the evidence (``triage.confidence``)."""
    precision: float | None = None
    """How often an origin at this level was right on labelled real failures (``benchmarks quality``)."""
    evidence: list[str] = Field(default_factory=list)
    """What supports it, and what weakens it: corroboration, recovery, the symptom it explains."""
    symptom_section: str | None = None
    """Where the failure showed (an error saying a precondition failed), when that is another step."""

    @property
    def stated(self) -> bool:
        """Whether the report names it: its level's measured precision reaches the floor."""
        return self.precision is None or self.precision >= FLOOR


class AgentClaim(BaseModel):
    """Which agent of a multi-agent system the failure most likely lies with (pack 1.6).

    Named from a stated origin when there is one; otherwise from the work each agent did
    (``triage.workers``), with its own measured precision, so that a run whose step cannot be named
    still points the engineer at an agent when that has been right more often than not."""

    agent: str
    basis: Literal["origin", "most_work", "first_answer", "only_agent", "ended_it"]
    """``origin``: the stated origin's agent. ``most_work``: the worker that did most of the work.
    ``first_answer``: no work ran; the first agent to take up the task. ``only_agent``: the system under
    test has one agent (pack 1.7). ``ended_it``: the coordinator reviewed the last work and ended the
    run itself, not cut off by a limit or a crash (pack 1.8)."""
    reason: str
    """Why this agent, in one clause."""
    work_steps: int = 0
    """Its steps of work (``most_work``)."""
    all_work_steps: int = 0
    """Every worker's steps of work, for the share (``most_work``)."""
    first_section: str | None = None
    """Where to start reading: where the run's final answer first appears in its output (``answer``), else its first
    piece of work (with none, its first answer; for ``ended_it``, its review)."""
    first_step: int | None = None
    """That run's execution position."""
    answer: str | None = None
    """The run's final answer, when it appears in this agent's output before the run's last step: first at
    ``first_section`` (1.9). From the trace: untrusted text."""
    confidence: Confidence = "low"
    precision: float | None = None
    """How often a claim on this basis named the labelled agent (``benchmarks quality``)."""
    right: int = 0
    named: int = 0
    """The counts behind ``precision``."""

    @property
    def stated(self) -> bool:
        """Whether the report names it: its basis's measured precision reaches the floor."""
        return self.precision is None or self.precision >= FLOOR


class TriageReport(BaseModel):
    """Every finding, ranked, and the most likely origin."""

    trace_id: str
    findings: list[Finding]
    origin: Origin | None
    """The most likely origin, even below the floor (then a lead for the model, not a claim)."""
    runs: int
    errored_runs: int
    checked: list[str] = Field(default_factory=list)
    """What triage looked for, said when it names no origin."""
    agent: AgentClaim | None = None
    """The agent the failure most likely lies with, in a trace of several agents of the system under test."""

    @property
    def stated_agent(self) -> AgentClaim | None:
        """The agent claim the report names on its own: None when there is none, it is below the floor,
        or the stated origin already names it."""
        claim = self.agent
        if claim is None or not claim.stated or claim.basis == "origin":
            return None
        return claim

    @property
    def stated_origin(self) -> Origin | None:
        """The origin the report names: None when there is none or its level is below the floor."""
        return self.origin if self.origin is not None and self.origin.stated else None

    @property
    def by_category(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for finding in self.findings:
            counts[finding.category] += 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
