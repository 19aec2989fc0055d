"""Whose step each run is (``trace/roles.py``), which failures the run got past (``triage/recovery.py``)
and which earlier write a precondition error points back to (``triage/cause.py``): the three readings
the origin stands on, each principle on a small trace built with ``TraceBuilder`` or read from a
Who&When-shaped log."""

from __future__ import annotations

from typing import Any

import pytest

from refinery.trace.files.chat import load_history
from refinery.trace.model import Trace
from refinery.trace.roles import Roles, exit_code
from refinery.triage.cause import precondition_cause
from refinery.triage.classify import new_finding
from refinery.triage.model import Finding
from refinery.triage.recovery import mark_recoveries
from tests.builders import TraceBuilder


def history(entries: list[dict[str, Any]]) -> Trace:
    [trace] = load_history({"question": "How many rows?", "is_correct": False, "history": entries})
    return trace


def failure(trace: Trace, step: int, rule: str = "run_error", **fields: Any) -> Finding:
    run = next(r for r in trace.runs if r.order == step)
    return new_finding(
        run, rule=rule, category="Tool Execution Error", severity="high", evidence="x", explanation="", **fields
    )


# --- roles


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("exitcode: 0 (execution succeeded)\n41", 0),
        ("exitcode: 1 (execution failed)\nNameError", 1),
        ("Exit code: 137", 137),
        ("return code = 2", 2),
        ("exit status 0", 0),
        ("return code=2 after 3 s", 2),
        ("The exit code was 1", None),  # a sentence about it is no report
    ],
)
def test_an_execution_report_states_its_exit_code(text: str, code: int | None) -> None:
    trace = history([{"role": "user", "name": "Computer_terminal", "content": text}])
    assert exit_code(trace.runs[1]) == code


def test_a_speaker_most_of_whose_messages_report_exit_codes_is_the_environment() -> None:
    report = {"role": "user", "name": "Runner", "content": "exitcode: 0 (execution succeeded)\nok"}
    said = {"role": "user", "name": "Runner", "content": "Running the code you gave me now, please wait."}
    half = history([report, said, report, said])  # 2 of 4: half are reports
    assert Roles.of(half).actor(half.runs[1]) == "environment"
    once = history([report, said])  # one report is not enough to call it an executor
    assert Roles.of(once).actor(once.runs[1]) == "agent"
    fewer = history([report, said, report, said, said])  # 2 of 5: fewer than half
    assert Roles.of(fewer).actor(fewer.runs[1]) == "agent"


def test_a_routing_line_may_hold_four_words_besides_the_agent_it_names() -> None:
    def actor_of(line: str) -> str:
        trace = history(
            [
                {"role": "assistant", "name": "Planner", "content": line},
                {"role": "assistant", "name": "Coder", "content": "Here is the code for the rows count."},
            ]
        )
        return Roles.of(trace).actor(trace.runs[1])

    assert actor_of("Next speaker: Coder") == "routing"
    assert actor_of("Coder, please go on now") == "routing"  # the agent and four words
    assert actor_of("Coder, please go on right now") == "agent"  # five words besides
    assert actor_of("") == "agent"


def test_a_person_whatever_the_case_of_its_name_is_the_user_and_what_it_calls_is_its_own() -> None:
    b = TraceBuilder("episode")
    user = b.add("Human", b.root, "agent", agent="Human", outputs={"content": "My internet is slow, help me."})
    b.add("run_speed_test", user, "tool", outputs={"mbps": 3})
    b.add("Support", b.root, "agent", agent="Support", outputs={"content": "Let me check your line settings."})
    trace = b.build()
    roles = Roles.of(trace)
    assert [roles.actor(r) for r in trace.runs[1:]] == ["user", "user", "agent"]
    assert roles.actor(trace.runs[0]) == "agent"
    stranger = trace.runs[1].model_copy(update={"id": "not-in-this-trace"})
    assert roles.actor(stranger) == "agent"  # a run read from elsewhere is the system's by default


# --- recovery


def test_a_tool_failure_is_recovered_by_the_same_tool_succeeding_later_not_by_another() -> None:
    b = TraceBuilder("agent")
    b.add("get_user", b.root, "tool", error="KeyError: user not found")
    b.add("search", b.root, "tool", outputs={"hits": 1})
    b.add("get_user", b.root, "tool", outputs={"id": 7})
    b.add("cancel_order", b.root, "tool", error="ToolError: order is not pending")
    b.add("send_email", b.root, "tool", outputs={"ok": True})
    trace = b.build()
    marked = mark_recoveries(trace, [failure(trace, 1), failure(trace, 4)], Roles.of(trace))
    assert [f.recovered_at for f in marked] == ["R0003", None]


def test_a_propagated_failure_and_a_finding_of_another_rule_are_never_marked() -> None:
    b = TraceBuilder("agent")
    b.add("get_user", b.root, "tool", error="KeyError: user not found")
    b.add("get_user", b.root, "tool", outputs={"id": 7})
    trace = b.build()
    findings = [failure(trace, 1, role="propagated"), failure(trace, 1, rule="repeated_call")]
    assert [f.recovered_at for f in mark_recoveries(trace, findings, Roles.of(trace))] == [None, None]


def test_a_retry_that_failed_too_recovers_nothing_and_a_pending_call_is_no_success() -> None:
    b = TraceBuilder("agent")
    b.add("get_user", b.root, "tool", error="KeyError: user not found")
    b.add("get_user", b.root, "tool", outputs={"error": "user not found"})
    b.add("get_user", b.root, "tool", status="pending")
    trace = b.build()
    findings = [failure(trace, 1), failure(trace, 2, rule="tool_output_error")]
    assert [f.recovered_at for f in mark_recoveries(trace, findings, Roles.of(trace))] == [None, None]


def test_a_model_call_is_recovered_by_the_same_model_answering_later() -> None:
    b = TraceBuilder("agent")
    b.add("ChatOpenAI", b.root, "llm", model="gpt-4.1", error="APITimeoutError")
    b.add("ChatOpenAI", b.root, "llm", model="gpt-4.1-mini", outputs={"content": "hi"})
    b.add("ChatOpenAI", b.root, "llm", model="gpt-4.1", outputs={"content": "hello"})
    trace = b.build()
    [marked] = mark_recoveries(trace, [failure(trace, 1)], Roles.of(trace))
    assert marked.recovered_at == "R0003"  # not the other model at R0002


def test_code_that_failed_is_recovered_when_the_executor_later_exits_zero_not_when_an_agent_talks() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Code_Expert", "content": "```python\nprint(rows)\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 1 (execution failed)\nNameError"},
            {"role": "assistant", "name": "Code_Expert", "content": "Sorry, I fix the name and run it again now."},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 1 (execution failed)\nTypeError"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\n41"},
        ]
    )
    roles = Roles.of(trace)
    [first] = mark_recoveries(trace, [failure(trace, 2)], roles)
    assert first.recovered_at == "R0005"  # the exit-1 report at R0004 is no success
    trace_no_zero = history(
        [
            {"role": "assistant", "name": "Code_Expert", "content": "```python\nprint(rows)\n```"},
            {"role": "user", "name": "Computer_terminal", "content": "exitcode: 1 (execution failed)\nNameError"},
            {"role": "user", "name": "Computer_terminal", "content": "I ran nothing more for you."},
        ]
    )
    [none] = mark_recoveries(trace_no_zero, [failure(trace_no_zero, 2)], Roles.of(trace_no_zero))
    assert none.recovered_at is None  # an executor message with no exit code is no success


# --- cause


def orders(*calls: tuple[str, dict[str, Any], str | None]) -> Trace:
    b = TraceBuilder("agent")
    for name, inputs, error in calls:
        b.add(name, b.root, "tool", inputs=inputs, error=error, outputs=None if error else {"ok": True})
    return b.build()


def cause_of(trace: Trace, step: int) -> int | None:
    failed = next(r for r in trace.runs if r.order == step)
    found = precondition_cause(trace, failed, Roles.of(trace))
    return found.order if found is not None else None


def test_a_precondition_error_points_to_the_latest_earlier_write_that_touched_the_same_thing() -> None:
    trace = orders(
        ("update_address", {"order_id": "#W100"}, None),
        ("cancel_order", {"order_id": "#W100", "reason": "no longer needed"}, None),
        ("update_address", {"order_id": "#W200"}, None),
        ("modify_order", {"order_id": "#W100"}, "ToolError: order is not pending, cannot be modified"),
    )
    assert cause_of(trace, 4) == 2


@pytest.mark.parametrize(
    "error",
    ["ToolError: rate limit exceeded", "ToolError: timeout after 30 s", "ToolError: 500 internal"],
)
def test_an_error_that_states_no_precondition_has_no_cause_behind_it(error: str) -> None:
    trace = orders(("cancel_order", {"order_id": "#W100"}, None), ("modify_order", {"order_id": "#W100"}, error))
    assert cause_of(trace, 2) is None


def test_a_precondition_error_in_a_tools_output_counts_like_a_raised_one() -> None:
    b = TraceBuilder("agent")
    b.add("cancel_order", b.root, "tool", inputs={"order_id": "#W100"}, outputs={"ok": True})
    b.add("modify_order", b.root, "tool", inputs={"order_id": "#W100"}, outputs={"output": "Error: already cancelled"})
    b.add("note", b.root, "tool", inputs={"order_id": "#W100"}, outputs={"content": ["not a string"]})
    trace = b.build()
    assert (cause_of(trace, 2), cause_of(trace, 3)) == (1, None)
    c = TraceBuilder("agent")
    c.add("cancel_order", c.root, "tool", inputs={"order_id": "#W100"}, outputs={"ok": True})
    c.add("refund", c.root, "tool", inputs={"order_id": "#W100"}, outputs={"content": "Error: not allowed"})
    assert cause_of(c.build(), 2) == 1


def test_reads_failed_writes_retries_and_values_too_short_to_identify_a_thing_are_no_cause() -> None:
    trace = orders(
        ("cancel_order", {"order_id": "#W100", "n": 1}, "ToolError: timeout"),
        ("get_order", {"order_id": "#W100"}, None),
        ("modify_order", {"order_id": "#W100", "flag": True, "n": 1}, "ToolError: order is not pending"),
        ("modify_order", {"order_id": "#W100", "flag": True, "n": 1}, "ToolError: order is not pending"),
        ("set_flag", {"flag": True, "n": 1, "tags": ["ab"]}, None),
        ("modify_item", {"n": 1, "tags": ["ab"], "flag": True}, "ToolError: item not found"),
    )
    assert cause_of(trace, 4) is None  # the failed cancel, the read and the retry of itself are no cause
    assert cause_of(trace, 6) is None  # 1, True and "ab" identify nothing


def test_a_value_shared_deep_in_the_arguments_identifies_the_thing() -> None:
    trace = orders(
        ("cancel_order", {"order": {"ids": ["#W100"]}}, None),
        ("modify_order", {"request": [{"order_id": "#W100"}]}, "ToolError: order is not pending"),
    )
    assert cause_of(trace, 2) == 1


def test_a_precondition_error_of_a_model_call_is_not_traced_back() -> None:
    b = TraceBuilder("agent")
    b.add("cancel_order", b.root, "tool", inputs={"order_id": "#W100"}, outputs={"ok": True})
    b.add("ChatOpenAI", b.root, "llm", inputs={"order_id": "#W100"}, error="BadRequest: invalid order #W100")
    trace = b.build()
    assert cause_of(trace, 2) is None


def test_a_write_whose_output_reported_an_error_changed_nothing_and_is_no_cause() -> None:
    from refinery.triage import run_triage

    b = TraceBuilder("agent")
    b.add("cancel_order", b.root, "tool", inputs={"order_id": "#W100"}, outputs={"ok": True})
    b.add("modify_order", b.root, "tool", inputs={"order_id": "#W100"}, outputs={"error": "Error: order is locked"})
    b.add("modify_order", b.root, "tool", inputs={"order_id": "#W200"}, outputs={"ok": True})  # the run got past it
    b.add("refund", b.root, "tool", inputs={"order_id": "#W100"}, error="ToolError: refund not allowed for #W100")
    trace = b.build()
    triage = run_triage(trace)
    output_error = next(f for f in triage.findings if f.rule == "tool_output_error")
    assert output_error.step == 2 and output_error.recovered_at == "R0003"  # the rules saw it fail, then recover
    origin = triage.origin
    assert origin is not None and (origin.step, origin.basis, origin.symptom_section) == (1, "precondition", "R0004")
    assert cause_of(trace, 4) == 2  # without the findings it would have been the failed modify


def test_what_an_executor_or_an_evaluator_calls_is_the_environments_too() -> None:
    b = TraceBuilder("episode")
    grader = b.add("grader", b.root, "chain", actor="environment")
    b.add("check_db", grader, "tool", outputs={"ok": False})
    b.add("cancel_order", b.root, "tool", outputs={"ok": True})
    trace = b.build()
    assert [Roles.of(trace).actor(r) for r in trace.runs[1:]] == ["environment", "environment", "agent"]


def test_a_tool_run_named_after_a_person_is_still_the_agents() -> None:
    b = TraceBuilder("agent")
    b.add("user", b.root, "tool", agent="User", outputs={"ok": True})
    trace = b.build()
    assert Roles.of(trace).actor(trace.runs[1]) == "agent"


def test_two_failures_under_one_failed_parent_each_start_a_chain_and_the_parent_is_counted_once() -> None:
    from refinery.triage.origin import error_chains

    b = TraceBuilder("agent", error="ToolError: both failed")
    step = b.add("plan_step", b.root, "chain", error="ToolError: both failed")
    b.add("search", step, "tool", error="ToolError: 500")
    b.add("fetch", step, "tool", error="ToolError: 404")
    trace = b.build()
    chains = error_chains(trace)
    assert [c.leaf.name for c in chains] == ["search", "fetch"]
    assert [[r.name for r in c.propagated] for c in chains] == [["plan_step", "agent"], []]


def test_an_executors_own_tool_calls_do_not_dilute_its_reports() -> None:
    b = TraceBuilder("chat")
    for n in range(2):
        b.add("Runner", b.root, "agent", agent="Runner", outputs={"content": f"exitcode: 0 (execution succeeded)\n{n}"})
        b.add("bash", b.root, "tool", agent="Runner", outputs={"content": "listing files"})
    b.add("bash", b.root, "tool", agent="Runner", outputs={"content": "listing more files"})
    trace = b.build()
    assert Roles.of(trace).actor(trace.runs[1]) == "environment"  # 2 of its 2 messages report exit codes


def test_a_tool_that_reports_exit_code_zero_recovers_the_same_tools_failure_and_one_that_reports_one_does_not() -> None:
    for later, recovered in (("exitcode: 0\nok", "R0002"), ("exitcode: 1\nfailed", None)):
        b = TraceBuilder("agent")
        b.add("bash", b.root, "tool", error="CalledProcessError: exit 2")
        b.add("bash", b.root, "tool", outputs={"content": later})
        trace = b.build()
        [marked] = mark_recoveries(trace, [failure(trace, 1)], Roles.of(trace))
        assert marked.recovered_at == recovered


def test_a_success_the_rules_flagged_for_something_else_still_recovers() -> None:
    b = TraceBuilder("agent")
    b.add("get_user", b.root, "tool", error="KeyError: user not found")
    b.add("get_user", b.root, "tool", outputs={"id": 7}, ms=90_000)
    trace = b.build()
    slow = failure(trace, 2, rule="latency_outlier")
    marked = mark_recoveries(trace, [failure(trace, 1), slow], Roles.of(trace))
    assert marked[0].recovered_at == "R0002"


def test_an_agent_speaking_again_does_not_recover_its_own_broken_message() -> None:
    trace = history(
        [
            {"role": "assistant", "name": "Planner", "content": '{"plan": ["count the rows"'},
            {"role": "assistant", "name": "Planner", "content": "Let me restate the plan in plain words now."},
        ]
    )
    [marked] = mark_recoveries(trace, [failure(trace, 1, rule="invalid_json")], Roles.of(trace))
    assert marked.recovered_at is None


def test_reads_failed_writes_and_unrelated_writes_between_the_cause_and_the_symptom_are_stepped_over() -> None:
    trace = orders(
        ("cancel_order", {"order_id": "#W100"}, None),
        ("update_address", {"order_id": "#W100"}, "ToolError: timeout"),
        ("get_order", {"order_id": "#W100"}, None),
        ("update_address", {"order_id": "#W300"}, None),
        ("modify_order", {"order_id": "#W100"}, "ToolError: order is not pending"),
    )
    assert cause_of(trace, 5) == 1


def test_the_same_call_made_before_is_a_retry_not_a_cause_and_is_stepped_over() -> None:
    trace = orders(
        ("cancel_order", {"order_id": "#W100"}, None),
        ("modify_order", {"order_id": "#W100"}, None),
        ("modify_order", {"order_id": "#W100"}, "ToolError: order is not pending"),
    )
    assert cause_of(trace, 3) == 1


def test_a_retrieval_whose_error_states_a_precondition_is_traced_back_too() -> None:
    b = TraceBuilder("agent")
    b.add("delete_doc", b.root, "tool", inputs={"doc_id": "D-100"}, outputs={"ok": True})
    b.add("fetch_doc", b.root, "retriever", inputs={"doc_id": "D-100"}, error="NotFound: no such document D-100")
    assert cause_of(b.build(), 2) == 1


def test_a_write_the_rules_flagged_for_something_else_is_still_a_cause() -> None:
    from refinery.triage.origin import choose_origin

    trace = orders(
        ("cancel_order", {"order_id": "#W100"}, None),
        ("modify_order", {"order_id": "#W100"}, "ToolError: order is not pending"),
    )
    slow = failure(trace, 1, rule="latency_outlier")
    origin = choose_origin(trace, [slow, failure(trace, 2)], Roles.of(trace))
    assert origin is not None and (origin.step, origin.basis) == (1, "precondition")
