"""Labelled real failures for the origin, split into a development half and a check half.

Two sources, each labelled by someone other than Refinery's rules:

- **Who&When** logs carry the annotated ``mistake_agent`` and ``mistake_step`` (a history index;
  our step 0 is the task, so the label is ``mistake_step + 1``).
- **tau-bench / tau2-bench** failures carry the task's expected actions. The label is the first
  state-changing call of the agent that is not among the expected ones (name and arguments, in
  any order); a failure whose calls are all expected has no wrong call (an omission) and no label.

The split is fixed and blind to content: a case is in the development half when the SHA-256 of its
name (``who-and-when/hand-crafted/12.json``, ``tau-bench/<trace id>``) is even. Rules are tuned on
the development half only; both halves are reported.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from refinery.compare.expected import expected_actions, state_changes
from refinery.compare.steps import extract_steps, normalize_args
from refinery.trace.model import Trace
from refinery.trace.roles import Roles
from refinery.trace.source import SelectionCriteria, verdict_of
from refinery.triage.model import AgentClaim, Confidence, Origin, TriageReport

LEVELS: tuple[Confidence, ...] = ("high", "medium", "low")
AGENT_BASES = ("most_work", "first_answer", "only_agent", "ended_it")
"""The agent claims made when no origin is stated (``refinery/triage/workers.py``)."""
TAU_FILES = ("tau-bench", "tau2-bench")


def half_of(name: str) -> str:
    """``development`` or ``check``, by the SHA-256 of the case's name."""
    return "development" if int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 2 == 0 else "check"


@dataclass(frozen=True)
class Case:
    """One labelled failure."""

    name: str
    dataset: str
    """``Who&When algorithm-generated``, ``Who&When hand-crafted``, ``tau-bench``, ``tau2-bench``."""
    trace: Trace
    step: int | None
    """The run order of the labelled origin; None for a tau failure with no wrong call."""
    agent: str | None = None

    @property
    def half(self) -> str:
        return half_of(self.name)


def who_and_when_cases(paths: list[Path]) -> Iterator[Case]:
    from refinery.trace.files import load_trace_file

    for path in paths:
        trace = load_trace_file(path)
        step = trace.labels.get("mistake_step")
        yield Case(
            name=f"who-and-when/{path.parent.name}/{path.name}",
            dataset=f"Who&When {path.parent.name}",
            trace=trace,
            step=int(step) + 1 if str(step).isdigit() else None,
            agent=trace.labels.get("mistake_agent"),
        )


def first_wrong_call(trace: Trace, roles: Roles) -> int | None:
    """The run order of the agent's first state-changing call that no expected action matches."""
    actions = expected_actions(trace) or []
    left = Counter((a["name"], normalize_args(a["arguments"])) for a in actions)
    by_id = {r.id: r for r in trace.runs}
    for step in state_changes(trace, roles):
        if left[(step.name, step.args)] > 0:
            left[(step.name, step.args)] -= 1
            continue
        return by_id[step.run_id].order
    return None


def tau_cases(real_traces: Path) -> Iterator[Case]:
    from refinery.trace.files import load_trace_files

    for folder in TAU_FILES:
        for path in sorted((real_traces / folder).glob("*.json")):
            for trace in load_trace_files(path):
                if verdict_of(trace, SelectionCriteria()).verdict != "failed" or expected_actions(trace) is None:
                    continue
                roles = Roles.of(trace)
                yield Case(f"{folder}/{trace.id}", folder, trace, first_wrong_call(trace, roles))


def tool_index(trace: Trace, order: int | None) -> int | None:
    """Position of the run at ``order`` among the agent's tool calls (for "within one step")."""
    if order is None:
        return None
    by_id = {r.id: r for r in trace.runs}
    roles = Roles.of(trace)
    calls = [by_id[s.run_id].order for s in extract_steps(trace) if s.kind == "tool" and roles.acts(by_id[s.run_id])]
    return calls.index(order) if order in calls else None


def first_state_change(trace: Trace) -> int | None:
    """The trivial baseline for tau: the agent's first state-changing call."""
    roles = Roles.of(trace)
    by_id = {r.id: r for r in trace.runs}
    writes = state_changes(trace, roles)
    return by_id[writes[0].run_id].order if writes else None


@dataclass
class LevelCount:
    named: int = 0
    right: int = 0

    @property
    def precision(self) -> str:
        return f"{100 * self.right / self.named:.0f} %" if self.named else "n/a"


def level_counts(scored: list[tuple[Case, Origin | None]]) -> dict[Confidence, LevelCount]:
    """Per confidence level: origins named (on cases with a labelled step) and how many were right."""
    counts: dict[Confidence, LevelCount] = {level: LevelCount() for level in LEVELS}
    for case, origin in scored:
        if origin is None or case.step is None:
            continue
        counts[origin.confidence].named += 1
        counts[origin.confidence].right += origin.step == case.step
    return counts


def triage_cases(cases: list[Case]) -> list[tuple[Case, TriageReport]]:
    """Each case with the triage it gets (no model, no baseline): the action's, redaction first."""
    from refinery.pipeline import triage_as_prepared

    return [(case, triage_as_prepared(case.trace)) for case in cases]


def score_cases(cases: list[Case]) -> list[tuple[Case, Origin | None]]:
    """Each case with the origin triage gives it (no model, no baseline)."""
    return [(case, triage.origin) for case, triage in triage_cases(cases)]


def agent_counts(claims: list[tuple[Case, AgentClaim | None]], basis: str) -> LevelCount:
    """Agent claims on ``basis`` in labelled multi-agent cases, and how many named the labelled agent."""
    count = LevelCount()
    for case, claim in claims:
        if claim is None or claim.basis != basis or case.agent is None:
            continue
        count.named += 1
        count.right += claim.agent.lower() == case.agent.lower()
    return count


def all_cases(shared: Path, who: list[Path]) -> list[Case]:
    """Every labelled case the shared datasets hold: Who&When logs, then tau failures."""
    return [*who_and_when_cases(who), *tau_cases(shared / "datasets" / "real-traces")]


def calibration_table(
    scored: list[tuple[Case, Origin | None]], claims: list[tuple[Case, AgentClaim | None]] | None = None
) -> dict[str, object]:
    """What ``refinery/triage/calibration.json`` holds: per half and in all, origins named and right per level."""
    halves = {
        half: {level: vars(count) for level, count in level_counts([s for s in scored if s[0].half == half]).items()}
        for half in ("development", "check")
    }
    total = {level: vars(count) for level, count in level_counts(scored).items()}
    datasets = Counter(case.dataset for case, _ in scored)
    return {
        "measured_on": ", ".join(f"{name}: {n}" for name, n in sorted(datasets.items())),
        "split": "a case is in the development half when the SHA-256 of its name is even",
        "right_means": "the origin is the labelled step (Who&When mistake_step; tau: the first unexpected write)",
        "halves": halves,
        "levels": total,
        "agent": {basis: vars(agent_counts(claims or [], basis)) for basis in AGENT_BASES},
        "agent_halves": {
            half: {
                basis: vars(agent_counts([c for c in claims or [] if c[0].half == half], basis))
                for basis in AGENT_BASES
            }
            for half in ("development", "check")
        },
    }
