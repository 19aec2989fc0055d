"""How a routed multi-agent run ended: on its coordinator's decision, or cut off.

Principles, each measured on labelled multi-agent failures (``python -m benchmarks quality``):

- **Who ends the run owns its ending.** In a routed system the *coordinator* is the one agent whose
  routing messages (or messages addressed to another agent) hand the turn to the others. When,
  after the last piece of work, only the coordinator acted, it handed the turn to no one, and
  nothing cut the run off, the run ended on its decision: it reviewed the last work and chose to
  stop with the answer it had. A wrong answer given out that way went out on its judgement
  (accepting unchecked work, stopping early), so the coordinator is the agent to look at, and its
  review of the last work is where to start reading.
- **A run cut off did not decide to stop.** A run that reached one of its limits (turns, rounds,
  steps, messages, time, recursion: the framework reports it) or crashed (an error, a traceback)
  stopped on the work in progress; what failed is that work, not a decision to end.
"""

from __future__ import annotations

import re

from refinery.trace.model import Run, Trace
from refinery.trace.roles import Roles

_UNIT = r"(?:rounds?|turns?|steps?|iterations?|messages?|time)"
LIMIT_REACHED = re.compile(
    r"^(?:\w+\W+){0,3}?"  # a stop message leads with the limit, after at most a few words ("Agent stopped …")
    rf"(?:(?:max(?:imum|imal)?\W+(?:number\W+of\W+)?{_UNIT}|recursion\W+limit)\b[^.\n]{{0,40}}?\b(?:reached|exceeded)\b"
    rf"|(?:reached|exceeded|stopped\W+due\W+to)\W+(?:the\W+)?"
    rf"(?:max(?:imum)?\W+(?:number\W+of\W+)?{_UNIT}|(?:iteration|step|turn|round|time)\W+limit)\b)",
    re.IGNORECASE,
)
"""A framework's report, leading a line, that the run reached a limit: ``Max rounds (30) reached``
(Magentic-One), ``Max turns (10) exceeded`` (OpenAI Agents), ``Recursion limit of 25 reached``
(LangGraph), ``Maximum number of messages 10 reached`` (AutoGen), ``Reached max steps`` (smolagents),
``Agent stopped due to iteration limit or time limit`` (LangChain). A quantity in an answer (``the
maximum temperature reached 31 °C``) names no unit of the run's progress, and a page quoted in the
middle of a message leads no line with it."""
_CRASH = re.compile(r"traceback \(most recent call last\)", re.IGNORECASE)
_FENCED = re.compile(r"^(`{3,}|~{3,}).*?^\1", re.MULTILINE | re.DOTALL)
"""A fenced code block: a traceback inside one is quoted (shown to someone), not raised."""
CUT_OFF_RULES = ("limit_reached", "crashed")
"""The triage rules that say a run was cut off, not finished (``rules.limits``, ``rules.crashes``)."""


def said(run: Run) -> str:
    """What the run said: its message's ``content``, else its ``output`` when that is text."""
    outputs = run.outputs or {}
    value = outputs.get("content", outputs.get("output"))
    return value if isinstance(value, str) else ""


def limit_report(text: str) -> str | None:
    """The first line of ``text`` that reports a limit reached (``LIMIT_REACHED``), or None."""
    return next((line.strip() for line in text.splitlines() if LIMIT_REACHED.match(line.strip())), None)


def ended_at(rule: str, section: str | None) -> str:
    """``crashed at R0029`` or ``cut off at R0130``: where a cut-off finding (``CUT_OFF_RULES``) says the
    run stopped."""
    return f"crashed at {section}" if rule == "crashed" else f"cut off at {section}"


def _unquoted(text: str) -> str:
    """``text`` without its fenced code blocks: what it raised, not what it quoted."""
    return _FENCED.sub("", text)


def crash_report(text: str) -> str | None:
    """The exception of the last Python traceback ``text`` raised: the first line at the margin after
    the header (its frames are indented), ``openai.BadRequestError: Error code: 400 - …``; None with no
    traceback outside a fenced code block (``_FENCED``)."""
    raised = _unquoted(text)
    headers = list(_CRASH.finditer(raised))
    if not headers:
        return None
    after = raised[headers[-1].end() :].splitlines()[1:]
    return next((line.strip() for line in after if line.strip() and line == line.lstrip()), None)


def exception_type(exception: str) -> str | None:
    """The type an exception line names (``openai.BadRequestError`` of ``openai.BadRequestError: …``)."""
    match = re.match(r"([A-Za-z_][\w.]*)(?::|$)", exception.strip())
    return match.group(1) if match else None


def cut_off(run: Run) -> str | None:
    """Why ``run`` shows the run was cut off (``it reached a limit``, ``it crashed``), or None."""
    text = said(run)
    if limit_report(text):
        return "it reached a limit"
    if run.error or _CRASH.search(_unquoted(text)):
        return "it crashed"
    return None


def coordinator(trace: Trace, roles: Roles) -> str | None:
    """The one agent whose routing messages hand out the turns; None when no agent, or several, route."""
    routers = {r.agent for r in trace.runs[1:] if r.agent and roles.hands_turn(r)}
    return next(iter(routers)) if len(routers) == 1 else None


def coordinator_review(trace: Trace, roles: Roles, last_work: Run) -> Run | None:
    """The coordinator's first step after ``last_work`` when the run then ended on its decision
    (the module's principles), else None."""
    lead = coordinator(trace, roles)
    tail = [r for r in trace.runs if r.order > last_work.order]
    acted = [r for r in tail if roles.acts(r)]
    if lead is None or not acted or any(r.agent != lead for r in acted):
        return None
    if any(roles.hands_turn(r) for r in tail) or cut_off(tail[-1]):
        return None
    return acted[0]
