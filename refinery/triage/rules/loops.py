"""An agent looping: the same action with the same result, again and again, and no progress.

A loop is the system under test doing the same thing and getting the same thing back: a tool
called with the same arguments that returned the same output, or an agent saying the identical
message and getting the same answer. Calling the same tool again and getting something new is
progress (polling a job, paging), and so is a message repeated whose answer is new each time: a
coordinator saying "continue scrolling" three times while the page moves on is paging, not a loop.
A message's answer is what the next other participant said after it (``replies``). What the
user, the environment or the routing repeats is not the agent's loop: an orchestrator naming the
next speaker, an executor saying it found no code (``trace.roles``).
"""

from __future__ import annotations

from collections import defaultdict

from refinery.documents.ids import run_section
from refinery.documents.text import compact_json
from refinery.trace.model import Run, Trace
from refinery.triage.classify import excerpt, new_finding
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions

REPEAT_THRESHOLD = 3


def replies(trace: Trace) -> dict[str, str]:
    """Each message's answer: the output of the next message after it by another agent ("" when none)."""
    answers: dict[str, str] = {}
    nearest: Run | None = None  # the nearest later message
    other: Run | None = None  # the nearest later message by an agent other than ``nearest``'s
    for run in reversed(trace.runs[1:]):
        if run.run_type != "agent":
            continue
        reply = nearest if nearest is not None and nearest.agent != run.agent else other
        answers[run.id] = compact_json(reply.outputs or {}) if reply is not None else ""
        if nearest is not None and nearest.agent != run.agent:
            other = nearest
        nearest = run
    return answers


def find_repeated_calls(trace: Trace, options: RuleOptions) -> list[Finding]:
    """The same tool with the same arguments and output (or the same agent message and answer) 3 or more times."""
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    answers = replies(trace)
    for run in trace.runs[1:]:
        if not options.roles.acts(run):
            continue
        if run.run_type in ("tool", "retriever"):
            result = run.error or compact_json(run.outputs or {})
            groups[(run.name, compact_json(run.inputs) + "\x00" + result)].append(run)
        elif run.run_type == "agent" and run.outputs:
            said = compact_json(run.outputs) + "\x00" + answers[run.id]
            groups[(f"agent:{run.agent or run.name}", said)].append(run)
    findings = []
    for (name, key), runs in groups.items():
        if len(runs) < REPEAT_THRESHOLD:
            continue
        first_repeat = runs[1]
        is_agent = name.startswith("agent:")
        label = name.removeprefix("agent:")
        answered = is_agent and not key.endswith("\x00")
        findings.append(
            new_finding(
                first_repeat,
                rule="repeated_call",
                category="Resource Abuse",
                severity="high" if len(runs) >= 5 else "medium",
                evidence=excerpt(
                    f"{label} said the same thing {len(runs)} times" + (", and got the same answer" if answered else "")
                    if is_agent
                    else f"{label}({key.split(chr(0))[0]}) × {len(runs)}, the same result each time"
                ),
                explanation=(
                    f"`{label}` repeated the identical "
                    + (
                        "message" + (", and got the same answer," if answered else "")
                        if is_agent
                        else "call, and got the same result,"
                    )
                    + f" {len(runs)} times; nothing changed between attempts, so the agent is looping."
                ),
                related_sections=[run_section(r.order) for r in runs],
            )
        )
    return findings
