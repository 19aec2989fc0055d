"""What comparing a failing run with a passing one reports (also the pack's ``baseline``, 1.2)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DifferenceKind = Literal["different_tool", "different_arguments", "extra_step", "missing_step", "error"]


class StepRef(BaseModel):
    """One step of one of the two runs."""

    section: str
    """Its trace.md section in that run (``R0007``)."""
    run_id: str
    step: int
    """1-based position among the run's steps (model calls, tool calls, agent turns)."""
    label: str
    """``search_flights({"to": "JFK"})``, ``LLM gpt-4.1``."""
    agent: str | None = None


class Difference(BaseModel):
    """A place where the two runs did not do the same thing."""

    kind: DifferenceKind
    """different_tool or different_arguments (both runs took a step there), extra_step (only this run),
    missing_step (only the passing run), error (the same step failed here and not there)."""
    failing: StepRef | None = None
    baseline: StepRef | None = None
    anchor: StepRef | None = None
    """For a missing step: the failing run's step just before where it should have come."""
    detail: str
    """One sentence: what this run did, and what the passing run did instead."""


class Divergence(BaseModel):
    """The first difference: where this run went wrong, against the passing run."""

    section: str | None
    """The failing run's section (for a missing step, the step before the gap)."""
    run_id: str | None
    step: int | None
    kind: DifferenceKind
    agent: str | None = None
    detail: str
    baseline_section: str | None = None
    """B01 in baseline.md: the two runs side by side around it."""
    baseline_step: int | None = None
    """The passing run's step (1-based) this one is set against, when there is one (1.4)."""
    sentence: str = ""
    """The divergence in one exact sentence, naming the positions in both runs (1.4)."""


class ContextChange(BaseModel):
    """Something around the runs that differs: a system prompt, the tools offered, the model."""

    what: Literal["system_prompt", "tools", "model", "parameters"]
    detail: str
    diff: str | None = None
    """A unified diff (passing run → this run), for prompts."""


class Comparison(BaseModel):
    """The failing run against a passing run of the same task or example."""

    trace: str
    """The passing run's trace id."""
    source: str
    """Where it came from: ``baseline-file``, ``baseline-trace-id``, ``repetition`` (a passing repetition of
    the same example), ``baseline-experiment``, ``file`` (a passing trial in the same file)."""
    steps: int
    """Tool calls, agent turns and failed model calls of this run."""
    baseline_steps: int
    model_calls: int = 0
    baseline_model_calls: int = 0
    divergence: Divergence | None = None
    """None when the two runs took the same steps."""
    differences: list[Difference] = Field(default_factory=list)
    changes: list[ContextChange] = Field(default_factory=list)
    moved_reads: int = 0
    """Reads done in another order, paired rather than reported."""
    retries: int = 0
    """Retried steps folded into one (both runs)."""
    truncated: bool = False
    """The runs differ in too many steps to align all of them; the tail was paired by position."""

    @property
    def summary(self) -> str:
        if self.divergence is None:
            return f"took the same {self.steps} steps as the passing run"
        return self.divergence.sentence or self.divergence.detail
