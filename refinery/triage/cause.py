"""From a symptom to its cause: the step that set up the state an error then found wrong.

An error that says a precondition failed ("order is not pending, cannot be modified",
"already cancelled", "insufficient balance", "not found") shows where the failure surfaced.
If an earlier state-changing call of this run, which succeeded, touched the same thing (an
argument value they share, such as the order id), that call put it in that state: it is the
cause, and the error its symptom. A call the task's expected actions include is what should
have happened, so it is no cause. Without such a call the error stands as the origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from refinery.compare.expected import expected_actions
from refinery.compare.steps import call_arguments, is_read_name, normalize_args
from refinery.trace.model import Run, Trace
from refinery.trace.roles import Roles

_PRECONDITION = re.compile(
    r"\b(?:not|no longer|cannot|can't|already|invalid|insufficient|does not exist|not found|not allowed|"
    r"not permitted|forbidden|denied|no such|unavailable|expired|locked)\b",
    re.IGNORECASE,
)
MIN_SHARED = 3
"""Characters a shared string value needs to identify a thing (not ``"a"`` or ``"1"``)."""


def _error_text(run: Run) -> str:
    if run.error:
        return run.error
    value = (run.outputs or {}).get("output", (run.outputs or {}).get("content", ""))
    return value if isinstance(value, str) else ""


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        if len(text) >= MIN_SHARED:
            yield text


def precondition_cause(trace: Trace, failed: Run, roles: Roles, failures: frozenset[str] = frozenset()) -> Run | None:
    """The latest earlier state-changing call of the system under test that shares an argument with
    ``failed``, when ``failed`` is a tool call whose error says a precondition failed; else None.
    ``failures`` are the ids of runs the rules found failing without raising (an error in the tool's
    output): such a call changed nothing, so it is no cause either."""
    if failed.run_type not in ("tool", "retriever") or not _PRECONDITION.search(_error_text(failed)[:2000]):
        return None
    wanted = set(_leaves(failed.inputs))
    if not wanted:
        return None
    expected = {(a["name"], normalize_args(a["arguments"])) for a in expected_actions(trace) or []}
    for earlier in reversed(trace.runs[1 : failed.order]):
        if earlier.run_type != "tool" or earlier.is_error or earlier.id in failures:
            continue
        if not roles.acts(earlier) or is_read_name(earlier.name):
            continue
        if earlier.name == failed.name and earlier.inputs == failed.inputs:
            continue  # the same call earlier is a retry, not a cause
        if (earlier.name, normalize_args(call_arguments(earlier))) in expected:
            continue
        if wanted & set(_leaves(earlier.inputs)):
            return earlier
    return None
