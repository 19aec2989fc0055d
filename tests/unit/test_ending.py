"""Who ends a routed run owns its ending; a run cut off did not decide to stop (``triage/ending.py``).

Each log is in the producer's own shape: Who&When's ``history`` of a Magentic-One team (an
orchestrator that routes, a web surfer it routes to). The limit messages are the frameworks' own.
"""

from __future__ import annotations

from typing import Any

import pytest

from refinery.trace.files.chat import load_history
from refinery.trace.model import Run, Trace
from refinery.trace.roles import Roles
from refinery.triage import run_triage
from refinery.triage.confidence import agent_sentence
from refinery.triage.ending import coordinator, coordinator_review, cut_off

LAST_REPORT = "The dojo page says Downtown Dojo is open daily from 6 am; it is the nearest one."
REVIEW = "Updated Ledger: the request is satisfied, the web surfer found Downtown Dojo and its hours."


def team(ending: list[dict[str, Any]]) -> Trace:
    """A Magentic-One run: the orchestrator plans, routes the web surfer twice, then ``ending`` follows."""
    entries: list[dict[str, Any]] = [
        {"role": "human", "content": "Where is the nearest dojo to the stock exchange?"},
        {"role": "Orchestrator (thought)", "content": "Initial plan: search for dojos, then check their hours."},
        {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
        {"role": "WebSurfer", "content": "I typed 'dojo near the stock exchange' into the search bar and got results."},
        {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
        {"role": "WebSurfer", "content": LAST_REPORT},
        *ending,
    ]
    [trace] = load_history({"question": "Where is the nearest dojo?", "is_correct": False, "history": entries})
    return trace


DECIDED = [
    {"role": "Orchestrator (thought)", "content": REVIEW},
    {"role": "Orchestrator (thought)", "content": "Request satisfied."},
    {"role": "Orchestrator (termination condition)", "content": "No agent selected. FINAL ANSWER: Downtown Dojo"},
]


def run_saying(content: str, **fields: Any) -> Run:
    return Run(id="r", trace_id="t", name="Orchestrator", run_type="agent", outputs={"content": content}, **fields)


def step(trace: Trace, content: str) -> Run:
    return next(r for r in trace.runs if (r.outputs or {}).get("content") == content)


def test_a_coordinator_that_reviewed_the_last_work_and_ended_the_run_is_claimed_at_its_review() -> None:
    trace = team(DECIDED)
    claim = run_triage(trace).agent
    review, last = step(trace, REVIEW), step(trace, LAST_REPORT)
    assert claim is not None and (claim.agent, claim.basis) == ("Orchestrator", "ended_it")
    assert claim.first_step == review.order and claim.first_section == f"R{review.order:04d}"
    assert claim.reason == (
        f"the coordinator reviewed the last work (R{last.order:04d}) and ended the run itself; "
        "no limit or crash cut it off, so the answer went out on its decision"
    )
    assert f"(its review at R{review.order:04d}): the coordinator" in agent_sentence(claim)


@pytest.mark.parametrize(
    "message",
    [
        "Max rounds (30) reached. FINAL ANSWER: Downtown Dojo",  # Magentic-One
        "Max time (1500s) reached. FINAL ANSWER: Downtown Dojo",  # Magentic-One
        "Max turns (10) exceeded",  # OpenAI Agents SDK, MaxTurnsExceeded
        "Recursion limit of 25 reached without hitting a stop condition.",  # LangGraph
        "Maximum number of messages 10 reached, current message count: 10",  # AutoGen MaxMessageTermination
        "Reached max steps.",  # smolagents
        "Agent stopped due to iteration limit or time limit.",  # LangChain AgentExecutor
    ],
)
def test_a_run_cut_off_by_a_limit_ended_on_the_work_in_progress(message: str) -> None:
    assert cut_off(run_saying(message)) == "it reached a limit"
    ending = [*DECIDED[:2], {"role": "Orchestrator (termination condition)", "content": message}]
    claim = run_triage(team(ending)).agent
    assert claim is not None and (claim.agent, claim.basis) == ("WebSurfer", "most_work")


def test_a_run_that_crashed_did_not_decide_to_stop() -> None:
    crash = "Stalled.... Replanning... Error processing publish message\nTraceback (most recent call last):\n  File"
    assert cut_off(run_saying(crash)) == "it crashed"
    assert cut_off(run_saying("Request satisfied.", error="RuntimeError: the runtime stopped")) == "it crashed"
    claim = run_triage(team([DECIDED[0], {"role": "Orchestrator (thought)", "content": crash}])).agent
    assert claim is not None and claim.basis == "most_work"


@pytest.mark.parametrize(
    "answer",
    [
        "FINAL ANSWER: the maximum temperature reached 31 degrees",  # a quantity, no unit of the run's progress
        "FINAL ANSWER: the rate limit was never exceeded by the dojo's booking site",
        "FINAL ANSWER: the steps of the temple reached the top",
    ],
)
def test_an_answer_that_speaks_of_a_maximum_or_a_limit_is_no_limit_reached(answer: str) -> None:
    assert cut_off(run_saying(answer)) is None
    claim = run_triage(team([*DECIDED[:2], {"role": "Orchestrator (termination)", "content": answer}])).agent
    assert claim is not None and claim.basis == "ended_it"


def test_a_coordinator_that_hands_the_turn_on_did_not_end_the_run() -> None:
    trace = team([DECIDED[0], {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"}])
    assert coordinator_review(trace, Roles.of(trace), step(trace, LAST_REPORT)) is None
    claim = run_triage(trace).agent
    assert claim is not None and claim.basis == "most_work"


def test_the_review_follows_the_last_of_several_pieces_of_work() -> None:
    third = "I opened the dojo's timetable: classes start at 6 am on weekdays."
    trace = team(
        [
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": third},
            *DECIDED,
        ]
    )
    claim = run_triage(trace).agent
    assert claim is not None and claim.basis == "ended_it"
    assert f"reviewed the last work (R{step(trace, third).order:04d})" in claim.reason


def test_a_routing_line_at_the_first_step_makes_its_speaker_the_coordinator() -> None:
    entries = [
        {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
        {"role": "WebSurfer", "content": LAST_REPORT},
        *DECIDED,
    ]
    [trace] = load_history({"question": "Where is the nearest dojo?", "is_correct": False, "history": entries})
    assert coordinator(trace, Roles.of(trace)) == "Orchestrator"


INSTRUCTION = "Please search for the nearest dojo to the stock exchange and report its address and hours."


def test_a_message_addressed_to_an_agent_hands_it_the_turn_with_no_routing_line() -> None:
    # Magentic-One's first hand-off is the instruction alone, its role naming whom it is for.
    entries = [
        {"role": "human", "content": "Where is the nearest dojo to the stock exchange?"},
        {"role": "Orchestrator (thought)", "content": "Initial plan: search for dojos, then check their hours."},
        {"role": "Orchestrator (-> WebSurfer)", "content": INSTRUCTION},
        {"role": "WebSurfer", "content": LAST_REPORT},
        *DECIDED,
    ]
    [trace] = load_history({"question": "Where is the nearest dojo?", "is_correct": False, "history": entries})
    instruction = step(trace, INSTRUCTION)
    roles = Roles.of(trace)
    assert (instruction.agent, instruction.addressee) == ("Orchestrator", "WebSurfer")
    assert roles.acts(instruction) and roles.hands_turn(instruction)  # its instruction stays the sender's step
    assert coordinator(trace, roles) == "Orchestrator"
    claim = run_triage(trace).agent
    assert claim is not None and (claim.agent, claim.basis) == ("Orchestrator", "ended_it")
    assert claim.first_step == step(trace, REVIEW).order


def test_a_run_whose_only_hand_off_is_addressed_rests_on_the_work_it_handed_out() -> None:
    entries = [
        {"role": "human", "content": "Where is the nearest dojo to the stock exchange?"},
        {"role": "Orchestrator (-> WebSurfer)", "content": INSTRUCTION},
        {"role": "WebSurfer", "content": LAST_REPORT},
    ]
    [trace] = load_history({"question": "Where is the nearest dojo?", "is_correct": False, "history": entries})
    claim = run_triage(trace).agent
    assert claim is not None and (claim.agent, claim.basis) == ("WebSurfer", "most_work")
    assert claim.first_step == step(trace, LAST_REPORT).order


def test_an_addressed_message_after_the_review_hands_the_turn_on() -> None:
    trace = team([DECIDED[0], {"role": "Orchestrator (-> WebSurfer)", "content": INSTRUCTION}])
    assert coordinator_review(trace, Roles.of(trace), step(trace, LAST_REPORT)) is None


def test_a_message_addressed_to_its_own_sender_or_to_no_one_hands_nothing() -> None:
    entries = [
        {"role": "human", "content": "Where is the nearest dojo to the stock exchange?"},
        {"role": "Orchestrator (-> Orchestrator)", "content": INSTRUCTION},
        {"role": "Orchestrator (thought)", "content": "Initial plan: search for dojos (-> later, check hours)."},
        {"role": "WebSurfer", "content": LAST_REPORT},
    ]
    [trace] = load_history({"question": "Where is the nearest dojo?", "is_correct": False, "history": entries})
    roles = Roles.of(trace)
    assert [r.addressee for r in trace.runs[1:]] == [None, "Orchestrator", None, None]
    assert not any(roles.hands_turn(r) for r in trace.runs)
    assert coordinator(trace, roles) is None


def test_an_addressed_routing_line_hands_the_turn_to_both_agents_it_names() -> None:
    from refinery.trace.roles import handed_to

    both = run_saying("FileSurfer, over to you", agent="Orchestrator", addressee="WebSurfer")
    agents = {"Orchestrator", "WebSurfer", "FileSurfer"}
    assert handed_to(both, agents) == {"WebSurfer", "FileSurfer"}
    assert handed_to(run_saying(INSTRUCTION, agent="Orchestrator", addressee="WebSurfer"), agents) == {"WebSurfer"}
    assert handed_to(run_saying(INSTRUCTION, agent="Orchestrator"), agents) == set()


def test_a_traceback_the_coordinator_quotes_in_a_code_block_is_no_crash_of_the_run() -> None:
    printed = "Traceback (most recent call last):\n  File \"dojo.py\", line 3\nKeyError: 'hours'"
    quoted = f"No agent selected. The surfer's script had failed:\n```\n{printed}\n```\nFINAL ANSWER: Downtown Dojo"
    ending = [*DECIDED[:2], {"role": "Orchestrator (termination condition)", "content": quoted}]
    assert cut_off(team(ending).runs[-1]) is None
    claim = run_triage(team(ending)).agent
    assert claim is not None and claim.basis == "ended_it"
    raised = [*DECIDED[:2], {"role": "Orchestrator (termination condition)", "content": f"{printed}\nFINAL: x"}]
    assert cut_off(team(raised).runs[-1]) == "it crashed"


def test_a_run_that_ended_on_the_work_itself_was_not_ended_by_the_coordinator() -> None:
    trace = team([])
    assert coordinator_review(trace, Roles.of(trace), step(trace, LAST_REPORT)) is None


def test_another_agent_speaking_after_the_last_work_takes_the_ending_from_the_coordinator() -> None:
    critic = {"role": "Critic", "content": "I checked the hours on the dojo page and they look right to me."}
    trace = team([DECIDED[0], critic, *DECIDED[1:]])
    assert coordinator_review(trace, Roles.of(trace), step(trace, LAST_REPORT)) is None
    claim = run_triage(trace).agent
    assert claim is not None and claim.basis == "most_work"


def test_with_two_agents_routing_there_is_no_one_coordinator() -> None:
    second_router = [
        {"role": "Planner", "content": "Next speaker WebSurfer"},
        {"role": "WebSurfer", "content": "I opened the map and measured the walk to Downtown Dojo: five minutes."},
    ]
    trace = team([*second_router, *DECIDED])
    roles = Roles.of(trace)
    assert coordinator(trace, roles) is None
    assert coordinator(team(DECIDED), Roles.of(team(DECIDED))) == "Orchestrator"
    claim = run_triage(trace).agent
    assert claim is not None and claim.basis == "most_work"


def test_the_model_stages_get_the_coordinators_ending_as_a_lead() -> None:
    from refinery.analysis.stages import triage_digest

    line = next(line for line in triage_digest(run_triage(team(DECIDED))).splitlines() if "agent lead" in line)
    assert "Orchestrator" in line and "a lead, not a fact" in line and "ended the run itself" in line


def test_a_limit_reached_is_a_finding_at_the_stop_message_never_the_origin() -> None:
    trace = team([{"role": "Orchestrator (termination condition)", "content": "Max rounds (30) reached.\nFINAL: 6 am"}])
    triage = run_triage(trace)
    stop = trace.runs[-1]
    [limit] = [f for f in triage.findings if f.rule == "limit_reached"]
    assert (limit.section, limit.category, limit.evidence) == (
        f"R{stop.order:04d}",
        "Resource Exhaustion",
        "Max rounds (30) reached.",
    )
    assert limit.explanation == (
        "The run stopped here because it reached a limit its framework sets, not because it finished: "
        "the work before it did not converge, and that work is where to look, not this stop."
    )
    assert triage.origin is None or triage.origin.finding_id != limit.id
    assert f"how it ended: cut off at R{stop.order:04d}, where it reached a limit, not finished" in triage.checked


def test_a_langchain_agent_stopped_by_its_iteration_limit_is_cut_off() -> None:
    from tests.builders import TraceBuilder

    builder = TraceBuilder("AgentExecutor", outputs={"output": "Agent stopped due to iteration limit or time limit."})
    builder.llm(builder.root, "I should search again.")
    builder.add("search", builder.root, "tool", inputs={"query": "dojo"}, outputs={"output": "no results"})
    triage = run_triage(builder.build())
    assert [f.section for f in triage.findings if f.rule == "limit_reached"] == ["R0000"]


def test_a_limit_reported_twice_is_one_finding_that_lists_the_other_report() -> None:
    from tests.builders import TraceBuilder

    stop = "Max turns (10) exceeded"
    builder = TraceBuilder("run", outputs={"output": stop})
    builder.add("Runner", builder.root, "chain", outputs={"output": stop})
    [limit] = [f for f in run_triage(builder.build()).findings if f.rule == "limit_reached"]
    assert limit.section == "R0000" and limit.related_sections == ["R0001"]


def test_a_limit_raised_as_an_error_is_the_failed_runs_finding_not_a_second_one() -> None:
    from tests.builders import TraceBuilder

    builder = TraceBuilder("graph")
    error = "GraphRecursionError: Recursion limit of 25 reached without hitting a stop condition."
    builder.add("agent", builder.root, "chain", error=error, status="error", outputs={"output": error})
    rules = [f.rule for f in run_triage(builder.build()).findings]
    assert "run_error" in rules and "limit_reached" not in rules


def test_a_page_that_quotes_a_limit_mid_line_and_a_run_with_no_limit_have_no_finding() -> None:
    quoted = {"role": "WebSurfer", "content": "The forum post says: after a while the bot reached max steps and quit."}
    triage = run_triage(team([quoted, *DECIDED]))
    assert not [f for f in triage.findings if f.rule == "limit_reached"]
    assert not [line for line in triage.checked if line.startswith("how it ended")]


def test_the_comment_says_under_the_trace_that_a_run_cut_off_did_not_finish() -> None:
    from refinery.analysis.orchestrator import offline_result
    from refinery.pipeline import prepare
    from refinery.report.comment import build_comment

    stop = {"role": "Orchestrator (termination condition)", "content": "Max rounds (30) reached."}
    trace = team([stop])
    lead = build_comment([offline_result(prepare(trace))], marker="<!-- m -->").split("<details>")[0]
    assert f"  - the run did not finish: cut off at R{trace.runs[-1].order:04d}, `Max rounds (30) reached.`" in lead
    decided = build_comment([offline_result(prepare(team(DECIDED)))], marker="<!-- m -->").split("<details>")[0]
    assert "did not finish" not in decided
