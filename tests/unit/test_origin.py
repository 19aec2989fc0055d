"""Where a failure began, one principle per test, each on a small trace in its producer's own shape
(tau-bench results, tau2-bench simulations, Who&When histories, OpenAI chat transcripts), read by
Refinery's own readers. Then the two checks against the shared labelled data: every high-confidence
origin on the development half is right, and the committed calibration is what the data gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from refinery.trace.files.chat import load_chat, load_history
from refinery.trace.files.tau2_bench import load_tau2_bench
from refinery.trace.files.tau_bench import load_tau_bench
from refinery.trace.model import Trace
from refinery.trace.roles import Roles
from refinery.triage import run_triage
from refinery.triage.model import Origin, TriageReport


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def assistant(*calls: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls) or None}


def result(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def tau_record(traj: list[dict[str, Any]], actions: list[dict[str, Any]], reward: float = 0.0) -> Trace:
    """One tau-bench result record, as ``tau_bench/run.py`` writes it."""
    record = {
        "task_id": 7,
        "reward": reward,
        "trial": 0,
        "info": {
            "task": {"user_id": "u1", "actions": actions, "instruction": "Change my order.", "outputs": []},
            "reward_info": {"reward": reward, "info": {"r_actions": reward, "gt_data_hash": "x"}, "actions": actions},
        },
        "traj": [{"role": "system", "content": "You are a retail agent."}, *traj],
    }
    [trace] = load_tau_bench([record])
    return trace


def origin_of(trace: Trace) -> Origin:
    origin = run_triage(trace).origin
    assert origin is not None
    return origin


def section_of(trace: Trace, name: str, nth: int = 0) -> str:
    runs = [r for r in trace.runs if r.name == name]
    return f"R{runs[nth].order:04d}"


# -- recovered errors ----------------------------------------------------------------------------


def test_an_error_the_run_recovered_from_is_context_when_a_later_failure_explains_it() -> None:
    trace = tau_record(
        [
            {"role": "user", "content": "I'm Ana Diaz, zip 10001."},
            assistant(call("c1", "find_user_id_by_name_zip", first_name="Ana", last_name="Dias", zip="10001")),
            result("c1", "Error: user not found"),
            assistant(call("c2", "find_user_id_by_name_zip", first_name="Ana", last_name="Diaz", zip="10001")),
            result("c2", "ana_diaz_1"),
            assistant(call("c3", "modify_pending_order_items", order_id="#W1", item_ids=["1"], new_item_ids=["2"])),
            result("c3", "Error: non-pending order cannot be modified"),
            assistant(content="Sorry, I could not change it."),
        ],
        actions=[],
    )
    triage = run_triage(trace)
    lookup = next(f for f in triage.findings if f.section == section_of(trace, "find_user_id_by_name_zip"))
    assert lookup.recovered_at == section_of(trace, "find_user_id_by_name_zip", 1)
    assert triage.origin is not None and triage.origin.section == section_of(trace, "modify_pending_order_items")
    assert any("recovered failures left aside" in e for e in triage.origin.evidence)


def test_a_recovered_error_is_named_only_when_nothing_later_explains_the_failure() -> None:
    history = {
        "question": "How many frames?",
        "is_correct": False,
        "history": [
            {"role": "assistant", "name": "Video_Expert", "content": "```python\nprint(count_frames())\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 1 (execution failed)\nNameError"},
            {"role": "assistant", "name": "Video_Expert", "content": "```python\nprint(3014)\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n3014"},
            {"role": "assistant", "name": "Video_Expert", "content": "The answer is 3014. TERMINATE"},
        ],
    }
    [trace] = load_history(history)
    origin = origin_of(trace)
    assert origin.basis == "recovered_error" and origin.confidence == "low"
    assert origin.agent == "Video_Expert" and origin.step == 1  # the author of the code that failed


# -- roles ------------------------------------------------------------------------------------------


def tau2(messages: list[dict[str, Any]]) -> Trace:
    data = {
        "info": {},
        "tasks": [{"id": "t1", "evaluation_criteria": {"actions": []}, "user_scenario": {"instructions": "x"}}],
        "simulations": [
            {"id": "s1", "task_id": "t1", "trial": 0, "messages": messages, "reward_info": {"reward": 0.0}}
        ],
    }
    [trace] = load_tau2_bench(data)
    return trace


def test_the_user_simulators_own_tool_calls_are_never_the_agents_loop_or_origin() -> None:
    speed = {"role": "user", "content": None, "tool_calls": [{"id": "u", "name": "run_speed_test", "arguments": {}}]}
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": "Please run a speed test."}]
    for n in range(4):
        messages += [
            {**speed, "tool_calls": [{**speed["tool_calls"][0], "id": f"u{n}"}]},
            {"role": "tool", "id": f"u{n}", "content": "Error: no connection", "error": True},
            {"role": "assistant", "content": "Please try again."},
        ]
    trace = tau2(messages)
    roles = Roles.of(trace)
    speed_runs = [r for r in trace.runs if r.name == "run_speed_test"]
    assert len(speed_runs) == 4 and all(roles.actor(r) == "user" for r in speed_runs)
    triage = run_triage(trace)
    assert not [f for f in triage.findings if f.rule == "repeated_call"]
    assert triage.origin is None  # the agent's own steps hold no failure


def test_an_orchestrators_routing_line_repeated_is_not_a_loop() -> None:
    history = {
        "question": "Where is the nearest dojo?",
        "is_corrected": False,
        "history": [{"role": "human", "content": "Where is the nearest dojo?"}]
        + [
            entry
            for n in range(3)
            for entry in (
                {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
                {"role": "WebSurfer", "content": f"I typed 'dojo near me {n}' into the search bar."},
            )
        ],
    }
    [trace] = load_history(history)
    roles = Roles.of(trace)
    assert [roles.actor(r) for r in trace.runs[1:3]] == ["user", "routing"]
    assert not [f for f in run_triage(trace).findings if f.rule == "repeated_call"]


def test_a_message_repeated_is_a_loop_only_when_its_answer_repeats_too() -> None:
    def scrolling(positions: list[int]) -> Trace:
        history = [{"role": "human", "content": "Which city is on the horizon of the APOD of 2015-08-03?"}]
        for at in positions:
            history += [
                {"role": "Orchestrator (-> WebSurfer)", "content": "Please continue scrolling down the archive."},
                {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
                {"role": "WebSurfer", "content": f"I scrolled down one page. The viewport is {at}% down the page."},
            ]
        [trace] = load_history({"question": history[0]["content"], "is_corrected": False, "history": history})
        return trace

    paging = run_triage(scrolling([10, 20, 30, 40]))
    stuck = run_triage(scrolling([10, 10, 10]))
    assert not [f for f in paging.findings if f.rule == "repeated_call"]
    loops = {f.agent: f for f in stuck.findings if f.rule == "repeated_call"}
    assert set(loops) == {"Orchestrator"}  # the surfer's last report went unanswered: 2 alike, no loop
    loop = loops["Orchestrator"]
    assert loop.section == "R0005"
    assert loop.evidence == "Orchestrator said the same thing 3 times, and got the same answer"
    assert loop.related_sections == ["R0002", "R0005", "R0008"]
    assert loop.explanation == (
        "`Orchestrator` repeated the identical message, and got the same answer, 3 times; nothing changed "
        "between attempts, so the agent is looping."
    )


def agent_turns(turns: list[tuple[str, str]], tail: str | None = None) -> Trace:
    """Agent messages as a span-based producer records them: ``agent`` beside a step ``name``."""
    from tests.builders import TraceBuilder

    b = TraceBuilder("team", outputs={"output": "done"})
    for agent, said in turns:
        b.add(f"{agent.lower()}_step", b.root, "agent", agent=agent, outputs={"content": said})
    if tail is not None:
        b.add("finalize", b.root, "chain", outputs={"output": tail})
    return b.build()


def test_the_first_message_of_a_run_has_its_answer_too() -> None:
    turns = [("Coder", "Run the tests again."), ("Reviewer", "3 tests failed: test_a, test_b, test_c.")] * 3
    [loop] = [f for f in run_triage(agent_turns(turns)).findings if f.rule == "repeated_call" and f.agent == "Coder"]
    assert loop.section == "R0003" and loop.evidence == "Coder said the same thing 3 times, and got the same answer"


def test_a_step_of_another_kind_after_the_messages_leaves_their_answers_as_they_are() -> None:
    turns = [(agent, said) for n in (1, 2, 3) for agent, said in [("Coder", "Next page."), ("Reader", f"Page {n}.")]]
    triage = run_triage(agent_turns(turns, tail="the final answer"))
    assert not [f for f in triage.findings if f.rule == "repeated_call"]  # paging, however the run ends


def test_a_message_loop_is_named_by_its_agent_and_grows_severe_at_five() -> None:
    four = run_triage(agent_turns([("Coder", "Run it."), ("Runner", "exit 1")] * 4))
    five = run_triage(agent_turns([("Coder", "Run it."), ("Runner", "exit 1")] * 5))
    assert [(f.agent, f.severity) for f in four.findings if f.rule == "repeated_call" and f.agent == "Coder"] == [
        ("Coder", "medium")
    ]
    [severe] = [f for f in five.findings if f.rule == "repeated_call" and f.agent == "Coder"]
    assert severe.severity == "high" and severe.evidence.startswith("Coder said the same thing 5 times")


def test_a_tool_or_retriever_loop_names_the_call_and_its_arguments() -> None:
    from tests.builders import TraceBuilder

    for kind in ("tool", "retriever"):
        b = TraceBuilder(outputs={"output": "x"})
        for _ in range(5):
            b.add("search_docs", b.root, kind, inputs={"q": "refund"}, outputs={"documents": []})
        [loop] = [f for f in run_triage(b.build()).findings if f.rule == "repeated_call"]
        assert loop.evidence == 'search_docs({"q": "refund"}) × 5, the same result each time'
        assert loop.severity == "high"
        assert loop.explanation == (
            "`search_docs` repeated the identical call, and got the same result, 5 times; nothing changed "
            "between attempts, so the agent is looping."
        )


def test_a_message_repeated_with_no_one_answering_is_a_loop() -> None:
    page = "Address: https://en.wikipedia.org/wiki/Dragon\nViewport position: Showing page 1 of 43."
    history = [
        {"role": "assistant", "name": "WebServing_Expert", "content": m} for m in ("Task: find it.", page, page, page)
    ]
    [trace] = load_history({"question": "Find it.", "is_corrected": False, "history": history})
    [loop] = [f for f in run_triage(trace).findings if f.rule == "repeated_call"]
    assert loop.evidence == "WebServing_Expert said the same thing 3 times"
    assert "identical message 3 times;" in loop.explanation


def test_a_loop_is_the_same_call_with_the_same_result_not_polling_that_progresses() -> None:
    def transcript(outputs: list[str]) -> Trace:
        messages: list[dict[str, Any]] = [{"role": "user", "content": "Wait for job 9."}]
        for n, out in enumerate(outputs):
            messages += [assistant(call(f"c{n}", "job_status", job="9")), result(f"c{n}", out)]
        [trace] = load_chat({"id": "t", "messages": [*messages, assistant(content="Done.")]})
        return trace

    polling = run_triage(transcript(["queued", "running 40%", "running 80%", "done"]))
    stuck = run_triage(transcript(["queued"] * 4))
    assert not [f for f in polling.findings if f.rule == "repeated_call"]
    assert [f.rule for f in stuck.findings if f.rule == "repeated_call"] == ["repeated_call"]


# -- symptom and cause -----------------------------------------------------------------------------


def cancel_then_modify(actions: list[dict[str, Any]]) -> Trace:
    return tau_record(
        [
            {"role": "user", "content": "Swap the lamp in #W5 for the blue one."},
            assistant(call("c1", "cancel_pending_order", order_id="#W5", reason="ordered by mistake")),
            result("c1", '{"order_id": "#W5", "status": "cancelled"}'),
            assistant(call("c2", "modify_pending_order_items", order_id="#W5", item_ids=["1"], new_item_ids=["2"])),
            result("c2", "Error: non-pending order cannot be modified"),
            assistant(content="I could not change the order."),
        ],
        actions=actions,
    )


def test_a_precondition_error_names_the_earlier_write_that_set_up_that_state() -> None:
    trace = cancel_then_modify(actions=[])
    origin = origin_of(trace)
    assert origin.section == section_of(trace, "cancel_pending_order")
    assert origin.basis == "precondition" and origin.confidence == "medium"
    assert origin.symptom_section == section_of(trace, "modify_pending_order_items")


def test_a_write_the_task_expects_is_no_cause() -> None:
    cancel = {"name": "cancel_pending_order", "kwargs": {"order_id": "#W5", "reason": "ordered by mistake"}}
    trace = cancel_then_modify(actions=[cancel])
    origin = origin_of(trace)
    # The cancel was what should have happened; the modify after it is the departure and the failure.
    assert origin.section == section_of(trace, "modify_pending_order_items")
    assert origin.symptom_section is None and origin.confidence == "high"


# -- expected actions ------------------------------------------------------------------------------


def test_expected_actions_name_the_first_wrong_write_even_with_no_error() -> None:
    expected = [
        {"name": "get_order_details", "kwargs": {"order_id": "#W2"}},
        {"name": "modify_pending_order_items", "kwargs": {"order_id": "#W2", "item_ids": ["1"], "new_item_ids": ["9"]}},
    ]
    trace = tau_record(
        [
            {"role": "user", "content": "Change item 1 of #W2 to the black one."},
            assistant(call("c1", "get_order_details", order_id="#W2")),
            result("c1", '{"order_id": "#W2", "status": "pending"}'),
            assistant(call("c2", "modify_pending_order_items", order_id="#W2", item_ids=["1"], new_item_ids=["8"])),
            result("c2", '{"order_id": "#W2", "status": "pending (item modified)"}'),
            assistant(content="Done, your item was changed."),
        ],
        actions=expected,
    )
    origin = origin_of(trace)
    assert origin.section == section_of(trace, "modify_pending_order_items")
    assert origin.basis == "expected_actions" and origin.confidence == "high"
    finding = next(f for f in run_triage(trace).findings if f.id == origin.finding_id)
    assert finding.evidence == (
        'At state-changing call 1 (R0004) this run called modify_pending_order_items with new_item_ids=["8"]; '
        'the expected actions called it with new_item_ids=["9"] (their state-changing call 1); '
        "item_ids, order_id were the same."
    )


def test_the_summary_keeps_what_was_expected_after_a_long_list_of_what_was_called() -> None:
    from refinery.report.offline import render_offline_report

    ids = [f"{n:010d}" for n in range(1, 5)]
    expected = [{"name": "return_delivered_order_items", "kwargs": {"order_id": "#W2", "item_ids": ids[:1]}}]
    trace = tau_record(
        [
            {"role": "user", "content": "Return the lamp from #W2."},
            assistant(call("c1", "return_delivered_order_items", order_id="#W2", item_ids=ids)),
            result("c1", '{"order_id": "#W2", "status": "return requested"}'),
            assistant(content="Done."),
        ],
        actions=expected,
    )
    summary = next(line for line in render_offline_report(trace, run_triage(trace)).splitlines() if "Summary" in line)
    assert 'the expected actions called it with item_ids=["0000000001"] (their state-changing call 1)' in summary
    assert "(high confidence" in summary


def test_the_summary_counts_runs_that_returned_an_error_beside_those_that_raised_one() -> None:
    from refinery.report.offline import render_offline_report

    trace = cancel_then_modify(actions=[])
    summary = next(line for line in render_offline_report(trace, run_triage(trace)).splitlines() if "Summary" in line)
    assert f"{len(trace.runs)} runs, 0 errored, 1 returned an error as output." in summary
    plain = tau_record([assistant(content="Done.")], actions=[])
    summary = next(line for line in render_offline_report(plain, run_triage(plain)).splitlines() if "Summary" in line)
    assert f"{len(plain.runs)} runs, 0 errored." in summary


def test_a_composite_reward_lowered_by_a_penalty_is_not_a_failure_when_the_task_checks_pass() -> None:
    from refinery.trace.source import SelectionCriteria, verdict_of

    trace = tau_record([assistant(content="Done.")], actions=[], reward=1.0)
    penalised = trace.model_copy(
        update={"feedback": [trace.feedback[0].model_copy(update={"score": 0.83}), *trace.feedback[1:]]}
    )
    verdict = verdict_of(penalised, SelectionCriteria())
    assert verdict.verdict == "passed" and "r_actions 1" in verdict.reasons[0]


# -- wording follows the level ---------------------------------------------------------------------


def report_with(origin: Origin) -> str:
    from refinery.report.offline import render_offline_report

    trace = cancel_then_modify(actions=[])
    triage = run_triage(trace)
    report = TriageReport(
        trace_id=trace.id, findings=triage.findings, origin=origin, runs=len(trace.runs), errored_runs=0, checked=["x"]
    )
    return render_offline_report(trace, report)


@pytest.mark.parametrize(
    ("confidence", "precision", "phrase"),
    [
        ("high", 0.9, "The failure starts at **"),
        ("medium", 0.6, "The failure most likely starts at **"),
        ("low", None, "The failure possibly starts at **"),
        ("low", 0.3, "Triage names no origin step"),
    ],
)
def test_the_report_words_the_origin_by_its_level_and_names_nothing_below_the_floor(
    confidence: str, precision: float | None, phrase: str
) -> None:
    base = origin_of(cancel_then_modify(actions=[]))
    text = report_with(base.model_copy(update={"confidence": confidence, "precision": precision}))
    assert phrase in text
    if precision is not None and precision < 0.5:
        assert "**Origin step:**" not in text and base.section not in text.split("## ")[0]


def test_a_langsmith_reference_trajectory_is_the_expected_actions() -> None:
    # A LangSmith example holding the reference trajectory (chat messages with tool calls), as
    # trajectory evaluators read it: the run's first wrong write is the origin, with no error at all.
    messages = [
        {"role": "user", "content": "Refund booking ABC123."},
        assistant(call("c1", "get_booking", id="ABC123")),
        result("c1", '{"fare": 120}'),
        assistant(call("c2", "issue_refund", id="ABC123", amount=12)),
        result("c2", '{"refunded": 12}'),
        assistant(content="Refunded."),
    ]
    [trace] = load_chat({"id": "refund", "messages": messages})
    reference = {
        "messages": [
            {"role": "user", "content": "Refund booking ABC123."},
            assistant(call("r1", "get_booking", id="ABC123")),
            assistant(call("r2", "issue_refund", id="ABC123", amount=120)),
        ]
    }
    trace = trace.model_copy(update={"reference_outputs": reference})
    origin = origin_of(trace)
    assert origin.section == section_of(trace, "issue_refund") and origin.basis == "expected_actions"
    finding = next(f for f in run_triage(trace).findings if f.id == origin.finding_id)
    assert "with amount=12; the expected actions called it with amount=120" in finding.evidence
