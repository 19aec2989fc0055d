"""How sure triage is of an origin, how often that level has been right, and how to say it.

The level follows from the evidence, by principle:

- **high**: the producer's own record of the task says this call was wrong (expected actions), two
  independent sources agree on the step (a failure at the step where the run departed), or the run
  itself failed with this error (it propagated to the root).
- **medium**: one source: the first departure from a passing run, a cause found behind a
  precondition error, a loop.
- **low**: weaker evidence. A failure along the way of a run that failed by its verdict (a wrong
  answer) and did not crash, even one the run gave up on: the verdict is about the answer, agents
  work through errors, and on labelled multi-agent failures such an error was the annotated
  mistake in only about one case in five. An
  expected call never made (the step before the gap only anchors it), an empty answer, a failure the
  run recovered from.

Each level's precision is measured on labelled real failures (``python -m benchmarks quality
--calibrate`` writes ``calibration.json``: each half's counts, and the totals over both that the
report quotes; the rules themselves were tuned on the development half only). The wording follows the
level: "starts at" only at high, "most likely starts at" at medium, "possibly starts at" at low;
below ``FLOOR`` the report names no step and says what was checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from refinery.triage.model import FLOOR, AgentClaim, Confidence, Origin

MIN_SAMPLE = 5
"""Labelled origins a level needs before its precision is a number worth quoting."""
AGENT_PHRASE: dict[Confidence, str] = {"high": "lies in", "medium": "most likely lies in", "low": "possibly lies in"}
PHRASE: dict[Confidence, str] = {"high": "starts at", "medium": "most likely starts at", "low": "possibly starts at"}
_BASIS = {
    "expected_actions": "departs from the task's expected actions",
    "baseline": "departs from a passing run of the same task",
    "error": "a failure the run did not recover from",
    "precondition": "set up the state a later precondition error reports",
    "loop": "the same action with the same result, repeated",
    "empty_output": "the answer was empty",
    "recovered_error": "a failure the run recovered from; nothing later explains the failure",
}


@dataclass(frozen=True)
class Evidence:
    """What placed an origin, and what corroborates it."""

    basis: str
    ended_run: bool = False
    """No unrecovered failure after it (for failures)."""
    crashed_run: bool = False
    """The run itself failed with this error (it propagated to the root)."""
    corroborated: bool = False
    """A second, independent source points at the same step."""
    missing: bool = False
    """A departure that is a call never made: the step is only where it should have come."""

    def describe(self) -> list[str]:
        out = [_BASIS.get(self.basis, self.basis)]
        if self.crashed_run:
            out.append("the run failed with this error")
        elif self.ended_run and self.basis in ("error", "precondition"):
            out.append("no unrecovered failure comes after it")
        if self.corroborated:
            out.append("a second source points at the same step")
        return out


def level_of(evidence: Evidence) -> Confidence:
    """The confidence level the evidence earns (see the module's principles)."""
    if evidence.corroborated or evidence.crashed_run:
        return "high"
    if evidence.basis == "expected_actions":
        return "low" if evidence.missing else "high"
    if evidence.basis in ("baseline",):
        return "low" if evidence.missing else "medium"
    if evidence.basis == "precondition":
        return "medium"
    if evidence.basis == "loop":
        return "medium"
    return "low"


@cache
def calibration() -> dict[str, Any]:
    """The measured table: per level and agent basis, named and right on the labelled failures (both halves)."""
    try:
        text = resources.files("refinery.triage").joinpath("calibration.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def precision_of(level: Confidence) -> float | None:
    """How often an origin at ``level`` was right on labelled real failures; None when too few were measured."""
    row = calibration().get("levels", {}).get(level, {})
    named, right = int(row.get("named", 0)), int(row.get("right", 0))
    return right / named if named >= MIN_SAMPLE else None


def agent_calibration(basis: str) -> tuple[int, int]:
    """Agent claims on ``basis`` measured on labelled multi-agent failures: (named, right)."""
    row = calibration().get("agent", {}).get(basis, {})
    return int(row.get("named", 0)), int(row.get("right", 0))


def work_share(claim: AgentClaim) -> str:
    """``7 of 9 steps of work, the first at R0005``; ``all 3 …``, ``both …`` or ``its only step of work,
    at R0005`` when the agent did all of it. With the run's answer traced (``claim.answer``), the count
    alone: where to start reading is said with the answer."""
    if claim.all_work_steps == 1:
        count, where = "its only step of work", f", at {claim.first_section}"
    else:
        whole = "both" if claim.all_work_steps == 2 else f"all {claim.all_work_steps}"
        share = whole if claim.work_steps == claim.all_work_steps else f"{claim.work_steps} of {claim.all_work_steps}"
        count, where = f"{share} steps of work", f", the first at {claim.first_section}"
    return count + ("" if claim.answer else where)


def _where_to_read(claim: AgentClaim, code: Callable[[str], str]) -> str:
    """The parenthesis after the agent: its share of the work and where to start reading."""
    if not claim.first_section:
        return ""
    if claim.answer:
        share = f"{work_share(claim)}; " if claim.basis == "most_work" else ""
        return f" ({share}the final answer, {code(claim.answer)}, first appears in its output at {claim.first_section})"
    return (
        f" ({work_share(claim)})"
        if claim.basis == "most_work"
        else f" (its first answer at {claim.first_section})"
        if claim.basis == "first_answer"
        else f" (its review at {claim.first_section})"
        if claim.basis == "ended_it"
        else f" (start reading at {claim.first_section})"
    )


def agent_sentence(
    claim: AgentClaim, code: Callable[[str], str] = lambda text: f"`{text}`", verdict: str | None = None
) -> str:
    """``The failure possibly lies in `WebSurfer`'s work (7 of 9 steps of work, the first at R0005): the
    agent that did most of the work the answer rests on. Low confidence: right 65 of 97 times …``.
    ``code`` formats the agent's name and the answer, which come from the trace (untrusted); a run not
    known to have failed (``verdict``) is not called a failure (``failure_subject``)."""
    share = _where_to_read(claim, code)
    measured = (
        f"right {claim.right} of {claim.named} times on labelled multi-agent failures"
        if claim.named >= MIN_SAMPLE
        else "not yet measured on enough labelled failures"
    )
    return (
        f"{failure_subject(verdict)} {AGENT_PHRASE[claim.confidence]} {code(claim.agent)}'s work{share}: {claim.reason}. "
        f"{claim.confidence.capitalize()} confidence: {measured}."
    )


def failure_subject(verdict: str | None) -> str:
    """What the origin sentence is about: "The failure" only for a run known to have failed (or one
    whose verdict was not asked); a run nobody judged, or one that passed, is not called a failure."""
    return "The failure" if verdict in (None, "failed") else "If this run failed, the failure"


def origin_phrase(origin: Origin) -> str:
    """``starts at`` / ``most likely starts at`` / ``possibly starts at``, by the origin's level."""
    return PHRASE[origin.confidence]


def precision_note(origin: Origin) -> str:
    """``high confidence, right 9 of 10 times on labelled failures`` (or that it is unmeasured)."""
    row = calibration().get("levels", {}).get(origin.confidence, {})
    named, right = int(row.get("named", 0)), int(row.get("right", 0))
    if named < MIN_SAMPLE:
        return f"{origin.confidence} confidence, not yet measured on enough labelled failures"
    return f"{origin.confidence} confidence: right {right} of {named} times on labelled failures"


def unnamed_reason(checked: list[str], lead: Origin | None) -> str:
    """Why no origin is named, and what was checked: never the unstated lead's step."""
    looked = "; ".join(checked) if checked else "errors, loops and empty answers"
    if lead is None:
        return f"Triage names no origin step. It checked: {looked}."
    row = calibration().get("levels", {}).get(lead.confidence, {})
    named, right = int(row.get("named", 0)), int(row.get("right", 0))
    return (
        f"Triage names no origin step: its best lead has {lead.confidence} confidence, which was right "
        f"{right} of {named} times on labelled failures, under the {FLOOR:.0%} floor. It checked: {looked}."
    )
