"""The comparison at its edges: what baseline.md and the divergence sentence say when the runs
differ by one step, by one error, by a read, or at the very start or end (issue 27's boundaries)."""

from __future__ import annotations

from typing import Any

from refinery.compare import compare_runs
from refinery.compare.document import CONTEXT, MAX_SECTIONS
from refinery.trace.model import Trace
from tests.builders import TraceBuilder


def run(*calls: tuple[Any, ...], system: str | None = None, model: str | None = None) -> Trace:
    """An agent run: one model call then one tool run per call (name, arguments[, error[, output]])."""
    builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
    for call in calls:
        extra = {"model": model} if model else {}
        builder.llm(builder.root, None, system=system, **extra)
        name, arguments = call[0], call[1]
        error = call[2] if len(call) > 2 else None
        output = call[3] if len(call) > 3 else "ok"
        builder.add(
            name,
            builder.root,
            "tool",
            inputs={"arguments": arguments},
            outputs=None if error else {"output": output},
            error=error,
        )
    return builder.build()


def baseline_md(failing: Trace, passing: Trace) -> str:
    return compare_runs(failing, passing, source="test").document.text


def test_the_same_step_failing_in_both_runs_is_no_difference() -> None:
    failing = run(("get_order", {"id": 9}, "503 unavailable"), ("refund", {"id": 9}))
    passing = run(("get_order", {"id": 9}, "503 unavailable"), ("refund", {"id": 9}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert comparison.differences == [] and comparison.divergence is None


def test_a_step_failing_only_here_is_an_error_difference_with_its_sentence() -> None:
    failing = run(("get_order", {"id": 9}), ("refund", {"id": 9}, "order is locked"))
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert [d.kind for d in comparison.differences] == ["error"]
    divergence = comparison.divergence
    assert divergence is not None and divergence.step == 2 and divergence.baseline_step == 2
    assert divergence.sentence == (
        f'At step 2 ({divergence.section}) refund({{"id":9}}) failed here; in the passing run it succeeded (its step 2).'
    )
    # Failing only in the *passing* run is not this run's error.
    assert compare_runs(passing, failing, source="test").comparison.differences == []


def test_a_failing_run_whose_tail_is_the_passing_run_diverges_at_its_extra_write() -> None:
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9}))
    failing = run(("cancel_order", {"id": 9}), ("get_order", {"id": 9}), ("refund", {"id": 9}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert [d.kind for d in comparison.differences] == ["extra_step"]
    divergence = comparison.divergence
    assert divergence is not None and divergence.step == 1
    assert divergence.sentence == (
        f'This run called cancel_order({{"id":9}}) at step 1 ({divergence.section}), which the passing run never did.'
    )


def test_a_run_that_lacks_the_passing_runs_beginning_diverges_at_the_first_missed_step_even_a_read() -> None:
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9}))
    failing = run(("refund", {"id": 9}))
    divergence = compare_runs(failing, passing, source="test").comparison.divergence
    assert divergence is not None and divergence.kind == "missing_step"
    assert divergence.sentence == (
        'This run never called get_order({"id":9}), which the passing run called first (its step 1).'
    )


def test_a_run_with_no_tool_call_says_so() -> None:
    failing = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
    failing.llm(failing.root, "I cannot help with that.")
    divergence = compare_runs(failing.build(), run(("refund", {"id": 9})), source="test").comparison.divergence
    assert divergence is not None
    assert (
        divergence.sentence == 'This run made no tool call; the passing run began with refund({"id":9}) (its step 1).'
    )


def test_a_run_that_stopped_early_says_after_which_step() -> None:
    failing = run(("get_order", {"id": 9}))
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9}))
    divergence = compare_runs(failing, passing, source="test").comparison.divergence
    assert divergence is not None
    assert divergence.sentence == (
        f"After step 1 ({divergence.section}) this run stopped calling tools; the passing run went on with "
        'refund({"id":9}) (its step 2).'
    )


def test_a_step_missing_in_the_middle_names_the_step_before_the_gap() -> None:
    failing = run(("get_order", {"id": 9}), ("notify", {"id": 9}))
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9}), ("notify", {"id": 9}))
    divergence = compare_runs(failing, passing, source="test").comparison.divergence
    assert divergence is not None and divergence.step == 1
    assert divergence.sentence == (
        f'After step 1 ({divergence.section}) this run never called refund({{"id":9}}), which the passing run did '
        "(its step 2)."
    )


def test_changed_arguments_name_the_changed_key_and_the_unchanged_ones() -> None:
    failing = run(("refund", {"id": 9, "amount": 12, "currency": "USD"}))
    passing = run(("refund", {"id": 9, "amount": 120, "currency": "USD"}))
    divergence = compare_runs(failing, passing, source="test").comparison.divergence
    assert divergence is not None
    assert "with amount=12" in divergence.sentence and "with amount=120" in divergence.sentence
    assert divergence.sentence.endswith("(its step 1); currency, id were the same.")


def test_search_and_list_tools_count_as_reads() -> None:
    # An extra search_… or list_… call changes nothing: the runs part at the write that follows it.
    passing = run(("refund", {"id": 9, "amount": 120}))
    for read in ("search_orders", "list_orders", "find_user", "lookup_user"):
        failing = run((read, {"q": "ABC"}), ("refund", {"id": 9, "amount": 12}))
        divergence = compare_runs(failing, passing, source="test").comparison.divergence
        assert divergence is not None and divergence.kind == "different_arguments", read
        assert divergence.step == 2, read
    failing = run(("delete_orders", {"q": "ABC"}), ("refund", {"id": 9, "amount": 12}))
    divergence = compare_runs(failing, passing, source="test").comparison.divergence
    assert divergence is not None and divergence.kind == "extra_step" and divergence.step == 1


def test_an_extra_read_counts_when_nothing_else_differs_only_if_it_is_all_there_is() -> None:
    # The only difference is an extra read after the shared steps: reported, as nothing else explains it.
    failing = run(("refund", {"id": 9}), ("get_order", {"id": 9}))
    passing = run(("refund", {"id": 9}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert comparison.divergence is not None and comparison.divergence.kind == "extra_step"


def test_baseline_md_shows_both_runs_side_by_side_around_the_divergence() -> None:
    shared = [("get_order", {"id": n}) for n in range(6)]
    failing = run(*shared, ("refund", {"id": 9}, "order | locked"), *shared)
    passing = run(*shared, ("refund", {"id": 9}, None, "refunded 120"), *shared)
    text = baseline_md(failing, passing)
    table = text.split("## B01", 1)[1].split("\n\n", 2)[2].split("\n\n")[0].splitlines()
    rows = table[2:]
    # CONTEXT aligned steps either side of the marked one, and no more.
    assert len(rows) == 2 * CONTEXT + 1
    marked = [r for r in rows if r.startswith("| →")]
    assert len(marked) == 1 and rows.index(marked[0]) == CONTEXT
    # The error is shown with its mark and the pipe escaped; the passing step with what it returned.
    assert "✗ order \\| locked" in marked[0]
    assert "→ refunded 120" in marked[0]
    assert "B01 · first divergence" in text


def test_baseline_md_counts_what_each_run_did_and_the_retries() -> None:
    failing = run(
        ("search_flights", {"to": "JFK"}, "429 Too Many Requests"),
        ("search_flights", {"to": "JFK"}),
        ("book", {"flight": "UA2"}),
    )
    passing = run(("search_flights", {"to": "JFK"}), ("book", {"flight": "UA1"}))
    text = baseline_md(failing, passing)
    assert "this run: 2 tool calls, 3 model calls; the passing run: 2 tool calls, 2 model calls" in text
    assert "retries folded: 1" in text
    assert "(2 attempts)" in text


def test_only_the_first_forty_differences_get_a_section_and_the_rest_are_counted() -> None:
    count = MAX_SECTIONS + 2
    failing = run(*[("write_row", {"n": n, "v": "a"}) for n in range(count)])
    passing = run(*[("write_row", {"n": n, "v": "b"}) for n in range(count)])
    text = baseline_md(failing, passing)
    assert f"## B{MAX_SECTIONS:02d}" in text and f"## B{MAX_SECTIONS + 1:02d}" not in text
    assert "2 later differences are not shown." in text
    exactly = run(*[("write_row", {"n": n, "v": "a"}) for n in range(MAX_SECTIONS)])
    assert "not shown" not in baseline_md(
        exactly, run(*[("write_row", {"n": n, "v": "b"}) for n in range(MAX_SECTIONS)])
    )


def test_a_changed_system_prompt_and_model_are_listed_after_the_steps() -> None:
    failing = run(("refund", {"id": 9}), system="Refund only after checking.\nBe brief.", model="gpt-4.1-mini")
    passing = run(
        ("refund", {"id": 9}), system="Refund only after checking.\nAlways confirm the amount.", model="gpt-4.1"
    )
    comparison = compare_runs(failing, passing, source="test").comparison
    assert [c.what for c in comparison.changes] == ["system_prompt", "model"]
    diff = comparison.changes[0].diff or ""
    assert "-Always confirm the amount." in diff and "+Be brief." in diff
    assert comparison.changes[1].detail == "this run used gpt-4.1-mini; the passing run gpt-4.1"
    assert comparison.divergence is None
    assert "The two runs took the same steps" in baseline_md(failing, passing)


def _with_llm(inputs: dict[str, Any], **fields: Any) -> Trace:
    builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
    builder.add("model", builder.root, "llm", inputs=inputs, outputs={"output": "ok"}, **fields)
    builder.add("refund", builder.root, "tool", inputs={"arguments": {"id": 9}}, outputs={"output": "ok"})
    return builder.build()


def test_the_system_prompt_is_read_in_each_shape_producers_record() -> None:
    def prompt_change(here: dict[str, Any], there: dict[str, Any]) -> str:
        changes = compare_runs(_with_llm(here), _with_llm(there), source="test").comparison.changes
        return next((c.diff or c.detail for c in changes if c.what == "system_prompt"), "")

    # Anthropic's top-level system, LangChain's batched messages, OpenAI's developer role with parts.
    assert "+Be brief." in prompt_change({"system": "Be brief."}, {"system": "Be exact."})
    batched = {"messages": [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "go"}]]}
    assert "+Be brief." in prompt_change(batched, {"messages": [[{"role": "system", "content": "Be exact."}]]})
    parts = {"messages": [{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]}]}
    assert "Be brief." in prompt_change(parts, {"messages": [{"role": "developer", "content": "Be exact."}]})
    # A user message is not a system prompt; only one side having one is said so.
    only = prompt_change(
        {"messages": [{"role": "system", "content": "Be brief."}]},
        {"messages": [{"role": "user", "content": "Be brief."}]},
    )
    assert only == "only this run has a system prompt"
    assert prompt_change({"system": "  "}, {"system": ""}) == ""


def test_changed_model_parameters_are_listed_from_the_passing_value_to_this_runs() -> None:
    here = _with_llm({"messages": []}, metadata={"invocation_params": {"temperature": 0.9, "top_p": 1}})
    there = _with_llm({"messages": []}, metadata={"invocation_params": {"temperature": 0.0, "top_p": 1}})
    changes = compare_runs(here, there, source="test").comparison.changes
    assert [c.detail for c in changes if c.what == "parameters"] == [
        "model parameters differ (passing → this run): temperature: 0.0 → 0.9"
    ]


def test_the_tools_offered_to_either_run_alone_are_named() -> None:
    def offered(*names: str, where: str = "inputs") -> Trace:
        tools = [{"type": "function", "function": {"name": n, "description": f"{n} it"}} for n in names]
        fields: dict[str, Any] = (
            {"inputs": {"messages": [], "tools": tools}}
            if where == "inputs"
            else {"inputs": {"messages": []}, "metadata": {"invocation_params": {"tools": tools}}}
        )
        builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
        builder.add("model", builder.root, "llm", outputs={"output": "ok"}, **fields)
        return builder.build()

    changes = compare_runs(offered("refund", "notify"), offered("refund", "escalate"), source="test").comparison.changes
    assert [c.detail for c in changes] == [
        "only this run was offered notify; only the passing run was offered escalate"
    ]
    # Tools recorded in the invocation parameters (LangChain) count the same.
    changes = compare_runs(
        offered("refund"), offered("refund", "escalate", where="params"), source="test"
    ).comparison.changes
    assert [c.detail for c in changes] == ["only the passing run was offered escalate"]
    assert compare_runs(offered("a", "b"), offered("b", "a"), source="test").comparison.changes == []


def test_a_baseline_that_cannot_be_told_the_same_task_is_refused_with_what_is_missing() -> None:
    import pytest

    from refinery.errors import ConfigError

    def bare(**metadata: str) -> Trace:
        builder = TraceBuilder("agent", inputs={})
        builder.add("refund", builder.root, "tool", inputs={"arguments": {"id": 9}}, outputs={"output": "ok"})
        return builder.build(metadata=metadata)

    with pytest.raises(ConfigError, match=r"r000 and r000 record no inputs"):
        compare_runs(bare(), bare(), source="test")
    with pytest.raises(ConfigError, match=r"and r000 records no inputs") as caught:
        compare_runs(run(("refund", {"id": 9})), bare(), source="test")
    assert "--baseline-file" in (caught.value.hint or "")
    with pytest.raises(ConfigError, match=r"ran another example \(ex-2\) than the failing trace r000 \(ex-1\)"):
        compare_runs(bare(reference_example_id="ex-1"), bare(reference_example_id="ex-2"), source="test")
    # The same example id is enough, whatever the inputs.
    assert compare_runs(bare(reference_example_id="ex-1"), bare(reference_example_id="ex-1"), source="test")


def _expecting(reference: dict[str, Any]) -> Trace:
    return run(("refund", {"id": 9})).model_copy(update={"reference_outputs": reference})


def test_expected_actions_are_read_in_every_producers_shape() -> None:
    from refinery.compare.expected import expected_actions

    tau = {"actions": [{"name": "refund", "kwargs": {"id": 9}}]}
    tau2 = {
        "actions": [
            {"name": "refund", "arguments": {"id": 9}, "requestor": "assistant"},
            {"name": "toggle_airplane_mode", "arguments": {}, "requestor": "user"},  # the user's own action
        ]
    }
    openai = {"tool_calls": [{"type": "function", "function": {"name": "refund", "arguments": '{"id": 9}'}}]}
    trajectory = {
        "messages": [
            {"role": "user", "content": "refund 9"},
            {"role": "ai", "tool_calls": [{"name": "refund", "args": {"id": 9}}]},
        ]
    }
    for reference in (tau, tau2, openai, trajectory):
        assert expected_actions(_expecting(reference)) == [{"name": "refund", "arguments": {"id": 9}}], reference
    loose = {"expected_actions": [{"name": "note", "arguments": "not json"}, {"name": "ping"}, {"kwargs": {}}, "x"]}
    assert expected_actions(_expecting(loose)) == [
        {"name": "note", "arguments": {"arguments": "not json"}},
        {"name": "ping", "arguments": {}},
    ]
    assert expected_actions(_expecting({"answer": "42"})) is None
    assert expected_actions(_expecting({"messages": [{"role": "user", "content": "hi"}]})) is None


def test_a_write_split_from_its_partner_by_a_moved_read_is_one_call_with_other_arguments() -> None:
    failing = run(("update_order", {"id": 9, "qty": 1}), ("get_order", {"id": 9}), ("notify", {"id": 9}))
    passing = run(("get_order", {"id": 9}), ("update_order", {"id": 9, "qty": 2}), ("notify", {"id": 9}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert [(d.kind, d.failing and d.failing.step, d.baseline and d.baseline.step) for d in comparison.differences] == [
        ("different_arguments", 1, 2)
    ]
    assert comparison.differences[0].detail == (
        'called update_order({"id":9,"qty":1}) where the passing run called update_order({"id":9,"qty":2})'
    )
    # Another tool is not the same call: it stays an extra step and a missing one.
    other = run(("cancel_order", {"id": 9}), ("get_order", {"id": 9}), ("notify", {"id": 9}))
    kinds = sorted(d.kind for d in compare_runs(other, passing, source="test").comparison.differences)
    assert kinds == ["extra_step", "missing_step"]


def test_counts_of_moved_reads_and_model_calls_are_each_runs_own() -> None:
    shared = [("notify", {"id": n}) for n in range(3)]
    failing = run(("get_user", {"id": 7}), ("get_order", {"id": 9}), *shared)
    passing = run(("get_order", {"id": 9}), ("get_user", {"id": 7}), *shared)
    comparison = compare_runs(failing, passing, source="test").comparison
    assert comparison.moved_reads == 1 and comparison.differences == []  # one read paired out of place
    assert (comparison.model_calls, comparison.baseline_model_calls) == (5, 5)
    fewer = run(("get_order", {"id": 9}), *shared)
    assert compare_runs(failing, fewer, source="test").comparison.baseline_model_calls == 4


def test_the_divergence_cites_its_section_only_when_baseline_md_shows_it() -> None:
    def reads_then_write(reads: int) -> Trace:
        return run(*[("get_item", {"n": n}) for n in range(reads)], ("cancel_order", {"id": 9}))

    passing = run()  # a passing run that needed no tool: every read is an extra step before the write
    shown = compare_runs(reads_then_write(MAX_SECTIONS - 1), passing, source="test").comparison.divergence
    assert shown is not None and shown.baseline_section == f"B{MAX_SECTIONS:02d}"
    past = compare_runs(reads_then_write(MAX_SECTIONS), passing, source="test").comparison.divergence
    assert past is not None and past.kind == "extra_step" and past.baseline_section is None


def test_a_baseline_is_redacted_before_anything_shows_it() -> None:
    from refinery.pipeline import enrich, prepare

    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    failing = run(("refund", {"id": 9}), system="Be exact.", model="gpt-4.1")
    passing = run(
        ("refund", {"id": 9, "auth": token}, None, f"ok {token}"),
        ("notify", {"id": 9}, f"denied for {token}"),
        system=f"Be exact. Key: {token}",
        model="gpt-4.1",
    )
    prepared = enrich(prepare(failing), baseline=passing, baseline_source="test")
    shown = next(d.text for d in prepared.documents.documents if d.name == "baseline.md")
    assert token not in shown and "REDACTED" in shown
    assert prepared.comparison is not None and token not in prepared.comparison.model_dump_json()


def test_sentences_for_another_tool_and_one_unchanged_argument() -> None:
    divergence = compare_runs(
        run(("get_order", {"id": 9}), ("notify", {"to": "a"})),
        run(("get_order", {"id": 9}), ("email", {"to": "a"})),
        source="test",
    ).comparison.divergence
    assert divergence is not None
    assert divergence.sentence == (
        f'At step 2 ({divergence.section}) this run called notify({{"to":"a"}}); the passing run called '
        'email({"to":"a"}) (its step 2).'
    )
    one_same = compare_runs(
        run(("refund", {"id": 9, "amount": 12})), run(("refund", {"id": 9, "amount": 120})), source="test"
    ).comparison.divergence
    assert one_same is not None and one_same.sentence.endswith("(its step 1); id was the same.")


def test_a_step_replaced_and_one_more_missing_is_anchored_on_the_replacement() -> None:
    failing = run(("get_order", {"id": 9}), ("email", {"id": 9}), ("close", {"id": 9}))
    passing = run(("get_order", {"id": 9}), ("notify", {"id": 9}), ("refund", {"id": 9}), ("close", {"id": 9}))
    differences = compare_runs(failing, passing, source="test").comparison.differences
    assert [d.kind for d in differences] == ["different_tool", "missing_step"]
    missing = differences[1]
    assert missing.anchor is not None and missing.anchor.step == 2  # after email, where refund should have come
    assert missing.detail == 'never called refund({"id":9}), which the passing run did after email({"id":9})'


def _three_calls_apart() -> tuple[Trace, Trace]:
    failing = run(
        ("get", {"id": 1}),
        ("refund", {"id": 9, "amount": 250}),
        ("notify", {"to": "a"}),
        system="Refund only after checking.\nBe brief.",
        model="gpt-4.1-mini",
    )
    passing = run(
        ("get", {"id": 1}),
        ("refund", {"id": 9, "amount": 100}),
        ("notify", {"to": "b"}),
        system="Refund only after checking.\nAlways confirm the amount.",
        model="gpt-4.1",
    )
    return failing, passing


def test_baseline_md_sections_are_the_differences_then_what_changed_around_the_runs() -> None:
    text = baseline_md(*_three_calls_apart())
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## B01 · first divergence",
        "## B02 · different arguments",
        "## B03 · system prompt",
        "## B04 · model",
    ]
    header = [line.rstrip() for line in text.split("\n## ", 1)[0].splitlines() if line.strip()]
    assert header == [
        "# Against the passing run",
        "passing run: `r000` (test)",
        "this run: 3 tool calls, 3 model calls; the passing run: 3 tool calls, 3 model calls",
        "differences: 2 · reads in another order: 0 · retries folded: 0",
        "Steps (numbered from 1) are tool calls, agent turns and failed model calls; R… ids are this run's "
        "trace.md sections.",
    ]
    assert "The two runs took the same steps" not in text and "tail is paired by position" not in text
    b01 = text.split("## B01 · first divergence\n\n", 1)[1].split("\n## ", 1)[0]
    assert b01.startswith('called refund({"amount":250,"id":9}) where the passing run called refund(')


def test_the_same_call_with_other_arguments_is_one_row_beside_its_partner() -> None:
    text = baseline_md(*_three_calls_apart())
    b01 = text.split("## B01", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in b01.splitlines() if line.startswith("| ") and "R0" in line]
    assert rows == [
        '|  R0002 | get({"id":1}) → ok | get({"id":1}) → ok |',
        '| → R0004 | refund({"amount":250,"id":9}) → ok | refund({"amount":100,"id":9}) → ok |',
        '| ≠ R0006 | notify({"to":"a"}) → ok | notify({"to":"b"}) → ok |',
    ]
    b02 = text.split("## B02", 1)[1].split("\n## ", 1)[0]
    assert '| → R0006 | notify({"to":"a"}) → ok | notify({"to":"b"}) → ok |' in b02


def test_a_changed_prompts_diff_keeps_each_line_on_its_own() -> None:
    text = baseline_md(*_three_calls_apart())
    b03 = text.split("## B03 · system prompt\n\n", 1)[1].split("\n## ", 1)[0]
    assert b03.startswith("the system prompt differs\n\n```")
    assert "\n-Always confirm the amount.\n+Be brief.\n" in b03
    assert "\n Refund only after checking.\n" in b03


def test_with_little_room_the_first_divergence_and_the_context_stay_whole() -> None:
    from refinery.compare import summarize
    from refinery.compare.align import align_steps
    from refinery.compare.document import render_baseline_md

    failing, passing = _three_calls_apart()
    compared = compare_runs(failing, passing, source="test")
    here, there = summarize(failing).steps, summarize(passing).steps
    full = compared.document.text
    small = render_baseline_md(compared.comparison, align_steps(here, there), here, there, len(full) - 200).text
    whole = full.split("## B01", 1)[1].split("\n## ", 1)[0]
    assert whole in small  # the first divergence, in full
    assert full.split("## B03", 1)[1] in small  # the system prompt and model, in full
    assert full.split("## B02", 1)[1].split("\n## ", 1)[0] not in small  # the later difference gave way
    assert '## B02 · different arguments\n\ncalled notify({"to":"a"}) where the passing run called' in small
    shortened = render_baseline_md(compared.comparison, align_steps(here, there), here, there, len(full) - 200)
    assert (shortened.kind, shortened.section_ids) == ("baseline", ["B01", "B02", "B03", "B04"])
    assert shortened.notes[0].endswith(
        "1 reduced to a one-line summary; the 3 sections of the failure's evidence are in full."
    )


def test_the_refusal_quotes_each_example_whole_and_the_baselines_inputs() -> None:
    import pytest

    from refinery.errors import ConfigError

    def task(inputs: dict[str, Any], **metadata: str) -> Trace:
        builder = TraceBuilder("agent", inputs=inputs)
        builder.add("refund", builder.root, "tool", inputs={"arguments": {"id": 9}}, outputs={"output": "ok"})
        return builder.build(metadata=metadata)

    with pytest.raises(ConfigError, match=r"another example \(suite:ex:2\) than the failing trace r000 \(suite:ex:1\)"):
        compare_runs(
            task({}, reference_example_id="suite:ex:1"), task({}, reference_example_id="suite:ex:2"), source="t"
        )
    # An example id on one side only says nothing: the inputs decide.
    same = task({"q": "refund ABC123"}, reference_example_id="ex-1")
    assert compare_runs(same, task({"q": "refund ABC123"}), source="t")
    with pytest.raises(ConfigError) as caught:
        compare_runs(task({"q": "refund ABC123"}), task({"q": "rembourser É" + "x" * 200}), source="t")
    message = str(caught.value)
    assert 'ran other inputs than the failing trace r000 ({"q": "rembourser É' in message  # as written, not \\u00c9
    kept = 120 - len('{"q": "rembourser É')  # the inputs are cut at 120 characters
    assert "É" + "x" * kept + "…)." in message and "x" * (kept + 1) not in message
    assert caught.value.hint and "--baseline-trace-id" in caught.value.hint


def test_what_changed_around_the_runs_is_said_in_full() -> None:
    def changes(here: dict[str, Any], there: dict[str, Any], **fields: Any) -> dict[str, str]:
        found = compare_runs(_with_llm(here, **fields), _with_llm(there), source="t").comparison.changes
        return {c.what: c.diff or c.detail for c in found}

    diff = changes({"system": "Be brief."}, {"system": "Be exact."})["system_prompt"]
    assert diff.startswith("--- passing run\n+++ this run\n")
    assert changes({"messages": []}, {"system": "Be exact."}) == {
        "system_prompt": "only the passing run has a system prompt"
    }
    # A key set on one side only is a change, shown with its absence.
    assert changes({"messages": []}, {"messages": []}, metadata={"invocation_params": {"seed": 7}}) == {
        "parameters": "model parameters differ (passing → this run): seed: None → 7"
    }


def test_models_are_compared_only_when_both_runs_name_theirs_and_all_are_listed() -> None:
    def models(*names: str) -> Trace:
        builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
        for name in names:
            builder.llm(builder.root, None, model=name)
        builder.add("refund", builder.root, "tool", inputs={"arguments": {"id": 9}}, outputs={"output": "ok"})
        return builder.build()

    found = compare_runs(models("gpt-4.1", "o3"), models("gpt-4.1-mini", "o3"), source="t").comparison.changes
    assert [c.detail for c in found if c.what == "model"] == [
        "this run used gpt-4.1, o3; the passing run gpt-4.1-mini, o3"
    ]
    assert not [c for c in compare_runs(models(), models("o3"), source="t").comparison.changes if c.what == "model"]


def test_several_tools_offered_to_one_run_alone_are_listed_together() -> None:
    def offered(*names: str) -> Trace:
        tools = [{"type": "function", "function": {"name": n}} for n in names]
        builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
        builder.add("model", builder.root, "llm", inputs={"messages": [], "tools": tools}, outputs={"output": "ok"})
        return builder.build()

    found = compare_runs(offered("a", "b", "c"), offered("c", "d", "e"), source="t").comparison.changes
    assert [c.detail for c in found] == ["only this run was offered a, b; only the passing run was offered d, e"]


def test_steps_are_tool_calls_agent_turns_and_failed_model_calls_with_their_own_words() -> None:
    from refinery.compare.steps import extract_steps

    builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
    builder.llm(builder.root, "thinking")  # a model call that went fine is no step
    builder.add("ChatOpenAI", builder.root, "llm", status="error", model="gpt-4.1", outputs=None)
    builder.add("planner", builder.root, "agent", agent="Planner", outputs={"content": "hand it over"})
    builder.add("anon", builder.root, "agent", outputs={"content": "x"})
    builder.add(
        "search", builder.root, "retriever", inputs={"query": "refund"}, outputs={"output": {"hits": ["É"] * 80}}
    )
    builder.add("refund", builder.root, "tool", inputs={"arguments": {"id": 9}}, error="Timeout\nat line 3")
    builder.add("note", builder.root, "tool", inputs={"arguments": {}}, outputs={"text": "a   b\n c"})
    trace = builder.build()
    steps = extract_steps(trace)
    assert [(s.kind, s.name) for s in steps] == [
        ("llm", "gpt-4.1"),
        ("agent", "Planner"),
        ("agent", "anon"),
        ("retriever", "search"),
        ("tool", "refund"),
        ("tool", "note"),
    ]
    assert steps[0].error == "error (no message)" and steps[0].args == ""  # errored, with no text
    assert steps[1].agent == "Planner" and steps[1].args == ""
    assert steps[4].error == "Timeout"  # the first line of the error
    hits = steps[3].output
    assert hits.startswith('{"hits": ["É", "É"') and len(hits) == 160  # as written, cut at 160
    assert steps[5].output == '{"text": "a b\\n c"}'  # no "output" key: the whole outputs, spaces folded
    assert steps[1].output == '{"content": "hand it over"}'


def test_baseline_md_counts_agent_turns_and_retriever_calls_as_what_the_run_did() -> None:
    def turns(n: int) -> Trace:
        builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
        for i in range(n):
            builder.add("turn", builder.root, "agent", agent=f"A{i}", outputs={"content": f"turn {i}"})
        builder.add("search", builder.root, "retriever", inputs={"query": "refund"}, outputs={"output": "x"})
        return builder.build()

    text = baseline_md(turns(2), turns(1))
    assert (
        "this run: 1 tool call, 0 model calls, 2 agent turns; the passing run: 1 tool call, 0 model calls, 1 agent turn"
        in text
    )


def test_every_text_of_a_baseline_goes_through_the_redactor_and_absent_ones_stay_absent() -> None:
    from refinery.compare import summarize
    from refinery.compare.summary import redact_summary

    builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
    builder.llm(builder.root, None, system="Be exact.", model="gpt-4.1", metadata={"invocation_params": {"seed": 1}})
    builder.add("turn", builder.root, "agent", agent="Planner", outputs={"content": "go"})
    builder.add("refund", builder.root, "tool", inputs={"arguments": {"id": 9}}, error="denied")
    builder.add("notify", builder.root, "tool", inputs={"arguments": {"id": 9}}, outputs={"output": "sent"})
    summary = summarize(builder.build())
    shown = redact_summary(summary, lambda t: f"<{t}>", lambda v: ("value", v))
    turn, refund, notify = shown.steps
    assert (turn.name, turn.agent, turn.output) == ("<Planner>", "<Planner>", '<{"content": "go"}>')
    assert (refund.name, refund.args, refund.error) == ("<refund>", '<{"id":9}>', "<denied>")
    assert notify.error is None and refund.agent is None  # nothing to redact stays nothing
    assert shown.system_prompt == "<Be exact.>" and shown.models == ["<gpt-4.1>"]
    assert shown.root_inputs == ("value", summary.root_inputs) and shown.parameters == ("value", summary.parameters)
    assert shown.tools == {f"<{t}>" for t in summary.tools}
    bare = summarize(run(("refund", {"id": 9})))
    assert redact_summary(bare, lambda t: f"<{t}>", lambda v: v).system_prompt is None


def test_runs_too_far_apart_are_paired_by_position_past_the_edit_limit(monkeypatch: Any) -> None:
    from refinery.compare import align, summarize

    monkeypatch.setattr(align, "MAX_EDITS", 2)
    failing = run(("get", {"id": 0}), ("a", {}), ("b", {}), ("c", {}), ("done", {"id": 1}))
    passing = run(("get", {"id": 0}), ("x", {}), ("y", {}), ("done", {"id": 1}))
    compared = compare_runs(failing, passing, source="test")
    assert compared.comparison.truncated
    alignment = align.align_steps(summarize(failing).steps, summarize(passing).steps)
    assert [(p.op, p.failing, p.baseline) for p in alignment.pairs] == [
        ("same", 0, 0),
        ("removed", 1, None),
        ("added", None, 1),
        ("removed", 2, None),
        ("added", None, 2),
        ("removed", 3, None),
        ("same", 4, 3),
    ]
    assert alignment.truncated and alignment.edits == 5
    lines = [line.rstrip() for line in compared.document.text.splitlines()]
    assert "The runs differ in too many steps to align them all: the tail is paired by position." in lines


def test_a_run_that_repeats_the_passing_runs_last_step_has_one_extra_step_not_two() -> None:
    from refinery.compare import align, summarize

    here = summarize(run(("get", {"id": 1}), ("refund", {"id": 9}), ("refund", {"id": 9}))).steps
    there = summarize(run(("get", {"id": 1}), ("refund", {"id": 9}))).steps
    pairs = [(p.op, p.failing, p.baseline) for p in align.align_steps(here, there).pairs]
    assert pairs == [("same", 0, 0), ("same", 1, 1), ("removed", 2, None)]
    pairs = [(p.op, p.failing, p.baseline) for p in align.align_steps(there, here).pairs]
    assert pairs == [("same", 0, 0), ("same", 1, 1), ("added", None, 2)]
    compared = compare_runs(
        run(("get", {"id": 1}), ("refund", {"id": 9}), ("refund", {"id": 9})),
        run(("get", {"id": 1}), ("refund", {"id": 9})),
        source="test",
    )
    assert [s.name for s in compared.steps] == ["get", "refund", "refund"]
    assert [s.name for s in compared.baseline_steps] == ["get", "refund"]


def test_a_table_cell_shows_the_error_the_output_the_attempts_and_a_missing_side() -> None:
    failing = run(
        ("lookup", {"id": 1}, "429 Too Many Requests"),
        ("lookup", {"id": 1}, None, "row | one\nrow two"),
        ("refund", {"id": 9}, "denied:\nno | funds"),
    )
    passing = run(
        ("lookup", {"id": 1}, None, "row | one\nrow two"), ("refund", {"id": 9}, None, "done"), ("notify", {})
    )
    text = baseline_md(failing, passing)
    rows = [line for line in text.split("## B01", 1)[1].split("\n## ", 1)[0].splitlines() if line.startswith("| ")]
    # The retried lookup as its last attempt, with the count; pipes escaped, lines joined.
    assert rows[1] == (
        '|  R0004 | lookup({"id":1}) → row \\| one row two (2 attempts) | lookup({"id":1}) → row \\| one row two |'
    )
    assert rows[2] == '| → R0006 | refund({"id":9}) ✗ denied: | refund({"id":9}) → done |'  # the error's first line
    assert rows[3] == "| ≠ R0006 (passing) | — | notify({}) → ok |"  # a step only the passing run took
    assert "(1 attempts)" not in text


def test_calls_made_with_other_arguments_pair_with_their_own_tool_across_moved_reads_never_with_another() -> None:
    failing = run(("get_order", {"id": 1}), ("refund", {"a": 2}), ("get_user", {"u": 1}), ("notify", {"t": 2}))
    passing = run(("refund", {"a": 1}), ("get_order", {"id": 1}), ("notify", {"t": 1}), ("get_user", {"u": 1}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert [(d.kind, d.detail) for d in comparison.differences] == [
        ("different_arguments", 'called refund({"a":2}) where the passing run called refund({"a":1})'),
        ("different_arguments", 'called notify({"t":2}) where the passing run called notify({"t":1})'),
    ]
    # A read is not paired across: a search with other terms elsewhere is a read more and a read less.
    failing = run(("get_order", {"id": 1}), ("search_x", {"q": 2}), ("refund", {"a": 2}))
    passing = run(("search_x", {"q": 1}), ("refund", {"a": 1}), ("get_order", {"id": 1}))
    kinds = [d.kind for d in compare_runs(failing, passing, source="test").comparison.differences]
    assert kinds == ["missing_step", "extra_step", "different_arguments"]


def test_a_difference_without_its_steps_is_still_one_sentence_from_its_detail() -> None:
    from refinery.compare.diverge import divergence_sentence
    from refinery.compare.model import Difference, StepRef

    there = StepRef(section="R0004", run_id="r4", step=2, label="refund({})")
    bare = Difference(kind="different_tool", detail="called a where the passing run called b")
    assert divergence_sentence(bare, 3) == "Called a where the passing run called b."
    failed = Difference(
        kind="error", baseline=there, detail="refund({}) failed here (x); in the passing run it succeeded"
    )
    assert divergence_sentence(failed, 3) == "Refund({}) failed here (x); in the passing run it succeeded."


def test_a_step_missing_before_anything_was_done_says_first() -> None:
    failing = run(("refund", {"id": 9}))
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9}))
    [missing] = compare_runs(failing, passing, source="test").comparison.differences
    assert missing.detail == 'never called get_order({"id":9}), which the passing run did first'


def test_a_tool_that_declares_it_changes_nothing_is_reasoning_and_a_prompt_in_parts_is_read_as_written() -> None:
    from refinery.compare import summarize
    from refinery.compare.steps import reasoning_tools

    def offered(description: str) -> Trace:
        tools = [{"type": "function", "function": {"name": "scribble", "description": description}}]
        system = [{"type": "text", "text": "Réponds en français."}, {"type": "image", "url": "x"}]
        builder = TraceBuilder("agent", inputs={"task": "refund booking ABC123"})
        builder.add(
            "model",
            builder.root,
            "llm",
            inputs={"messages": [{"role": "system", "content": system}], "tools": tools},
            outputs={"output": "ok"},
        )
        builder.add("scribble", builder.root, "tool", inputs={"arguments": {}}, outputs={"output": "ok"})
        builder.add("chain", builder.root, "chain", metadata={"invocation_params": {"temperature": 1}})
        return builder.build()

    assert reasoning_tools(offered("Jot a note. It will not obtain new information or change anything.")) == {
        "scribble"
    }
    assert reasoning_tools(offered("Jot a note in the shared log.")) == set()
    summary = summarize(offered("x"))
    assert summary.system_prompt is not None and "Réponds en français." in summary.system_prompt
    assert "\\u00e9" not in summary.system_prompt
    assert summary.parameters == {}  # a chain's invocation parameters are not a model's


def test_the_header_says_exactly_what_is_not_shown_and_why() -> None:
    def last_lines(text: str) -> list[str]:
        header = [line.rstrip() for line in text.split("\n## ", 1)[0].splitlines() if line.strip()]
        return header[5:]

    same_steps = baseline_md(run(("refund", {"id": 9}), model="gpt-4.1-mini"), run(("refund", {"id": 9}), model="o3"))
    assert last_lines(same_steps) == ["The two runs took the same steps; only what is listed below differs."]
    count = MAX_SECTIONS + 2
    many = baseline_md(
        run(*[("write_row", {"n": n, "v": "a"}) for n in range(count)]),
        run(*[("write_row", {"n": n, "v": "b"}) for n in range(count)]),
    )
    assert last_lines(many) == ["2 later differences are not shown."]


def test_a_long_error_or_output_is_shortened_in_its_cell_and_stays_on_one_line() -> None:
    error = " ".join(f"e{n:02d}" for n in range(40))  # 159 characters of words
    output = " ".join(f"o{n:02d}" for n in range(40))
    failing = run(("lookup", {"id": 1}, None, output), ("refund", {"id": 9}, error))
    passing = run(("lookup", {"id": 1}, None, "x"), ("refund", {"id": 9}, None, "done"))
    text = baseline_md(failing, passing)
    row = next(line for line in text.splitlines() if line.startswith("| → "))
    shown_error = row.split(" ✗ ", 1)[1].split(" | ", 1)[0]
    assert shown_error.startswith("e00 e01") and shown_error.endswith("e38 e39") and "chars elided" in shown_error
    assert len(shown_error.split("[…", 1)[0]) <= 41  # half of 80 characters, to the end of a word
    first = next(line for line in text.splitlines() if line.startswith("|  R0002"))
    shown_output = first.split(" → ", 1)[1].split(" | ", 1)[0]
    assert shown_output.startswith("o00") and "chars elided" in shown_output
    assert len(shown_output.split("[…", 1)[0]) <= 31  # half of 60


def test_a_tool_name_with_a_line_break_cannot_break_the_table() -> None:
    text = baseline_md(
        run(("look\nup", {"id": 1}), ("refund", {"id": 2})), run(("look\nup", {"id": 1}), ("refund", {"id": 3}))
    )
    rows = [line for line in text.split("## B01", 1)[1].splitlines() if line.startswith("|  R0002")]
    assert rows and rows[0].count(" | ") == 2 and "look up" in rows[0]


def test_the_arrow_marks_the_differences_own_row_a_missing_step_and_a_moved_read_included() -> None:
    failing = run(("get_user", {"u": 1}), ("get_order", {"id": 1}), ("refund", {"id": 9}))
    passing = run(("get_order", {"id": 1}), ("get_user", {"u": 1}), ("refund", {"id": 9}), ("notify", {"t": 1}))
    text = baseline_md(failing, passing)
    section = text.split("## B01", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "R0" in line]
    marked = [row for row in rows if row.startswith("| → ")]
    assert marked == ['| → R0008 (passing) | — | notify({"t":1}) → ok |']  # the step only the passing run took
    assert any(row.startswith("| ≈ ") for row in rows)  # a read done in another order


def test_arguments_that_are_not_an_object_are_not_compared_key_by_key() -> None:
    from refinery.compare.diverge import argument_change

    assert argument_change('{"a":1,"b":"é"}', '{"a":2,"b":"é"}') == ("a=1", "a=2", ["b"])
    assert argument_change('{"a":"é"}', '{"a":"e"}') == ('a="é"', 'a="e"', [])  # as written, not \\u00e9
    assert argument_change('{"a":{"x":1}}', '{"b":1}') == ('a={"x":1}, no b', "no a, b=1", [])
    assert argument_change("[1, 2]", '{"a":1}') is None and argument_change("not json", "{}") is None


def test_a_difference_in_thinking_alone_is_no_divergence_and_a_read_beside_it_is() -> None:
    only_thinking = compare_runs(
        run(("think", {"thought": "check the fare"}), ("refund", {"id": 9})),
        run(("think", {"thought": "check the policy"}), ("refund", {"id": 9})),
        source="test",
    ).comparison
    assert [d.kind for d in only_thinking.differences] == ["different_arguments"]
    assert only_thinking.divergence is None
    with_a_read = compare_runs(
        run(("think", {"thought": "check the fare"}), ("get_fare", {"id": 9}), ("refund", {"id": 9})),
        run(("think", {"thought": "check the policy"}), ("refund", {"id": 9})),
        source="test",
    ).comparison
    assert with_a_read.divergence is not None and with_a_read.divergence.kind == "extra_step"
    assert "get_fare" in with_a_read.divergence.detail
