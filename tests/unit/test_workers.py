"""Which agent a multi-agent failure is pinned on when no step can be named (``triage/workers.py``).

Each test is one principle, on a small log in the producer's own shape (Who&When's ``history``:
Magentic-One's orchestrator and web surfer, an AutoGen group chat with a code executor).
"""

from __future__ import annotations

from typing import Any

import pytest

from refinery.documents.render import RenderOptions
from refinery.pipeline import prepare
from refinery.report.offline import render_offline_report
from refinery.trace.files.chat import load_history
from refinery.trace.model import Trace
from refinery.trace.roles import Roles
from refinery.triage import run_triage
from refinery.triage.confidence import agent_sentence
from refinery.triage.document import render_triage_md
from refinery.triage.model import Origin
from refinery.triage.workers import claim_agent, find_workers, hands_out, task_texts, work_runs


def history(entries: list[dict[str, Any]], question: str = "Where is the nearest dojo?") -> Trace:
    [trace] = load_history({"question": question, "is_correct": False, "history": entries})
    return trace


CUT_OFF = "Max rounds (30) reached. FINAL ANSWER: Downtown Dojo"
"""How Magentic-One ends a run that ran out of rounds (Who&When hand-crafted logs)."""


def magentic(surfer_turns: int, planner_turns: int = 2, ending: str = CUT_OFF) -> Trace:
    """An orchestrator that plans and routes, a web surfer it routes to, and a file surfer it routes to once;
    by default the run is cut off by its round limit, so its ending is nobody's decision."""
    entries: list[dict[str, Any]] = [{"role": "human", "content": "Where is the nearest dojo to the stock exchange?"}]
    for n in range(planner_turns):
        entries.append({"role": "Orchestrator (thought)", "content": f"Plan {n}: find dojos, then check the hours."})
    entries += [
        {"role": "Orchestrator (thought)", "content": "Next speaker FileSurfer"},
        {"role": "FileSurfer", "content": "I opened notes.txt: it lists no dojo addresses at all."},
    ]
    for n in range(surfer_turns):
        entries += [
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": f"I clicked result {n} and read the page about a dojo downtown."},
        ]
    entries.append({"role": "Orchestrator (termination condition)", "content": ending})
    return history(entries)


def test_the_worker_that_did_most_of_the_work_is_claimed_not_the_planner_that_spoke_most() -> None:
    trace = magentic(surfer_turns=3, planner_turns=6)
    claim = run_triage(trace).agent
    assert claim is not None and claim.basis == "most_work"
    assert claim.agent == "WebSurfer"  # the orchestrator spoke 8 times, but planning and routing is not work
    assert (claim.work_steps, claim.all_work_steps) == (3, 4)
    first = next(r for r in trace.runs if r.agent == "WebSurfer")
    assert claim.first_section == f"R{first.order:04d}" and claim.first_step == first.order
    assert claim.confidence == "low"


def test_with_equal_work_the_worker_that_worked_first_is_claimed() -> None:
    claim = run_triage(magentic(surfer_turns=1)).agent
    assert claim is not None and claim.agent == "FileSurfer"


def test_the_author_of_code_the_executor_ran_is_a_worker_and_a_reviewer_is_not() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Planning_Expert", "content": "We should count the rows, then verify them."},
            {"role": "assistant", "name": "Code_Expert", "content": "```python\nprint(len(rows))\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n41"},
            {"role": "assistant", "name": "Review_Expert", "content": "The count of 41 looks right to me, good work."},
            {"role": "assistant", "name": "Planning_Expert", "content": "Agreed, the final answer is 41 rows."},
            {"role": "assistant", "name": "Review_Expert", "content": "TERMINATE"},
        ],
        question="How many rows?",
    )
    assert find_workers(trace, Roles.of(trace)) == {"Code_Expert"}
    claim = run_triage(trace).agent
    assert claim is not None and claim.agent == "Code_Expert" and claim.work_steps == 1


def test_a_message_no_longer_than_a_routing_line_is_not_work() -> None:
    trace = history(
        [
            {"role": "human", "content": "Where is the nearest dojo?"},
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": "I searched for dojos and found Downtown Dojo nearby today."},
            {"role": "Orchestrator (thought)", "content": "Next speaker FileSurfer"},
            {"role": "FileSurfer", "content": "Nothing found."},
            {"role": "Orchestrator (thought)", "content": "Next speaker FileSurfer"},
            {"role": "FileSurfer", "content": "Still nothing here."},
        ]
    )
    claim = run_triage(trace).agent
    assert claim is not None and claim.agent == "WebSurfer" and claim.all_work_steps == 1


def brief(question: str) -> str:
    """An AutoGen manager's brief, the way CaptainAgent hands the task to the group."""
    return (
        "You are given: (1) a task and advises from your manager with a specific plan and (2) a general task.\n"
        f"# General Task\n{question}\n# Plan\nAnswer it step by step."
    )


QUESTION = "How many studio albums did the band release between 2000 and 2009?"


def no_work_chat(*, briefed: bool = True) -> Trace:
    """A CaptainAgent-style group chat where no code ran: the task handed out, answered, agreed with."""
    entries = [
        {"role": "assistant", "name": "Discography_Expert", "content": "From memory the band released four albums."},
        {"role": "assistant", "name": "Verification_Expert", "content": "I agree with four studio albums there."},
        {"role": "assistant", "name": "Verification_Expert", "content": "TERMINATE"},
    ]
    brief_entry = {"role": "assistant", "name": "Music_Expert", "content": brief(QUESTION)}
    return history([brief_entry, *entries] if briefed else entries, question=QUESTION)


def test_a_single_agent_is_the_agent_at_high_confidence_and_reading_starts_at_its_work() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Solo_Expert", "content": brief(QUESTION)},
            {"role": "assistant", "name": "Solo_Expert", "content": "```python\nprint(2 + 2)\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n4"},
            {"role": "assistant", "name": "Solo_Expert", "content": "So the answer is four, as computed above."},
        ],
        question=QUESTION,
    )
    claim = run_triage(trace).agent
    assert claim is not None and (claim.agent, claim.basis, claim.confidence) == ("Solo_Expert", "only_agent", "high")
    code = next(r for r in trace.runs if "print" in str(r.outputs))
    assert claim.first_step == code.order  # its code that ran, not the brief before it
    assert "lies in `Solo_Expert`'s work (start reading at" in agent_sentence(claim)


def test_handing_out_the_task_is_not_work_and_reading_starts_after_it() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Music_Expert", "content": brief(QUESTION)},
            {"role": "assistant", "name": "Code_Expert", "content": "```python\nprint(count_albums(2000, 2009))\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n3"},
            {"role": "assistant", "name": "Music_Expert", "content": "I list them myself: Album One, Album Two."},
            {"role": "assistant", "name": "Code_Expert", "content": "```python\nprint(verify(3))\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\nTrue"},
        ],
        question=QUESTION,
    )
    roles = Roles.of(trace)
    work = work_runs(trace, roles)
    assert [r.agent for r in work] == ["Code_Expert", "Code_Expert"]  # the brief and the aside are no work
    assert hands_out(trace.runs[1], task_texts(trace)) and not hands_out(trace.runs[2], task_texts(trace))
    claim = run_triage(trace).agent
    assert claim is not None and claim.agent == "Code_Expert" and claim.first_step == trace.runs[2].order


def test_quoting_a_short_input_in_passing_is_not_handing_out_the_task() -> None:
    trace = history(
        [{"role": "assistant", "name": "A_Expert", "content": "The question asks: how many albums? Let us count."}],
        question="How many albums?",
    )
    assert task_texts(trace) == []
    assert not hands_out(trace.runs[1], task_texts(trace))


def test_when_no_work_ran_the_first_agent_to_take_up_the_task_is_claimed() -> None:
    trace = no_work_chat()
    claim = run_triage(trace).agent
    assert claim is not None and (claim.agent, claim.basis, claim.confidence) == (
        "Discography_Expert",
        "first_answer",
        "low",
    )
    assert claim.first_step == trace.runs[2].order  # not the brief at runs[1]
    assert "(its first answer at R0002)" in agent_sentence(claim)
    assert claim.reason == "no agent's work ran (no code, no tool, no agent handed the turn); it took up the task first"


def test_an_agent_that_hands_out_the_task_and_then_answers_it_is_claimed_at_its_answer() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Bible_Expert", "content": brief(QUESTION)},
            {
                "role": "assistant",
                "name": "Bible_Expert",
                "content": "The first place named is Susa, so we look there.",
            },
            {
                "role": "assistant",
                "name": "History_Expert",
                "content": "Susa is in Iran; its prime minister then was X.",
            },
        ],
        question=QUESTION,
    )
    claim = run_triage(trace).agent
    assert claim is not None and claim.basis == "first_answer"
    assert (claim.agent, claim.first_step) == ("Bible_Expert", trace.runs[2].order)


def test_a_log_whose_agents_only_route_and_hand_out_gets_no_claim() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Music_Expert", "content": brief(QUESTION)},
            {"role": "assistant", "name": "Verification_Expert", "content": "TERMINATE"},
        ],
        question=QUESTION,
    )
    assert run_triage(trace).agent is None


def test_a_stated_origin_names_the_agent_and_the_report_says_it_once() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Planning_Expert", "content": "Let us compute the frame count with code."},
            {"role": "assistant", "name": "Video_Expert", "content": "```python\nprint(count_frames())\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 1 (execution failed)\nNameError"},
        ],
        question="How many frames?",
    )
    triage = run_triage(trace)
    origin = triage.origin.model_copy(update={"precision": 0.9}) if triage.origin else None
    assert origin is not None and origin.agent == "Video_Expert"
    claim = claim_agent(trace, Roles.of(trace), origin)
    assert claim is not None and claim.basis == "origin" and claim.agent == "Video_Expert"
    assert triage.model_copy(update={"origin": origin, "agent": claim}).stated_agent is None


def test_the_report_names_the_claimed_agent_with_its_measured_precision_when_no_step_is_named() -> None:
    prepared = prepare(magentic(surfer_turns=3))
    triage = prepared.triage
    assert triage.stated_origin is None and triage.stated_agent is not None
    claim = triage.stated_agent
    sentence = (
        f"The failure possibly lies in `WebSurfer`'s work (3 of 4 steps of work, the first at {claim.first_section})"
    )
    report = render_offline_report(prepared.trace, triage)
    assert sentence in report
    assert f"right {claim.right} of {claim.named} times" in report
    assert sentence in render_triage_md(triage, RenderOptions()).text


def test_an_agent_claim_below_the_floor_is_not_stated() -> None:
    claim = run_triage(magentic(surfer_turns=3)).agent
    assert claim is not None
    assert not claim.model_copy(update={"precision": 0.49}).stated
    assert claim.model_copy(update={"precision": 0.5}).stated


def test_the_comment_points_at_the_claimed_agent_and_says_no_step_is_named() -> None:
    from refinery.analysis.orchestrator import offline_result
    from refinery.report.comment import build_comment

    body = build_comment([offline_result(prepare(magentic(surfer_turns=3)))], marker="<!-- refinery -->")
    assert (
        "no origin step named. The failure possibly lies in `WebSurfer`'s work (3 of 4 steps of work, the first at R"
        in body
    )
    assert "no origin step named; possibly in WebSurfer's work" in body  # the trace's <summary> line
    assert "Low confidence: right " in body


def test_the_model_stages_get_the_agent_claim_as_a_lead_not_a_fact() -> None:
    from refinery.analysis.stages import triage_digest

    digest = triage_digest(run_triage(magentic(surfer_turns=3)))
    line = next(line for line in digest.splitlines() if line.startswith("- agent lead"))
    assert "(low confidence, right " in line and "a lead, not a fact" in line and "WebSurfer" in line


def test_the_model_stages_get_a_first_answer_as_a_lead_and_no_lead_for_the_only_agent() -> None:
    from refinery.analysis.stages import triage_digest

    line = next(
        line for line in triage_digest(run_triage(no_work_chat())).splitlines() if line.startswith("- agent lead")
    )
    assert "Discography_Expert" in line and "start reading at R0002" in line
    solo = history(
        [
            {"role": "assistant", "name": "Solo_Expert", "content": "```python\nprint(2 + 2)\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n4"},
        ],
        question=QUESTION,
    )
    assert "agent lead" not in triage_digest(run_triage(solo))  # one agent: nothing for the model to weigh


def test_a_single_worker_is_said_to_be_the_only_one_the_others_handed_work_to() -> None:
    trace = history(
        [
            {"role": "human", "content": "Where is the nearest dojo?"},
            {"role": "Orchestrator (thought)", "content": "Plan: search the web for dojos near the exchange."},
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": "I searched for dojos and found Downtown Dojo nearby today."},
        ]
    )
    claim = run_triage(trace).agent
    assert claim is not None and claim.reason == "the only agent the others handed work to"
    assert claim.work_steps == claim.all_work_steps == 1


def test_the_claims_precision_is_its_bases_committed_measurement() -> None:
    from refinery.triage.confidence import agent_calibration

    claim = run_triage(magentic(surfer_turns=3)).agent
    named, right = agent_calibration("most_work")
    assert claim is not None and (claim.named, claim.right) == (named, right) and named >= 5
    assert claim.precision == right / named


def test_a_stated_origins_claim_carries_the_origins_level_and_precision() -> None:
    trace = magentic(surfer_turns=2)
    surfer = next(r for r in trace.runs if r.agent == "WebSurfer")
    origin = Origin(
        run_id=surfer.id,
        section=f"R{surfer.order:04d}",
        step=surfer.order,
        name="WebSurfer",
        agent="WebSurfer",
        finding_id="F01",
        reason="here the run first parted from the passing run",
        confidence="medium",
        precision=0.7,
    )
    claim = claim_agent(trace, Roles.of(trace), origin)
    assert claim is not None and (claim.basis, claim.confidence, claim.precision) == ("origin", "medium", 0.7)
    assert claim.reason == f"it took the origin step R{surfer.order:04d}"


def test_the_reason_says_whether_the_claimed_worker_was_tied_or_ahead() -> None:
    ahead = run_triage(magentic(surfer_turns=3)).agent
    assert ahead is not None and ahead.reason == "the agent that did most of the work the answer rests on"
    tied = run_triage(magentic(surfer_turns=1)).agent
    assert tied is not None
    assert tied.reason == "of the agents that did the most work the answer rests on, the one that worked first"
    # alone: test_a_single_worker_is_said_to_be_the_only_one_the_others_handed_work_to


def test_the_agents_own_tool_calls_make_it_a_worker_from_the_first_step_on() -> None:
    from tests.builders import TraceBuilder

    b = TraceBuilder("crew")
    b.add("Researcher", b.root, "tool", agent="Researcher", inputs={"q": "dojo"}, outputs={"hits": 3})
    b.add("Writer", b.root, "agent", agent="Writer", outputs={"content": "Here is the summary of the dojo search."})
    b.add("Researcher", b.root, "retriever", agent="Researcher", inputs={"q": "hours"}, outputs={"docs": []})
    trace = b.build()
    assert find_workers(trace, Roles.of(trace)) == {"Researcher"}
    claim = run_triage(trace).agent
    assert claim is not None and (claim.agent, claim.work_steps, claim.first_step) == ("Researcher", 2, 1)


def test_an_agent_naming_itself_does_not_route_to_itself() -> None:
    trace = history(
        [
            {"role": "human", "content": "Where is the nearest dojo?"},
            {"role": "Orchestrator (thought)", "content": "Plan: search the web for dojos near the exchange."},
            {"role": "Orchestrator (thought)", "content": "Orchestrator: WebSurfer next"},
            {"role": "WebSurfer", "content": "I searched for dojos and found Downtown Dojo nearby today."},
        ]
    )
    assert find_workers(trace, Roles.of(trace)) == {"WebSurfer"}


def test_a_message_of_exactly_a_routing_lines_length_is_no_work_and_one_word_more_is() -> None:
    words = ["alpha", "beta", "gamma", "delta"]  # ROUTING_WORDS of them
    trace = history(
        [
            {"role": "human", "content": "Where is the nearest dojo?"},
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": " ".join(words)},
            {"role": "Orchestrator (thought)", "content": "Next speaker FileSurfer"},
            {"role": "FileSurfer", "content": " ".join([*words, "epsilon"])},
        ]
    )
    assert [r.agent for r in work_runs(trace, Roles.of(trace))] == ["FileSurfer"]


def test_an_input_of_exactly_the_task_length_is_a_task_and_quoting_it_in_other_case_hands_it_out() -> None:
    five = "Count the albums released today"
    trace = history(
        [{"role": "assistant", "name": "A_Expert", "content": f"TASK: {five.upper()}. Please begin."}], question=five
    )
    assert task_texts(trace) == ["count the albums released today"]
    assert hands_out(trace.runs[1], task_texts(trace))
    four = history([{"role": "assistant", "name": "A_Expert", "content": "x"}], question="Count the albums today")
    assert task_texts(four) == []


def test_a_person_is_no_agent_of_the_system_whatever_the_case_of_its_name() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "User", "content": "Please find me the nearest dojo to the exchange."},
            {"role": "assistant", "name": "Solo_Expert", "content": "I searched and found Downtown Dojo nearby."},
        ]
    )
    claim = run_triage(trace).agent
    assert claim is not None and (claim.agent, claim.basis) == ("Solo_Expert", "only_agent")
    assert claim.reason == "the only agent of the system under test"


def test_the_only_agent_with_no_work_is_read_from_its_first_answer_else_its_first_step() -> None:
    said = history(
        [
            {"role": "assistant", "name": "Solo_Expert", "content": brief(QUESTION)},
            {"role": "assistant", "name": "Solo_Expert", "content": "The band released four albums in that decade."},
        ],
        question=QUESTION,
    )
    claim = run_triage(said).agent
    assert claim is not None and claim.first_step == said.runs[2].order
    mute = history([{"role": "assistant", "name": "Solo_Expert", "content": "TERMINATE"}], question=QUESTION)
    claim = run_triage(mute).agent
    assert claim is not None and claim.first_step == mute.runs[1].order


def test_one_tool_call_or_one_retrieval_at_the_first_step_makes_a_worker() -> None:
    from tests.builders import TraceBuilder

    for kind in ("tool", "retriever"):
        b = TraceBuilder("crew")
        b.add("search", b.root, kind, agent="Researcher", inputs={"q": "dojo"}, outputs={"hits": 3})
        b.add("Writer", b.root, "agent", agent="Writer", outputs={"content": "Here is the summary of the search."})
        trace = b.build()
        assert find_workers(trace, Roles.of(trace)) == {"Researcher"}, kind


def test_code_in_the_first_message_that_the_executor_ran_is_work() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Code_Expert", "content": "```python\nprint(1)\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n1"},
            {"role": "assistant", "name": "Review_Expert", "content": "Looks right to me, so the answer is one."},
        ],
        question="What is one?",
    )
    assert find_workers(trace, Roles.of(trace)) == {"Code_Expert"}


def test_a_message_the_executor_found_no_code_in_did_no_work() -> None:
    no_code = (
        "There is no code from the last 1 message for me to execute. Group chat manager should let other "
        "participants to continue the conversation."
    )
    trace = history(
        [
            {"role": "assistant", "name": "Plan_Expert", "content": "First count the rows, then check the total."},
            {"role": "user", "name": "Computer_terminal", "content": no_code},
            {"role": "assistant", "name": "Code_Expert", "content": "```python\nprint(len(rows))\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n41"},
            {"role": "assistant", "name": "Plan_Expert", "content": "The count of 41 rows agrees with the plan."},
        ],
        question="How many rows are there?",
    )
    assert find_workers(trace, Roles.of(trace)) == {"Code_Expert"}
    claim = run_triage(trace).agent
    assert claim is not None and claim.agent == "Code_Expert" and claim.first_step == trace.runs[3].order


def test_the_first_answer_may_be_the_first_message_of_the_log() -> None:
    claim = run_triage(no_work_chat(briefed=False)).agent
    assert claim is not None and (claim.agent, claim.basis, claim.first_step) == (
        "Discography_Expert",
        "first_answer",
        1,
    )


def test_the_only_agent_is_read_from_its_own_first_step_not_the_persons_before_it() -> None:
    trace = history(
        [
            {"role": "human", "content": "How many albums?"},
            {"role": "assistant", "name": "Solo_Expert", "content": "TERMINATE"},
        ],
        question=QUESTION,
    )
    claim = run_triage(trace).agent
    assert claim is not None and claim.first_step == 2


def test_a_basis_measured_under_the_sample_has_no_precision_and_one_at_the_sample_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from refinery.triage import confidence

    for named, precision in ((4, None), (5, 3 / 5)):
        table = {"agent": {"most_work": {"named": named, "right": 3}}}
        monkeypatch.setattr(confidence, "calibration", lambda table=table: table)
        claim = run_triage(magentic(surfer_turns=3)).agent
        assert claim is not None and claim.precision == precision and (claim.named, claim.right) == (named, 3)


def test_a_message_whose_content_is_not_text_does_no_work_and_breaks_nothing() -> None:
    trace = history(
        [
            {"role": "human", "content": "Where is the nearest dojo?"},
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]},
            {"role": "Orchestrator (thought)", "content": "Next speaker FileSurfer"},
            {"role": "FileSurfer", "content": "I opened notes.txt and found the dojo's address there."},
        ]
    )
    claim = run_triage(trace).agent
    assert claim is not None and claim.agent == "FileSurfer"


def test_the_only_agent_with_nothing_said_is_read_from_its_own_step_not_an_unnamed_tool_before_it() -> None:
    from tests.builders import TraceBuilder

    b = TraceBuilder("agent")
    b.add("search", b.root, "tool", outputs={"hits": 0})
    b.add("Solo", b.root, "agent", agent="Solo", outputs={"content": "TERMINATE"})
    claim = run_triage(b.build()).agent
    assert claim is not None and (claim.basis, claim.first_step) == ("only_agent", 2)


def test_a_tool_call_whose_output_quotes_the_task_is_still_work() -> None:
    from tests.builders import TraceBuilder

    b = TraceBuilder("crew", inputs={"question": QUESTION})
    b.add("search", b.root, "tool", agent="Researcher", outputs={"content": f"Results for: {QUESTION}"})
    b.add("Writer", b.root, "agent", agent="Writer", outputs={"content": "Here is the summary of the search."})
    trace = b.build()
    assert [r.agent for r in work_runs(trace, Roles.of(trace))] == ["Researcher"]


def test_a_passing_run_analysed_on_request_is_not_said_to_have_failed_in_any_output(tmp_path: Any) -> None:
    import json

    from click.testing import CliRunner

    from refinery.analysis.orchestrator import offline_result
    from refinery.analysis.pack import PackSelection
    from refinery.cli import cli
    from refinery.report.comment import build_comment

    entries = [
        {"role": "human", "content": "Where is the nearest dojo?"},
        {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
        {"role": "WebSurfer", "content": "I searched for dojos and found Downtown Dojo two streets away."},
    ]
    log = tmp_path / "passed.json"
    log.write_text(json.dumps({"question": "Where is the nearest dojo?", "is_correct": True, "history": entries}))
    done = CliRunner().invoke(cli, ["analyze", str(log), "--all", "--offline", "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "If this run failed, the failure lies in WebSurfer's work" in done.output
    assert "The failure" not in done.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "If this run failed, the failure lies in `WebSurfer`'s work" in report and "The failure" not in report
    triage_md = (tmp_path / "out" / "documents" / "triage.md").read_text()  # what the model stages read
    assert "If this run failed, the failure lies in `WebSurfer`'s work" in triage_md and "The failure" not in triage_md
    result = offline_result(prepare(history(entries)))
    result.selection = PackSelection(reasons=["feedback correctness=1, above 0.5"], verdict="passed")
    assert "no origin step named. If this run failed, the failure lies in" in build_comment(
        [result], marker="<!-- m -->"
    )
