"""Which hunk of a pull request is claimed, at the edges of the claim (changes/rank.py): a score at the
learned threshold and just under it, ties, and a best hunk with no evidence."""

from __future__ import annotations

import pytest

from refinery.changes import rank
from refinery.changes.diff import read_unified_diff
from refinery.changes.rank import band_of, rank_changes, thresholds, trace_usage
from refinery.pipeline import prepare
from refinery.trace.model import Feedback
from tests.builders import TraceBuilder

PROMPT = (
    "You are the airline's support agent.\n"
    "Before calling cancel_reservation, confirm the cancellation reason with the user.\n"
    "Never cancel a basic economy reservation that is older than 24 hours.\n"
    "Answer briefly."
)


def usage(*, refused: bool = True) -> rank.Usage:
    """The agent cancelled a reservation the policy protects. ``refused``: the tool said so (the
    action and the values it got wrong are known); else only the evaluator's comment says it."""
    builder = TraceBuilder("agent", inputs={"task": "cancel reservation ZFA04Y"})
    builder.llm(builder.root, None, system=PROMPT)
    outcome = (
        {"error": "PolicyError: basic economy reservation older than 24 hours cannot be cancelled"}
        if refused
        else {"outputs": {"output": "cancelled"}}
    )
    builder.add(
        "cancel_reservation", builder.root, "tool", inputs={"arguments": {"reservation_id": "ZFA04Y"}}, **outcome
    )
    builder.llm(builder.root, "Your reservation is cancelled.", system=PROMPT)
    comment = "cancelled a basic economy reservation older than 24 hours"
    trace = builder.build([Feedback(key="correctness", score=0.0, comment=comment)])
    prepared = prepare(trace)
    return trace_usage(prepared.trace, prepared.triage)


def diff(*files: tuple[str, str]) -> str:
    return "".join(f"diff --git a/{p} b/{p}\n--- a/{p}\n+++ b/{p}\n{body}" for p, body in files)


RULE_REMOVED = (
    "prompts/agent.md",
    "@@ -2,3 +2,2 @@\n Before calling cancel_reservation, confirm the cancellation reason with the user.\n"
    "-Never cancel a basic economy reservation that is older than 24 hours.\n Answer briefly.\n",
)
README_FIX = ("README.md", "@@ -1 +1 @@\n-# Airline agnet\n+# Airline agent\n")


def test_a_score_at_the_threshold_is_claimed_and_just_under_it_is_not() -> None:
    likely = thresholds()["likely"]
    assert likely is not None
    assert band_of(likely) == "likely"
    assert band_of(round(likely - 0.001, 3)) in ("possible", "none")
    possible = thresholds()["possible"]
    assert possible is not None and band_of(round(possible - 0.001, 3)) == "none"


def test_the_bands_follow_the_learned_thresholds_and_no_threshold_claims_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rank, "thresholds", lambda: {"likely": 0.6, "possible": 0.3})
    assert [band_of(s) for s in (0.6, 0.599, 0.3, 0.299)] == ["likely", "possible", "possible", "none"]
    monkeypatch.setattr(rank, "thresholds", lambda: {"likely": None, "possible": None})
    assert band_of(1.0) == "none"


def test_the_removed_rule_is_claimed_and_the_readme_fix_is_not() -> None:
    ranked = rank_changes(read_unified_diff(diff(README_FIX, RULE_REMOVED), "d"), usage())
    best, other = ranked
    assert best.path == "prompts/agent.md" and best.band == "likely"
    assert best.start_line == 3 and best.removed == [RULE_REMOVED[1].splitlines()[2][1:]]
    assert "names what it got wrong: basic, economy, hours, older" in best.reason
    assert other.path == "README.md" and other.band == "none" and other.score < best.score
    assert "touches nothing the trace used" in other.reason


def test_only_the_best_hunk_is_claimed_even_when_another_has_evidence() -> None:
    weaker = (
        "prompts/notes.md",
        "@@ -1 +1,2 @@\n Notes\n+A basic reservation is the cheapest fare.\n",
    )
    ranked = rank_changes(read_unified_diff(diff(weaker, RULE_REMOVED), "d"), usage())
    assert ranked[0].path == "prompts/agent.md" and ranked[0].band == "likely"
    assert all(s.band == "none" for s in ranked[1:])


def test_hunks_that_tie_are_claimed_together_and_name_each_other() -> None:
    twin = ("prompts/agent_v2.md", RULE_REMOVED[1])
    ranked = rank_changes(read_unified_diff(diff(RULE_REMOVED, twin), "d"), usage())
    assert [s.band for s in ranked] == ["likely", "likely"]
    assert ranked[0].tied_with == [ranked[1].change_id] and ranked[1].tied_with == [ranked[0].change_id]


def test_a_pull_request_touching_nothing_used_claims_nothing() -> None:
    ranked = rank_changes(read_unified_diff(diff(README_FIX), "d"), usage())
    assert [s.band for s in ranked] == ["none"] and ranked[0].tied_with == []
    assert rank_changes(read_unified_diff("", "d"), usage()) == []


def test_the_evaluators_words_alone_score_just_under_the_claim_and_name_no_suspect() -> None:
    ranked = rank_changes(read_unified_diff(diff(README_FIX, RULE_REMOVED), "d"), usage(refused=False))
    best = ranked[0]
    likely = thresholds()["likely"]
    assert best.path == "prompts/agent.md" and best.evidence  # ranked first, with what it matched
    assert likely is not None and likely - 0.1 < best.score < likely
    assert best.band == "none"  # below the calibrated band: ranked, not blamed


def _used_by(ranked: list[rank.Suspect], path: str) -> rank.Suspect:
    return next(s for s in ranked if s.path == path)


def test_a_config_change_to_the_model_or_its_parameters_and_an_eval_file_change_are_used() -> None:
    builder = TraceBuilder(
        "agent",
        inputs={"task": "cancel reservation ZFA04Y"},
        metadata={"test_file": "./evals/test_cancel.py::test_one"},
    )
    builder.llm(builder.root, None, system=PROMPT, model="gpt-4.1")
    builder.add(
        "cancel_reservation",
        builder.root,
        "tool",
        inputs={"arguments": {"reservation_id": "ZFA04Y"}},
        error="PolicyError",
    )
    prepared = prepare(builder.build())
    used = trace_usage(prepared.trace, prepared.triage)
    assert used.models == {"gpt-4.1"} and used.eval_files == {"evals/test_cancel.py"}
    changes = diff(
        ("config/agent.yaml", "@@ -1,2 +1,2 @@\n-model: gpt-4.1\n+model: gpt-4.1-mini\n temperature: 0\n"),
        ("config/limits.yaml", "@@ -1 +1 @@\n-temperature: 0\n+temperature: 1\n"),
        ("config/other.yaml", "@@ -1 +1 @@\n-retries: 1\n+retries: 2\n"),
        ("evals/test_cancel.py", "@@ -1 +1 @@\n-assert refused\n+assert refused or cancelled\n"),
        ("docs/model.md", "@@ -1 +1 @@\n-gpt-4.1 is used\n+gpt-4.1-mini is used\n"),
    )
    ranked = rank_changes(read_unified_diff(changes, "d"), used)
    assert _used_by(ranked, "config/agent.yaml").used == ["model"]
    assert "changes the model or its parameters" in _used_by(ranked, "config/agent.yaml").reason
    assert _used_by(ranked, "config/limits.yaml").used == ["model"]  # a parameter, in a config file
    assert _used_by(ranked, "config/other.yaml").used == []
    assert _used_by(ranked, "evals/test_cancel.py").used == ["eval file"]
    assert "changes the eval file" in _used_by(ranked, "evals/test_cancel.py").reason
    assert _used_by(ranked, "docs/model.md").used == []  # a model named in prose is not its configuration


def test_a_changed_line_of_a_tool_description_touches_that_tool() -> None:
    builder = TraceBuilder("agent", inputs={"task": "cancel reservation ZFA04Y"})
    tools = [
        {
            "type": "function",
            "function": {
                "name": "cancel_reservation",
                "description": "Cancel a reservation by its id, if policy allows.",
            },
        }
    ]
    builder.add("model", builder.root, "llm", inputs={"messages": [], "tools": tools}, outputs={"output": "ok"})
    builder.add("cancel_reservation", builder.root, "tool", inputs={"arguments": {"reservation_id": "Z"}}, error="x")
    prepared = prepare(builder.build())
    used = trace_usage(prepared.trace, prepared.triage)
    assert used.tool_text == {"cancel a reservation by its id, if policy allows.": "cancel_reservation"}
    changes = diff(
        (
            "tools/cancel.py",
            '@@ -1 +1 @@\n-"Cancel a reservation by its id, if policy allows."\n+"Cancel a reservation."\n',
        )
    )
    [suspect] = rank_changes(read_unified_diff(changes, "d"), used)
    assert suspect.used == ["tool cancel_reservation"]


def _shop_usage(failure_output: str) -> rank.Usage:
    builder = TraceBuilder("agent", inputs={"task": "modify order 12"})
    builder.llm(
        builder.root, None, system="You are the shop agent.\nModify only pending orders; never touch delivered ones."
    )
    details = {"arguments": {"order_id": "12"}}
    builder.add(
        "get_order_details", builder.root, "tool", inputs=details, outputs={"output": '{"status": "delivered"}'}
    )
    builder.add("modify_pending_order_items", builder.root, "tool", inputs=details, outputs={"output": failure_output})
    builder.add("cancel_pending_order", builder.root, "tool", inputs=details, outputs={"output": "kept"})
    builder.llm(builder.root, "Done.", system="You are the shop agent.")
    feedback = [
        Feedback(key="correctness", score=0.5, comment="modified a delivered order"),
        Feedback(key="style", score=1.0, comment="polite tone"),
        Feedback(key="reward", score=0.0, comment="composite of the checks", composed=True),
    ]
    trace = builder.build(feedback)
    expected = {"answer": "refund_amount 397", "actions": [{"name": "exchange_delivered_order_items", "kwargs": {}}]}
    prepared = prepare(trace.model_copy(update={"reference_outputs": expected}))
    return trace_usage(prepared.trace, prepared.triage)


def test_the_failures_own_words_come_from_the_failing_call_the_evaluator_and_what_was_expected() -> None:
    usage = _shop_usage("Error: non-pending order cannot be modified")
    assert {"modify", "item", "pend"} <= usage.action and "modify" in usage.verbs
    assert {"non", "pend", "cannot"} <= usage.values  # what the tool said went wrong
    assert "exchang" in usage.verbs  # the expected action it did not take
    assert usage.said == {"modify", "deliver", "order"}  # a failing score's comment; not a passing or composed one
    assert usage.expected == {"refund", "amount"}  # the expected answer; the actions speak through the departure
    assert usage.other_verbs == {"cancel"}  # the other write tool; reads (get_) are not verbs that change state
    quiet = _shop_usage("Items modified.")
    assert not ({"non", "cannot"} & quiet.values)  # an output that reports no failure is not the failure's words
    spaced = _shop_usage("   EXCEPTION raised: order locked")
    assert "lock" in spaced.values


def test_expected_values_keep_their_own_letters() -> None:
    builder = TraceBuilder("agent", inputs={"task": "find the office"})
    builder.llm(builder.root, "It is in Basel.", system=PROMPT)
    trace = builder.build([Feedback(key="correctness", score=0.0)])
    prepared = prepare(trace.model_copy(update={"reference_outputs": {"answer": {"city": "Zürich"}}}))
    assert "zürich" in trace_usage(prepared.trace, prepared.triage).expected  # not "z\\u00fcrich"


def test_each_hunk_says_in_words_what_it_touched_of_the_trace_and_of_the_failure() -> None:
    reworded = (
        "prompts/agent.md",
        "@@ -3 +3 @@\n-Never cancel a basic economy reservation that is older than 24 hours.\n"
        "+Never cancel a basic economy reservation that is older than 48 hours.\n",
    )
    changes = read_unified_diff(diff(RULE_REMOVED, reworded, README_FIX), "d")
    reasons = {s.path + s.change_id: s.reason for s in rank_changes(changes, usage())}
    removed, changed, readme = (reasons[k] for k in sorted(reasons, key=lambda k: k[-3:]))
    assert removed.startswith("removed lines from the prompt the trace used (P01)")
    assert changed.startswith("changed lines in the prompt the trace used (P01)")
    assert (
        readme.startswith("touches nothing the trace used") and "its words match nothing of what went wrong" in readme
    )


@pytest.mark.parametrize("key", ["test_file", "eval_file", "ls_test_file", "test_path", "eval_path", "file"])
def test_the_eval_file_is_read_from_each_key_producers_write_it_under(key: str) -> None:
    builder = TraceBuilder("agent", inputs={"task": "x"})
    builder.llm(builder.root, "done", system=PROMPT)
    trace = builder.build([Feedback(key="correctness", score=0.0)])
    trace = trace.model_copy(update={"metadata": {key: "./tests/evals/test_agent.py::test_refund[case 3]"}})
    prepared = prepare(trace)
    assert trace_usage(prepared.trace, prepared.triage).eval_files == {"tests/evals/test_agent.py"}


def _prompt_usage(system: str) -> rank.Usage:
    """A trace that ran ``system`` as its prompt and failed on a call nobody's words describe."""
    builder = TraceBuilder("agent", inputs={"task": "x"})
    builder.llm(builder.root, None, system=system)
    builder.add("lookup", builder.root, "tool", inputs={"arguments": {"q": "x"}}, error="boom")
    prepared = prepare(builder.build())
    return trace_usage(prepared.trace, prepared.triage)


def _used_of(usage: rank.Usage, path: str, body: str) -> list[str]:
    [suspect] = rank_changes(read_unified_diff(diff((path, body)), "d"), usage)
    return suspect.used


def test_a_prompt_line_written_as_a_template_is_the_line_the_trace_rendered_from_it() -> None:
    used = _prompt_usage(
        "Before calling cancel_reservation, confirm the cancellation reason with Alice Smith.\n"
        "Never cancel a basic economy reservation that is older than 24 hours."
    )
    template = "Before calling cancel_reservation, confirm the cancellation reason with {customer}."
    # The code holds the template; the trace holds what it rendered. Alike enough: the same line.
    assert _used_of(used, "prompts/agent.py", f"@@ -1 +1 @@\n-{template}\n+{template} Be brief.\n")[0] == (
        "system prompt P01"
    )
    # Sharing the word "cancel" with both lines is not being one of them.
    assert _used_of(used, "prompts/agent.py", "@@ -1 +1 @@\n-Cancel when asked to.\n+Cancel when told to.\n") == []


def test_a_long_templated_rule_is_matched_whatever_its_characters_repeat() -> None:
    rule = (
        "When {customer} asks to change a flight, first read the reservation, then check that the new flight "
        "departs after {now}, that the cabin class stays the same, and that the customer agrees to pay {fare} "
        "before you call update_reservation_flights."
    )
    assert len(rule) > 200  # difflib's autojunk would drop the letters that repeat most in a line this long
    rendered = rule.format(customer="Alice Smith", now="2024-05-15 15:00", fare="$120")
    used = _prompt_usage("You are the airline agent.\n" + rendered)
    assert _used_of(used, "prompts/agent.py", f"@@ -1 +1 @@\n-{rule}\n+{rule} Always.\n")[0] == "system prompt P01"


def test_the_shortest_prompt_lines_that_count_are_twelve_characters() -> None:
    used = _prompt_usage("You are the shop agent of ACME.\nBe very kind\nNo refunds.")
    assert _used_of(used, "p.md", "@@ -2 +1,0 @@\n-Be very kind\n")[0] == "system prompt P01"
    assert _used_of(used, "p.md", "@@ -3 +3 @@\n-No refunds.\n+No refund.\n") == []  # 11: too short to tell


def test_a_sentence_of_a_prompt_kept_on_one_line_is_found_from_twenty_characters() -> None:
    used = _prompt_usage("You are the shop agent. Refund no gift card. Offer store credit instead when asked.")
    sentence = "Refund no gift card."
    assert len(sentence) == 20
    assert _used_of(used, "p.py", f"@@ -1 +1 @@\n-{sentence}\n+Refund gift cards.\n") == ["system prompt P01"]
    assert _used_of(used, "p.py", "@@ -1 +1 @@\n-Offer store credit\n+Offer a refund\n") == []  # 18 characters


def test_a_prompt_line_that_names_a_tool_is_both_and_stays_a_prompt_line() -> None:
    used = _prompt_usage("You are the agent.\nAlways call lookup before you answer any question.")
    [suspect] = rank_changes(
        read_unified_diff(diff(("p.md", "@@ -2 +1,0 @@\n-Always call lookup before you answer any question.\n")), "d"),
        used,
    )
    assert suspect.used == ["system prompt P01", "tool lookup"]
    assert suspect.reason.startswith("removed lines from the prompt the trace used (P01); touches the tool lookup")
    assert suspect.score == rank.BASE["prompt"]  # a prompt line's worth, not a tool's: its words are not evidence


def test_a_tool_named_in_camel_case_is_found_in_the_changed_code() -> None:
    builder = TraceBuilder("agent", inputs={"task": "x"})
    builder.add("GetWeather", builder.root, "tool", inputs={"arguments": {"city": "Bern"}}, error="timeout")
    prepared = prepare(builder.build())
    used = trace_usage(prepared.trace, prepared.triage)
    assert _used_of(used, "tools.py", "@@ -1 +1 @@\n-class GetWeather:\n+class GetWeather(Tool):\n") == [
        "tool GetWeather"
    ]


def test_a_rule_taken_out_is_worse_than_one_reworded_only_when_it_is_about_the_failure() -> None:
    unrelated = "Greet the customer by their first name."
    system = PROMPT + "\n" + unrelated
    builder = TraceBuilder("agent", inputs={"task": "cancel reservation ZFA04Y"})
    builder.llm(builder.root, None, system=system)
    builder.add("cancel_reservation", builder.root, "tool", inputs={"arguments": {"reservation_id": "Z"}}, error="x")
    prepared = prepare(builder.build([Feedback(key="correctness", score=0.0, comment="cancelled a basic economy")]))
    used = trace_usage(prepared.trace, prepared.triage)
    removed, reworded = (
        rank_changes(read_unified_diff(diff(("p.md", f"@@ -5 +5{tail} @@\n-{unrelated}\n{added}")), "d"), used)[0]
        for tail, added in ((",0", ""), ("", "+Greet the customer by name.\n"))
    )
    assert not removed.evidence and removed.score == reworded.score == rank.BASE["prompt"]


def test_a_suspect_shows_its_first_three_lines_each_way_and_scores_at_most_one() -> None:
    lines = [f'refuse(cancel_reservation, "ZFA04Y", fare="basic economy", hours={n})' for n in (24, 25, 26, 27)]
    body = "@@ -1,4 +1,4 @@\n" + "".join(f"-{line}\n" for line in lines) + "".join(f"+{line}!\n" for line in lines)
    comment = "cancelled a basic economy reservation older than 24 hours; ZFA04Y is protected"
    builder = TraceBuilder("agent", inputs={"task": "cancel reservation ZFA04Y"})
    builder.llm(builder.root, None, system="You are the airline agent.")
    builder.add(
        "cancel_reservation",
        builder.root,
        "tool",
        inputs={"arguments": {"reservation_id": "ZFA04Y"}},
        error="PolicyError: basic economy older than 24 hours",
    )
    trace = builder.build([Feedback(key="correctness", score=0.0, comment=comment)])
    prepared = prepare(trace.model_copy(update={"reference_outputs": {"answer": "basic economy reservation kept"}}))
    used = trace_usage(prepared.trace, prepared.triage)
    [suspect] = rank_changes(read_unified_diff(diff(("tools/cancel_reservation.py", body)), "d"), used)
    assert suspect.removed == lines[:3] and suspect.added == [f"{line}!" for line in lines[:3]]
    assert suspect.used == ["tool cancel_reservation"] and suspect.score == 1.0


def _shop_run(item: str, then: str) -> TraceBuilder:
    """A shop agent that read the order, exchanged ``item``, then called ``then``."""
    builder = TraceBuilder("agent", inputs={"task": "exchange the lamp of order 12"})
    builder.llm(builder.root, None, system="You are the shop agent.")
    builder.add("get_order_details", builder.root, "tool", inputs={"arguments": {"order_id": "12"}}, outputs={})
    builder.add(
        "exchange_delivered_order_items",
        builder.root,
        "tool",
        inputs={"arguments": {"order_id": "12", "item_ids": [item]}},
        outputs={"output": "exchanged"},
    )
    builder.add(then, builder.root, "tool", inputs={"arguments": {"order_id": "12"}}, outputs={"output": "ok"})
    return builder


def test_where_the_run_left_its_passing_run_gives_the_action_and_the_values_it_got_wrong() -> None:
    from refinery.compare import compare_runs

    failing = _shop_run("desk_lamp_blue", "send_confirmation_email").build(
        [
            Feedback(key="correctness", score=0.0, comment="wrong colour"),
            Feedback(key="tone", score=0.2, comment="curt"),
        ]
    )
    passing = _shop_run("desk_lamp_red", "notify_warehouse").build([Feedback(key="correctness", score=1.0)])
    comparison = compare_runs(failing, passing, source="baseline").comparison
    assert len(comparison.differences) >= 2  # the exchange's item, then the last call
    prepared = prepare(failing)
    used = trace_usage(prepared.trace, prepared.triage, comparison)
    assert {"exchang", "deliver", "item"} <= used.action and "exchang" in used.verbs
    assert {"blue", "red"} <= used.values  # the argument that differed, both ways
    assert not {"notify", "warehous", "send", "email"} & used.action  # only the first departure speaks
    assert {"wrong", "colour", "curt"} <= used.said  # every failing score's comment
    without = trace_usage(prepared.trace, prepared.triage)
    assert not {"blue", "red"} & without.values and "exchang" not in without.verbs


def test_expected_values_are_gathered_from_every_key_and_a_retrievers_error_is_the_failures_words() -> None:
    builder = TraceBuilder("agent", inputs={"task": "find the refund policy"})
    builder.llm(builder.root, None, system="You are the support agent.")
    builder.add("policy_search", builder.root, "retriever", inputs={"query": "refund"}, error="IndexMissing: shard_7")
    trace = builder.build([Feedback(key="correctness", score=0.0)])
    expected = {"answer": "refunds within thirty days", "source_doc": "policy_handbook"}
    prepared = prepare(trace.model_copy(update={"reference_outputs": expected}))
    used = trace_usage(prepared.trace, prepared.triage)
    assert {"refund", "thirty", "days", "policy", "handbook"} <= used.expected
    assert {"indexmiss", "shard"} <= used.values and {"policy", "search"} <= used.action


def test_a_rule_about_another_action_is_not_evidence_however_many_nouns_it_shares() -> None:
    from refinery.compare import compare_runs

    failing = _shop_run("desk_lamp_blue", "return_delivered_order_items").build(
        [Feedback(key="correctness", score=0.0)]
    )
    passing = _shop_run("desk_lamp_red", "return_delivered_order_items").build([Feedback(key="correctness", score=1.0)])
    prepared = prepare(failing)
    used = trace_usage(prepared.trace, prepared.triage, compare_runs(failing, passing, source="b").comparison)
    assert "return" in used.other_verbs and "exchang" in used.verbs
    hunks = diff(
        ("policy/returns.md", "@@ -1 +1 @@\n-Return delivered order items only with a receipt.\n+Return items.\n"),
        ("policy/exchanges.md", "@@ -1 +1 @@\n-Exchange delivered order items only once.\n+Exchange items.\n"),
    )
    ranked = {s.path: s for s in rank_changes(read_unified_diff(hunks, "d"), used)}
    assert not any("the action that went wrong" in e for e in ranked["policy/returns.md"].evidence)
    assert any(e.startswith("names the action that went wrong: ") for e in ranked["policy/exchanges.md"].evidence)
    assert ranked["policy/exchanges.md"].score > ranked["policy/returns.md"].score


def test_a_changed_line_is_the_prompt_line_most_like_it_wherever_that_line_sorts() -> None:
    builder = TraceBuilder("agent", inputs={"task": "refund"})
    builder.llm(
        builder.root, None, system="Confirm the refund amount with the customer first.\nBe kind to every customer."
    )
    builder.llm(builder.root, None, system="Confirm the refund amount with a customer first.")
    builder.add("lookup", builder.root, "tool", inputs={"arguments": {}}, error="boom")
    prepared = prepare(builder.build())
    used = trace_usage(prepared.trace, prepared.triage)
    # Alike enough to both rules (0.98 and 0.94), and to the first one most; a shorter line sorts first.
    changed = "@@ -1 +1 @@\n-Confirm the refund amount with the customer first!\n+Confirm the amount.\n"
    assert _used_of(used, "prompts/refund.md", changed) == ["system prompt P01"]
