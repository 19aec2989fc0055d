"""A wrong answer is first wrong where the agent first gave it (``triage/workers.py``).

Each log is in the producer's own shape: Who&When's ``history`` of a Magentic-One team, whose
harness prints the run's answer in GAIA's template (``FINAL ANSWER: …``) at the end of the last
message, after whatever the process printed before it.
"""

from __future__ import annotations

from typing import Any

from refinery.trace.files.chat import load_history, template_answer
from refinery.trace.model import Trace
from refinery.triage import run_triage
from refinery.triage.confidence import agent_sentence
from refinery.triage.model import AgentClaim

SEARCH = "I typed 'eateries near Harkness Memorial State Park' into the search bar and got a list of results."
FOUND = "I clicked 'Sneekers Cafe'. The page says Sneekers Cafe is open until midnight on Wednesdays."
CHECK = "I clicked 'Opening hours'. The hours listed are 11 am to midnight, Monday to Sunday."
ENDING = (
    "/workspace/scenario.py:94: UserWarning: Resolved model mismatch.\n"
    "  response = await client.create(messages)\n"
    "FINAL ANSWER: Sneekers Cafe\n"
    "SCENARIO.PY COMPLETE !#!#"
)


def team(*work: str, question: str = "What is the closest eatery to the park that is open at 11pm?") -> Trace:
    """The orchestrator routes the web surfer once per piece of ``work``; the run is cut off by a crash
    of the last step's process, which then prints the answer."""
    entries: list[dict[str, Any]] = [
        {"role": "human", "content": question},
        {
            "role": "Orchestrator (thought)",
            "content": "Initial plan: find eateries near the park, then check their hours.",
        },
    ]
    for text in work:
        entries += [
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": text},
        ]
    entries.append({"role": "WebSurfer", "content": ENDING})
    [trace] = load_history({"question": question, "is_correct": False, "history": entries})
    return trace


def order_of(trace: Trace, content: str) -> int:
    return next(r.order for r in trace.runs if (r.outputs or {}).get("content") == content)


def test_the_history_reader_takes_the_answer_from_the_last_line_of_the_template_in_the_last_message() -> None:
    assert template_answer([{"content": "no answer yet"}, {"content": ENDING}]) == "Sneekers Cafe"
    assert template_answer([{"content": "FINAL ANSWER: draft\nthinking…\nFINAL ANSWER:  42 \n"}]) == "42"
    # Only the run's last message delivers its answer; a template quoted mid-line is no answer line.
    assert template_answer([{"content": "FINAL ANSWER: early"}, {"content": "done"}]) is None
    assert template_answer([{"content": "No agent selected. FINAL ANSWER: Downtown Dojo"}]) is None
    assert template_answer([{"content": "FINAL ANSWER:   \n"}]) is None
    assert template_answer([{"content": ["FINAL ANSWER: x"]}]) is None
    assert template_answer([]) is None
    assert team(SEARCH).root.outputs == {"answer": "Sneekers Cafe"}
    [plain] = load_history({"history": [{"role": "human", "content": "hi"}, {"role": "Bot", "content": "hello"}]})
    assert plain.root.outputs is None


def test_where_to_start_reading_is_the_workers_first_step_that_gave_the_final_answer() -> None:
    trace = team(SEARCH, FOUND, CHECK)
    claim = run_triage(trace).agent
    found = order_of(trace, FOUND)
    assert claim is not None and (claim.agent, claim.basis) == ("WebSurfer", "most_work")
    assert (claim.first_step, claim.first_section, claim.answer) == (found, f"R{found:04d}", "Sneekers Cafe")
    # Its later step that says it again does not move the start.
    assert order_of(trace, CHECK) > found


def test_without_a_recorded_answer_the_first_step_of_work_stands() -> None:
    trace = team(SEARCH, FOUND)
    trace.root.outputs = None
    claim = run_triage(trace).agent
    assert claim is not None and claim.answer is None and claim.first_step == order_of(trace, SEARCH)


def test_an_answer_the_task_quotes_says_nothing_about_where_it_came_from() -> None:
    trace = team(SEARCH, FOUND, question="Is Sneekers Cafe the closest eatery to the park that is open at 11pm?")
    claim = run_triage(trace).agent
    assert claim is not None and claim.answer is None and claim.first_step == order_of(trace, SEARCH)


def test_an_answer_first_said_in_the_last_step_has_no_earlier_source() -> None:
    trace = team(SEARCH, CHECK)
    claim = run_triage(trace).agent
    assert claim is not None and claim.answer is None and claim.first_step == order_of(trace, SEARCH)


def test_the_answer_matches_whole_words_only() -> None:
    trace = team(SEARCH, "Results: 15 eateries, 50 reviews.", "The nearest one is 5 minutes away.")
    trace.root.outputs = {"answer": "5"}
    claim = run_triage(trace).agent
    assert claim is not None and claim.answer == "5"
    assert claim.first_step == order_of(trace, "The nearest one is 5 minutes away.")


def test_another_agent_saying_the_answer_first_does_not_move_the_claimed_agents_start() -> None:
    trace = team(SEARCH, FOUND)
    plan = next(r for r in trace.runs if r.name == "Orchestrator")
    plan.outputs = {"content": "Initial plan: Sneekers Cafe is a likely answer; check eateries near the park."}
    claim = run_triage(trace).agent
    assert claim is not None and claim.agent == "WebSurfer" and claim.first_step == order_of(trace, FOUND)


def test_an_answer_in_several_outputs_or_not_text_is_not_one_answer() -> None:
    for outputs in ({"answer": "Sneekers Cafe", "notes": "x"}, {"answer": 7}, {"answer": "  ?! "}):
        trace = team(SEARCH, FOUND)
        trace.root.outputs = outputs
        claim = run_triage(trace).agent
        assert claim is not None and claim.answer is None and claim.first_step == order_of(trace, SEARCH)
    trace = team(SEARCH, FOUND)
    trace.root.outputs = {"output": "Sneekers Cafe"}  # the key does not matter, as in a LangSmith root
    claim = run_triage(trace).agent
    assert claim is not None and claim.answer == "Sneekers Cafe"


def test_the_sentence_says_where_the_answer_first_appears_in_the_agents_output_and_quotes_it_as_code() -> None:
    claim = AgentClaim(
        agent="WebSurfer",
        basis="most_work",
        reason="the agent that did most of the work the answer rests on",
        work_steps=3,
        all_work_steps=4,
        first_section="R0009",
        first_step=9,
        answer="Sneekers `Cafe`",
    )
    said = agent_sentence(claim, lambda text: f"<{text}>")
    assert "(3 of 4 steps of work; the final answer, <Sneekers `Cafe`>, first appears in its output at R0009): " in said
    single = claim.model_copy(update={"work_steps": 1, "all_work_steps": 1})
    assert (
        "(its only step of work; the final answer, <Sneekers `Cafe`>, first appears in its output at R0009)"
        in agent_sentence(single, lambda text: f"<{text}>")
    )
    review = claim.model_copy(update={"basis": "ended_it", "agent": "Orchestrator"})
    assert (
        "<Orchestrator>'s work (the final answer, <Sneekers `Cafe`>, first appears in its output at R0009): "
        in agent_sentence(review, lambda text: f"<{text}>")
    )
    unanswered = claim.model_copy(update={"answer": None})
    assert "(3 of 4 steps of work, the first at R0009)" in agent_sentence(unanswered)
    assert "(its only step of work, at R0009)" in agent_sentence(single.model_copy(update={"answer": None}))


def test_the_model_stages_are_told_where_the_answer_first_appears() -> None:
    from refinery.analysis.stages import triage_digest

    traced = team(SEARCH, FOUND, CHECK)
    found = order_of(traced, FOUND)
    line = next(line for line in triage_digest(run_triage(traced)).splitlines() if line.startswith("- agent lead"))
    assert line.endswith(f"start reading at R{found:04d}, where the run's final answer first appears in its output")
    untraced = team(SEARCH, CHECK)
    line = next(line for line in triage_digest(run_triage(untraced)).splitlines() if line.startswith("- agent lead"))
    assert line.endswith(f"start reading at R{order_of(untraced, SEARCH):04d}")


def test_the_first_message_of_a_log_can_be_where_the_answer_first_appears() -> None:
    entries = [
        {"role": "assistant", "name": "Solo_Expert", "content": "Paris is the capital of France, I believe."},
        {"role": "assistant", "name": "Solo_Expert", "content": "I checked the atlas for the capital city."},
        {"role": "assistant", "name": "Solo_Expert", "content": "Done.\nFINAL ANSWER: Paris"},
    ]
    [trace] = load_history({"question": "Which city is the capital of France?", "history": entries})
    claim = run_triage(trace).agent
    assert claim is not None and claim.basis == "only_agent"
    assert (claim.answer, claim.first_step) == ("Paris", 1)
