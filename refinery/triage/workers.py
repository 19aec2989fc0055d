"""Which agent a multi-agent failure most likely lies with, when no step can be named.

Principles, each measured on labelled multi-agent failures (``python -m benchmarks quality``):

- **A wrong answer rests on the work done for it.** The *workers* are the agents whose output acted
  on something: an agent another agent's routing message hands the turn to, an agent whose message
  the environment then executed (its code ran), an agent whose tool calls ran. Planning, routing and
  checking others' results is not work in this sense.
- **The worker that did most of the work is the first place to look.** Its first piece of work is
  where to start reading, not a claim about the step: on labelled failures that step was the
  annotated mistake about one time in three, while the agent was right more often than not.
- **A message no longer than a routing line does no work** ("TERMINATE", "Next speaker X").
- **One agent is no attribution.** A trace with a single agent of the system under test gets no claim.

A stated origin outranks all of this: its agent is the claim (``basis="origin"``).
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

from refinery.documents.ids import run_section
from refinery.trace.model import Run, Trace
from refinery.trace.roles import ROUTING_WORDS, Roles
from refinery.triage.confidence import MIN_SAMPLE, agent_calibration
from refinery.triage.model import AgentClaim, Origin

_PERSON = {"human", "user"}


def _content(run: Run) -> str:
    value = (run.outputs or {}).get("content")
    return value if isinstance(value, str) else ""


def _agents(trace: Trace, roles: Roles) -> set[str]:
    return {r.agent for r in trace.runs[1:] if r.agent and roles.acts(r) and r.agent.lower() not in _PERSON}


def _executed(trace: Trace, roles: Roles) -> set[str]:
    """Ids of the agents' messages the environment answered next: their code ran."""
    runs = trace.runs[1:]
    return {
        previous.id
        for previous, run in pairwise(runs)
        if roles.actor(run) == "environment" and previous.agent and roles.acts(previous)
    }


def find_workers(trace: Trace, roles: Roles) -> set[str]:
    """Agents routed to, whose message the environment executed, or whose tool calls ran."""
    agents = _agents(trace, roles)
    executed = _executed(trace, roles)
    workers: set[str] = set()
    for run in trace.runs[1:]:
        if run.agent not in agents and roles.actor(run) != "routing":
            continue
        if roles.actor(run) == "routing":
            words = {w.lower() for w in re.findall(r"[\w-]+", _content(run))}
            workers.update(a for a in agents if a != run.agent and a.lower() in words)
        elif run.id in executed or (run.run_type in ("tool", "retriever") and roles.acts(run)):
            workers.add(str(run.agent))
    return workers


def _is_work(run: Run, executed: set[str]) -> bool:
    """Code that ran is work however short; a message no longer than a routing line is not."""
    return run.id in executed or run.run_type != "agent" or len(re.findall(r"[\w-]+", _content(run))) > ROUTING_WORDS


def claim_agent(trace: Trace, roles: Roles, origin: Origin | None) -> AgentClaim | None:
    """The agent to look at first, by the module's principles; None for a single-agent trace."""
    if len(_agents(trace, roles)) < 2:
        return None
    if origin is not None and origin.stated and origin.agent:
        return AgentClaim(
            agent=origin.agent,
            basis="origin",
            reason=f"it took the origin step {origin.section}",
            confidence=origin.confidence,
            precision=origin.precision,
        )
    workers, executed = find_workers(trace, roles), _executed(trace, roles)
    work = [r for r in trace.runs[1:] if r.agent in workers and roles.acts(r) and _is_work(r, executed)]
    if not work:
        return None
    counts = Counter(r.agent for r in work)
    top = max(counts.values())
    first = next(r for r in work if counts[r.agent] == top)
    named, right = agent_calibration("most_work")
    return AgentClaim(
        agent=str(first.agent),
        basis="most_work",
        reason=(
            "the only agent the others handed work to"
            if len(counts) == 1
            else "of the agents that did the most work the answer rests on, the one that worked first"
            if sum(n == top for n in counts.values()) > 1
            else "the agent that did most of the work the answer rests on"
        ),
        work_steps=top,
        all_work_steps=len(work),
        first_section=run_section(first.order),
        first_step=first.order,
        confidence="low",
        precision=right / named if named >= MIN_SAMPLE else None,
        named=named,
        right=right,
    )
