"""Which agent a multi-agent failure most likely lies with, when no step can be named.

Principles, each measured on labelled multi-agent failures (``python -m benchmarks quality``):

- **A wrong answer rests on the work done for it.** The *workers* are the agents whose output acted
  on something: an agent another agent's routing message (or a message addressed to it) hands the
  turn to, an agent whose message the environment then executed (its code ran), an agent whose tool
  calls ran. Planning, routing and checking others' results is not work in this sense.
- **Code ran when its execution is reported.** The environment's reply shows the code ran when it
  states how it exited (an exit or return code); an executor that answers with no such report (there
  was no code in the message to run) ran nothing, and the message it answered did no work.
- **The worker that did most of the work is the first place to look.** Its first piece of work is
  where to start reading, not a claim about the step: on labelled failures that step was the
  annotated mistake about one time in three, while the agent was right more often than not.
- **A message no longer than a routing line does no work** ("TERMINATE", "Next speaker X").
- **Handing out the task is not work.** A message that quotes the run's input whole (a manager's
  brief, the question restated for the group) forwards the task; it acted on nothing, unless its
  code ran.
- **When no work ran, the answer rests on what was said.** With no code run, no tool called and no
  agent routed to, the first agent to take up the task once it was handed out answered it first,
  and the others built on that answer (``first_answer``).
- **Who ends the run owns its ending** (``triage.ending``). In a routed system whose coordinator
  reviewed the last work and ended the run itself (no limit reached, no crash), the answer went out
  on the coordinator's decision (``ended_it``); its review is where to start reading. A run cut off
  by a limit or a crash stopped on the work in progress, and the worker rule applies.
- **One agent is the agent.** When the system under test has a single agent, the failure is its
  (``only_agent``): there is nothing to choose, so the claim is certain but says little, and the
  first of its work is still where to start reading.

- **A wrong answer starts where it first appears in the agent's output.** When the run records its final
  answer (the root's output), where to start reading is the claimed agent's first step that says
  that answer: that is where it entered the run, and the steps before it did not yet hold it. An
  answer the task itself quotes says nothing about where it came from, and an answer first said in
  the run's last step (which delivers it) has no earlier source; then the step above stands.

A stated origin outranks all of this: its agent is the claim (``basis="origin"``).
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

from refinery.documents.ids import run_section
from refinery.trace.model import Run, Trace
from refinery.trace.roles import ROUTING_WORDS, Roles, exit_code, handed_to, message_content
from refinery.triage.confidence import MIN_SAMPLE, agent_calibration
from refinery.triage.ending import coordinator_review
from refinery.triage.model import AgentClaim, Origin

_PERSON = {"human", "user"}
TASK_WORDS = 5
"""Words an input needs before quoting it counts as handing out the task (a shorter one is quoted in passing)."""


def _agents(trace: Trace, roles: Roles) -> set[str]:
    return {r.agent for r in trace.runs[1:] if r.agent and roles.acts(r) and r.agent.lower() not in _PERSON}


def _executed(trace: Trace, roles: Roles) -> set[str]:
    """Ids of the agents' messages the environment answered next with an execution report: their code ran."""
    runs = trace.runs[1:]
    return {
        previous.id
        for previous, run in pairwise(runs)
        if roles.actor(run) == "environment" and previous.agent and roles.acts(previous) and exit_code(run) is not None
    }


def find_workers(trace: Trace, roles: Roles) -> set[str]:
    """Agents handed the turn, whose message the environment executed, or whose tool calls ran."""
    agents = _agents(trace, roles)
    executed = _executed(trace, roles)
    workers: set[str] = set()
    for run in trace.runs[1:]:
        if roles.hands_turn(run):
            workers |= handed_to(run, agents)
        if run.agent in agents and (run.id in executed or (run.run_type in ("tool", "retriever") and roles.acts(run))):
            workers.add(str(run.agent))
    return workers


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def task_texts(trace: Trace) -> list[str]:
    """The run's input as text: each string the root was given of at least ``TASK_WORDS`` words."""
    values = (trace.root.inputs or {}).values()
    texts = [_words(v) for v in values if isinstance(v, str)]
    return [t for t in texts if t.count(" ") + 1 >= TASK_WORDS]


def hands_out(run: Run, tasks: list[str]) -> bool:
    """The message quotes the run's input whole: it forwards the task rather than acting on it."""
    if not tasks:
        return False
    said = _words(message_content(run))
    return any(task in said for task in tasks)


def _is_work(run: Run, executed: set[str], tasks: list[str]) -> bool:
    """Code that ran is work however short; a message no longer than a routing line, or one that only
    hands out the task, is not."""
    if run.id in executed or run.run_type != "agent":
        return True  # a tool call is work whatever its output quotes
    return not hands_out(run, tasks) and len(re.findall(r"[\w-]+", message_content(run))) > ROUTING_WORDS


def work_runs(trace: Trace, roles: Roles) -> list[Run]:
    """The workers' steps of work, in execution order (see the module's principles)."""
    workers, executed, tasks = find_workers(trace, roles), _executed(trace, roles), task_texts(trace)
    return [r for r in trace.runs[1:] if r.agent in workers and roles.acts(r) and _is_work(r, executed, tasks)]


def claim_agent(trace: Trace, roles: Roles, origin: Origin | None) -> AgentClaim | None:
    """The agent to look at first, by the module's principles; None when the trace names no agent."""
    agents = _agents(trace, roles)
    if not agents:
        return None
    if origin is not None and origin.stated and origin.agent:
        return AgentClaim(
            agent=origin.agent,
            basis="origin",
            reason=f"it took the origin step {origin.section}",
            confidence=origin.confidence,
            precision=origin.precision,
        )
    claim = _claim_from_work(trace, roles, agents)
    return _trace_answer(trace, roles, claim) if claim is not None else None


def _claim_from_work(trace: Trace, roles: Roles, agents: set[str]) -> AgentClaim | None:
    if len(agents) == 1:
        return _only_agent(trace, roles, next(iter(agents)))
    work = work_runs(trace, roles)
    if not work:
        return _first_answer(trace, roles, agents)
    review = coordinator_review(trace, roles, work[-1])
    return _ended_it(review, work[-1]) if review is not None else _most_work(work)


def final_answer(trace: Trace) -> str | None:
    """The run's answer as the producer recorded it: the root's output when that is one string."""
    values = list((trace.root.outputs or {}).values())
    if len(values) == 1 and isinstance(values[0], str) and _words(values[0]):
        return values[0]
    return None


def _says(text: str, words: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", _words(text)) is not None


def _trace_answer(trace: Trace, roles: Roles, claim: AgentClaim) -> AgentClaim:
    """The claim, read from where the run's final answer first appears in its agent's output (see the principles)."""
    answer = final_answer(trace)
    if answer is None or any(_says(task, _words(answer)) for task in task_texts(trace)):
        return claim
    said = next(
        (
            r
            for r in trace.runs[1:-1]
            if r.agent == claim.agent and roles.acts(r) and _says(message_content(r), _words(answer))
        ),
        None,
    )
    if said is None:
        return claim
    return claim.model_copy(
        update={"answer": answer, "first_section": run_section(said.order), "first_step": said.order}
    )


def _measured(claim: AgentClaim) -> AgentClaim:
    """The claim with its basis's measured precision (``calibration.json``)."""
    named, right = agent_calibration(claim.basis)
    precision = right / named if named >= MIN_SAMPLE else None
    return claim.model_copy(update={"precision": precision, "named": named, "right": right})


def _most_work(work: list[Run]) -> AgentClaim:
    counts = Counter(r.agent for r in work)
    top = max(counts.values())
    first = next(r for r in work if counts[r.agent] == top)
    return _measured(
        AgentClaim(
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
        )
    )


def _ended_it(review: Run, last_work: Run) -> AgentClaim:
    return _measured(
        AgentClaim(
            agent=str(review.agent),
            basis="ended_it",
            reason=(
                f"the coordinator reviewed the last work ({run_section(last_work.order)}) and ended the run itself; "
                "no limit or crash cut it off, so the answer went out on its decision"
            ),
            first_section=run_section(review.order),
            first_step=review.order,
        )
    )


def _said(trace: Trace, roles: Roles, agents: set[str]) -> list[Run]:
    """Steps of ``agents`` that say more than a routing line and do more than hand out the task."""
    tasks = task_texts(trace)
    return [r for r in trace.runs[1:] if r.agent in agents and roles.acts(r) and _is_work(r, set(), tasks)]


def _first_answer(trace: Trace, roles: Roles, agents: set[str]) -> AgentClaim | None:
    """No work ran: the first agent that said more than a routing line, once the task was handed out."""
    said = _said(trace, roles, agents)
    if not said:
        return None
    first = said[0]
    return _measured(
        AgentClaim(
            agent=str(first.agent),
            basis="first_answer",
            reason="no agent's work ran (no code, no tool, no agent handed the turn); it took up the task first",
            first_section=run_section(first.order),
            first_step=first.order,
        )
    )


def _only_agent(trace: Trace, roles: Roles, agent: str) -> AgentClaim:
    steps = (
        work_runs(trace, roles)
        or _said(trace, roles, {agent})
        or [r for r in trace.runs[1:] if r.agent == agent and roles.acts(r)]
    )
    first = steps[0]
    return _measured(
        AgentClaim(
            agent=agent,
            basis="only_agent",
            reason="the only agent of the system under test",
            first_section=run_section(first.order),
            first_step=first.order,
            confidence="high",
        )
    )
