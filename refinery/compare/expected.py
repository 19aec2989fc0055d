"""The run against what its producer says should have happened: a virtual passing run.

tau-bench records a task's expected ``actions`` (``{name, kwargs}``), tau2-bench its
``evaluation_criteria.actions`` (``{name, arguments, requestor}``), and a LangSmith example may hold a
reference trajectory (chat ``messages`` with their tool calls). Their state-changing calls
are the steps a passing run takes; the run's own state-changing calls, made by the system under
test, are aligned against them exactly as a real baseline is (``align_steps``,
``find_differences``, ``first_divergence``), so there is one alignment, not two. Reads are left
out on both sides: looking something up in another order or once more changes nothing, and the
expected lists do not record every read a correct run makes. A requestor other than the
assistant (tau2's ``user``) is the user's action and is compared with nothing the agent did.
"""

from __future__ import annotations

import json
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


def _action(item: Any) -> dict[str, Any] | None:
    """One expected call as ``{name, arguments}``: tau's ``{name, kwargs}``, tau2's ``{name, arguments,
    requestor}``, or an OpenAI tool call ``{function: {name, arguments}}``; None for another requestor's."""
    if not isinstance(item, dict):
        return None
    function = item.get("function")
    spec: dict[str, Any] = function if isinstance(function, dict) else item
    if not isinstance(spec.get("name"), str) or item.get("requestor") not in _AGENT_REQUESTORS:
        return None
    arguments = spec.get("kwargs", spec.get("arguments", spec.get("args")))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = {"arguments": arguments}
    return {"name": spec["name"], "arguments": arguments if isinstance(arguments, dict) else {}}


def _listed(reference: dict[str, Any]) -> list[Any] | None:
    """The expected calls a producer recorded: ``actions`` (tau-bench, tau2), ``expected_actions`` or
    ``tool_calls``, or the tool calls of a reference trajectory of chat ``messages`` (as LangSmith
    examples hold them for trajectory evaluators)."""
    for key in ("actions", "expected_actions", "tool_calls"):
        if isinstance(reference.get(key), list):
            return list(reference[key])
    messages = reference.get("messages")
    if isinstance(messages, list):
        calls = [
            call
            for m in messages
            if isinstance(m, dict) and m.get("role") in ("assistant", "ai")
            for call in (m.get("tool_calls") or [])
        ]
        return calls or None
    return None


def expected_actions(trace: Trace) -> list[dict[str, Any]] | None:
    """The expected actions the producer recorded, as ``{name, arguments}``; None when it recorded none."""
    listed = _listed(trace.reference_outputs or {})
    if listed is None:
        return None
    return [a for a in (_action(item) for item in listed) if a is not None]


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
