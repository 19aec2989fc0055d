"""The normalized Trace model every source produces and every later stage reads.

Runs are stored in execution order; tree helpers are derived from ``parent_id`` and
cached, since a trace is immutable once built.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

RunStatus = Literal["success", "error", "pending"]

KNOWN_RUN_TYPES = ("llm", "chain", "tool", "retriever", "prompt", "parser", "embedding", "agent")


class TraceWarning(BaseModel):
    """Something about the input that was repaired or is incomplete. Never silent."""

    model_config = ConfigDict(frozen=True)

    code: str
    """Machine-readable kind: orphan, cycle, duplicate_id, missing_time, truncated, binary, partial, …"""
    message: str
    """What happened and what Refinery did about it."""
    run_ids: list[str] = Field(default_factory=list)
    """The runs concerned (the first few when there are many)."""
    count: int = 1
    """How many runs or values this warning covers."""


def score_of(value: Any) -> tuple[float | None, str | None]:
    """A score as producers write it, read one way for every source: a finite number (a numeric string
    and a boolean too) is the score; anything else given is no score, and is returned as given."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return float(value), None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        return None, str(value)[:100]
    return number, None


class Feedback(BaseModel):
    """One piece of evaluator or human feedback on a run."""

    key: str
    """The feedback key, e.g. ``correctness``."""
    score: float | None = None
    """Numeric score; booleans are stored as 1.0/0.0."""
    value: Any = None
    """Non-numeric value, when the evaluator gave one."""
    comment: str | None = None
    """The evaluator's explanation."""
    source: str | None = None
    """Who gave it: ``model``, ``api``, ``app`` or the evaluator name."""
    run_id: str | None = None
    """The run the feedback is attached to."""
    fails_below: float | None = None
    """A score below this is a failed run by the producer's own rule (tau-bench's reward below 1)."""
    invalid_score: str | None = None
    """The score as given when it was no finite number (``NaN``, ``inf``, ``"high"``): unknown, never
    passing."""
    composed: bool = False
    """The comment is Refinery's summary of what the producer recorded (tau-bench's checks), not an
    evaluator's own words: shown, but never taken as evidence of what went wrong."""
    informational: bool = False
    """Reported beside the producer's own pass/fail checks, it decides nothing: a composite reward that
    penalties lower while the task checks it is made of passed."""


Actor = Literal["agent", "user", "environment", "routing"]
"""Whose step a run is; only ``agent`` steps (the system under test) can be where a failure began."""


class Run(BaseModel):
    """One step of a trace: an LLM call, a tool call, a chain, a retriever, …"""

    model_config = ConfigDict(extra="forbid")

    id: str
    """Unique id within the trace."""
    parent_id: str | None = None
    """The parent run; None only for the root."""
    trace_id: str
    """Id of the trace (the root run's id in LangSmith)."""
    order: int = 0
    """Position in execution order, 0 for the root."""
    dotted_order: str | None = None
    """LangSmith's sortable execution path, when the source has it."""
    name: str
    """The run's name: function, tool, model or agent step."""
    run_type: str = "chain"
    """llm, chain, tool, retriever, prompt, parser, embedding, agent, or the source's own."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """What the run received."""
    outputs: dict[str, Any] | None = None
    """What it produced; None when it produced nothing."""
    error: str | None = None
    """The error message or traceback, in full."""
    start_time: datetime | None = None
    """When it started (UTC), if known."""
    end_time: datetime | None = None
    """When it ended (UTC), if known."""
    prompt_tokens: int | None = None
    """Input tokens of an LLM call (or summed below a chain, as the source reports)."""
    completion_tokens: int | None = None
    """Output tokens."""
    total_tokens: int | None = None
    """Input plus output tokens."""
    cost: float | None = None
    """Cost in USD, as the source reports it."""
    model: str | None = None
    """Model name of an LLM call."""
    agent: str | None = None
    """The agent that acted, for multi-agent traces."""
    addressee: str | None = None
    """The agent a message is addressed to, when the producer records it (Magentic-One's role
    ``Orchestrator (-> WebSurfer)``): sending it hands that agent the turn."""
    actor: Actor | None = None
    """Who acted, when the producer records it: the system under test (``agent``), a person or a user
    simulator (``user``), or what the system acts on (``environment``: a code executor, a grader).
    None leaves it to ``trace.roles``, which reads it from the run's shape."""
    tags: list[str] = Field(default_factory=list)
    """Free-form tags."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form metadata, including source-specific fields we keep but do not model."""
    events: list[dict[str, Any]] = Field(default_factory=list)
    """Timestamped events (streamed tokens are dropped, exceptions kept)."""
    status: RunStatus = "success"
    """success, error, or pending when it never finished."""

    @property
    def duration_ms(self) -> float | None:
        """Wall time in milliseconds, when both times are known."""
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds() * 1000

    @property
    def is_error(self) -> bool:
        """Whether the run failed."""
        return self.status == "error" or bool(self.error)


class Trace(BaseModel):
    """A whole trace: the root run, every descendant in execution order, and what it was judged by."""

    id: str
    """The trace id (LangSmith: the root run id)."""
    source: str
    """Where it came from: ``langsmith``, ``file:langsmith``, ``file:otlp``, ``file:chat``, ``file:history``."""
    url: str | None = None
    """A link to view the trace, when the source has one."""
    runs: list[Run]
    """Every run, in execution order; ``runs[0]`` is the root."""
    project: str | None = None
    """Project (tracer session) name."""
    experiment: str | None = None
    """Experiment name when the trace is an eval run."""
    feedback: list[Feedback] = Field(default_factory=list)
    """Feedback on the root run: evaluator scores and comments."""
    reference_outputs: dict[str, Any] | None = None
    """The dataset example's expected outputs, when the run had one."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Source metadata kept for the documents (question, dataset, …)."""
    labels: dict[str, Any] = Field(default_factory=dict)
    """Ground-truth annotations shipped with benchmark data; never shown to the analysis."""
    warnings: list[TraceWarning] = Field(default_factory=list)
    """What was repaired or is missing; see TraceWarning."""
    partial: bool = False
    """True when the fetch could not get every run and the caller accepted that."""

    _by_id: dict[str, Run] | None = PrivateAttr(default=None)
    _children: dict[str, list[Run]] | None = PrivateAttr(default=None)

    @property
    def root(self) -> Run:
        """The root run."""
        return self.runs[0]

    @property
    def errored_runs(self) -> list[Run]:
        """Runs that failed, in execution order."""
        return [r for r in self.runs if r.is_error]

    @property
    def total_tokens(self) -> int:
        """Tokens summed over LLM runs (chains often repeat their children's totals); the root's own
        count when the producer records only a total for the run (SWE-agent's model_stats)."""
        return sum(r.total_tokens or 0 for r in self.runs if r.run_type == "llm") or (self.root.total_tokens or 0)

    def _index(self) -> tuple[dict[str, Run], dict[str, list[Run]]]:
        if self._by_id is None or self._children is None:
            by_id = {r.id: r for r in self.runs}
            children: dict[str, list[Run]] = {r.id: [] for r in self.runs}
            for r in self.runs:
                if r.parent_id is not None and r.parent_id in children:
                    children[r.parent_id].append(r)
            self._by_id, self._children = by_id, children
        return self._by_id, self._children

    def get(self, run_id: str) -> Run:
        """The run with this id; KeyError if absent."""
        return self._index()[0][run_id]

    def children(self, run_id: str) -> list[Run]:
        """Direct children, in execution order."""
        return self._index()[1][run_id]

    def ancestors(self, run_id: str) -> list[Run]:
        """Parent, grandparent, … up to the root."""
        by_id = self._index()[0]
        out: list[Run] = []
        parent = by_id[run_id].parent_id
        while parent is not None and parent in by_id:
            out.append(by_id[parent])
            parent = by_id[parent].parent_id
        return out

    def depth(self, run_id: str) -> int:
        """0 for the root."""
        return len(self.ancestors(run_id))

    def path(self, run_id: str) -> list[Run]:
        """Root first, down to and including the run."""
        return [*reversed(self.ancestors(run_id)), self.get(run_id)]

    def depths(self) -> dict[str, int]:
        """Depth of every run in one pass (runs are in pre-order, parents before children)."""
        out: dict[str, int] = {}
        for r in self.runs:
            out[r.id] = 0 if r.parent_id is None else out.get(r.parent_id, -1) + 1
        return out
