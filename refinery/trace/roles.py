"""Whose step each run is: the system under test, its user, its environment, or routing.

A failure begins in a step of the system under test. The user (a person, or a user simulator
as in tau2-bench), the environment (a code executor, an evaluator) and the routing between
agents are context: a user simulator's ``run_speed_test`` is not the agent's resource abuse, and
an orchestrator naming the next speaker three times is not a loop. Producers that record the
role set ``Run.actor``; for the rest it is read from the run's shape, by these principles:

- **An executor decides nothing.** A speaker whose messages report exit codes (or whose name
  says it executes: terminal, executor, interpreter, sandbox) is the environment.
- **Naming the next speaker is routing.** A message that only names another agent of the trace
  (at most four words besides) selects who acts; it does nothing itself.
- **A message addressed to another agent hands it the turn** (``hands_turn``) when the producer
  records the addressee (``Run.addressee``). Such a message carries an instruction too, so it
  stays the sender's step; only its hand-off counts as routing.
- **The first speaker of a conversation log with no agent name is the user** when its role says
  so (``human``, ``user``).
- Tool and retriever calls are the caller's: they act for whoever made them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from refinery.trace.model import Actor, Run, Trace

_EXECUTOR_NAME = re.compile(r"terminal|executor|interpreter|sandbox|code_exec", re.IGNORECASE)
_EXIT_REPORT = re.compile(r"^\s*(?:exit\s?code|return\s?code|exit status)\s*[:=]?\s*-?\d+", re.IGNORECASE)
_PERSON = {"human", "user"}
ROUTING_WORDS = 4
"""Words a routing message may hold besides the agent it names."""


def message_content(run: Run) -> str:
    """A message's text: its ``content`` when that is a string, else ""."""
    value = (run.outputs or {}).get("content")
    return value if isinstance(value, str) else ""


def exit_code(run: Run) -> int | None:
    """The exit code an execution report states (``exitcode: 1 (execution failed)``), or None."""
    match = _EXIT_REPORT.match(message_content(run))
    return int(re.sub(r"\D", "", match.group().split()[-1]) or 0) if match else None


def _executors(trace: Trace) -> set[str]:
    """Agents most of whose messages are execution reports, or whose name says they execute."""
    reports: dict[str, list[bool]] = defaultdict(list)
    for run in trace.runs[1:]:
        if run.run_type == "agent" and run.agent:
            reports[run.agent].append(bool(_EXIT_REPORT.match(message_content(run))))
    return {
        agent
        for agent, seen in reports.items()
        if _EXECUTOR_NAME.search(agent) or (sum(seen) >= 2 and sum(seen) * 2 >= len(seen))
    }


def _is_routing(run: Run, agents: set[str]) -> bool:
    words = re.findall(r"[\w-]+", message_content(run))
    if not words or len(words) > ROUTING_WORDS + 1:
        return False
    lowered = {w.lower() for w in words}
    return any(a.lower() in lowered for a in agents if a != run.agent)


def handed_to(run: Run, agents: set[str]) -> set[str]:
    """The agents of ``agents`` that ``run`` hands the turn to: its recorded addressee, and the agents
    a message no longer than a routing line names (none but another agent's)."""
    named: set[str | None] = {run.addressee}
    if _is_routing(run, agents):
        words = {w.lower() for w in re.findall(r"[\w-]+", message_content(run))}
        named |= {a for a in agents if a.lower() in words}
    return {a for a in agents if a in named and a != run.agent}


@dataclass(frozen=True)
class Roles:
    """Each run's actor, read once per trace."""

    by_run: dict[str, Actor]

    @classmethod
    def of(cls, trace: Trace) -> Roles:
        agents = {r.agent for r in trace.runs if r.agent}
        executors = _executors(trace)
        by_run: dict[str, Actor] = {}
        for run in trace.runs:
            by_run[run.id] = _actor(run, agents, executors, by_run.get(run.parent_id or ""))
        return cls(by_run)

    def actor(self, run: Run) -> Actor:
        return self.by_run.get(run.id, "agent")

    def acts(self, run: Run) -> bool:
        """Whether ``run`` is a step of the system under test."""
        return self.actor(run) == "agent"

    def hands_turn(self, run: Run) -> bool:
        """Whether ``run`` hands the turn to another agent: a routing line, or a message addressed to one."""
        return self.actor(run) == "routing" or (run.addressee is not None and run.addressee != run.agent)


def _actor(run: Run, agents: set[str], executors: set[str], parent: Actor | None) -> Actor:
    if run.actor is not None:
        return run.actor
    if parent in ("user", "environment") and run.parent_id:
        return parent  # what a user simulator or an evaluator calls is theirs too
    if run.run_type == "agent" and run.agent:
        if run.agent in executors:
            return "environment"
        if _is_routing(run, agents):
            return "routing"
        if run.agent.lower() in _PERSON:
            return "user"
    return "agent"
