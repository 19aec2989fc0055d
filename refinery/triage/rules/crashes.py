"""A run that crashed at its end: it stopped on an exception, it did not finish.

A conversation log can end on a traceback its framework printed: the model provider refused a
request (a content filter, a connection error) and the run stopped there. Whatever answer follows
was not reached by the run's own work, and "no step failed" would be false. The crash is a symptom,
never the origin (it is in no origin rule): what it says is where the run stopped and why.

- Only the run's last step is read: a traceback the run went on past is an error it recovered from.
- Only a message or a step of the framework can end on its crash. A model's output is what it said,
  and a call's result is that call's answer (a tool's traceback is the tool's failure,
  ``tool_outputs``); an executor's report of the agent's own code failing is that code's failure
  (``run_errors``).
- A traceback inside a fenced code block is quoted, not raised (an agent showing the user an error).
"""

from __future__ import annotations

from refinery.trace.model import Trace
from refinery.trace.roles import exit_code
from refinery.triage.classify import classify_error, excerpt, new_finding
from refinery.triage.ending import crash_report, said
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions

_SPEAKERS = ("agent", "chain")
"""Run types whose text is a message or the framework's own output, not a model's words or a call's result."""


def find_crash(trace: Trace, options: RuleOptions) -> list[Finding]:
    """The run's last step, when its message ends the run on a traceback (``triage.ending.crash_report``)."""
    last = trace.runs[-1]
    if last.run_type not in _SPEAKERS or last.is_error or exit_code(last) is not None:
        return []
    exception = crash_report(said(last))
    if exception is None:
        return []
    return [
        new_finding(
            last,
            rule="crashed",
            category=classify_error(exception, fallback="Service Errors"),
            severity="high",
            evidence=excerpt(exception),
            explanation=(
                "The run stopped here on an exception, not because it finished: whatever answer it gave "
                "was not reached by its own work. Fix or retry what raised it before reading the answer."
            ),
        )
    ]
