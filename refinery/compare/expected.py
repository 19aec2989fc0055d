"""The run against what its producer says should have happened: a virtual passing run.

tau-bench records a task's expected ``actions`` (``{name, kwargs}``), tau2-bench its
``evaluation_criteria.actions`` (``{name, arguments, requestor}``). Their state-changing calls
are the steps a passing run takes; the run's own state-changing calls, made by the system under
test, are aligned against them exactly as a real baseline is (``align_steps``,
``find_differences``, ``first_divergence``), so there is one alignment, not two. Reads are left
out on both sides: looking something up in another order or once more changes nothing, and the
expected lists do not record every read a correct run makes. A requestor other than the
assistant (tau2's ``user``) is the user's action and is compared with nothing the agent did.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from refinery.compare.align import align_steps
from refinery.compare.diverge import find_differences, first_divergence
from refinery.compare.model import Difference, Divergence
from refinery.compare.steps import Step, extract_steps, is_read_name, normalize_args
from refinery.trace.model import Trace
from refinery.trace.roles import Roles

_AGENT_REQUESTORS = (None, "assistant", "agent")


@dataclass(frozen=True)
class ExpectedComparison:
    """The run's state-changing calls against the expected ones."""

    divergence: Divergence | None
    differences: list[Difference]
    expected: int
    """Expected state-changing calls of the system under test."""
    made: int
    """State-changing calls the system under test made."""


def expected_actions(trace: Trace) -> list[dict[str, Any]] | None:
    """The expected actions the producer recorded, as ``{name, arguments}``; None when it recorded none."""
    raw = (trace.reference_outputs or {}).get("actions")
    if not isinstance(raw, list):
        return None
    actions = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        if item.get("requestor") not in _AGENT_REQUESTORS:
            continue
        arguments = item.get("kwargs", item.get("arguments"))
        actions.append({"name": item["name"], "arguments": arguments if isinstance(arguments, dict) else {}})
    return actions


def _expected_steps(actions: list[dict[str, Any]]) -> list[Step]:
    steps: list[Step] = []
    for action in actions:
        if is_read_name(action["name"]):
            continue  # reasoning tools (think, calculate) read as reads by name too
        index = len(steps)
        steps.append(
            Step(
                index=index,
                kind="tool",
                name=action["name"],
                args=normalize_args(action["arguments"]),
                run_id=f"expected:{index}",
                section=f"E{index + 1:02d}",
            )
        )
    return steps


def state_changes(trace: Trace, roles: Roles) -> list[Step]:
    """The state-changing tool calls the system under test made, renumbered in order."""
    by_id = {r.id: r for r in trace.runs}
    writes = [
        s for s in extract_steps(trace) if s.kind == "tool" and not is_read_name(s.name) and roles.acts(by_id[s.run_id])
    ]
    return [replace(s, index=i) for i, s in enumerate(writes)]


def compare_expected(trace: Trace, roles: Roles) -> ExpectedComparison | None:
    """Where the run's state-changing calls first part from the expected ones; None without expected actions."""
    actions = expected_actions(trace)
    if actions is None:
        return None
    expected = _expected_steps(actions)
    made = state_changes(trace, roles)
    alignment = align_steps(made, expected)
    differences = find_differences(alignment, made, expected, other="the expected actions")
    divergence = first_divergence(differences, made, expected, other="the expected actions", unit="state-changing call")
    return ExpectedComparison(divergence, differences, expected=len(expected), made=len(made))
