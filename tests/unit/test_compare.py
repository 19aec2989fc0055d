"""Aligning a failing run with a passing one: the diff itself, and the edge cases real agents produce."""

from __future__ import annotations

import random
from typing import Any

import pytest

from refinery.compare import compare_runs
from refinery.compare.align import _myers, align_steps
from refinery.compare.steps import extract_steps, normalize_args
from refinery.errors import ConfigError
from refinery.trace.model import Trace
from tests.builders import TraceBuilder


def _lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    return table[0][0]


def test_the_diff_is_a_shortest_edit_script() -> None:
    rng = random.Random(17)
    for _ in range(1500):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 14))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 14))]
        script = _myers(a, b, 100)
        assert script is not None
        assert [a[i] for op, i, _ in script if i is not None] == a  # every step of each side, in order
        assert [b[j] for op, _, j in script if j is not None] == b
        assert all(a[i] == b[j] for op, i, j in script if op == "same" and i is not None and j is not None)
        assert sum(op != "same" for op, _, _ in script) == len(a) + len(b) - 2 * _lcs(a, b)  # minimal


def test_past_the_edit_limit_the_diff_gives_up() -> None:
    assert _myers(list("abcdef"), list("uvwxyz"), 5) is None
    assert _myers(list("abcdef"), list("uvwxyz"), 12) is not None


def run(*calls: tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str], root_inputs: Any = None) -> Trace:
    """An agent run: one tool run per call (name, arguments[, error]), each decided by a model call."""
    builder = TraceBuilder("agent", inputs=root_inputs or {"task": "refund booking ABC123"})
    for call in calls:
        builder.llm(builder.root, None)
        error = call[2] if len(call) > 2 else None  # type: ignore[misc]
        builder.add(
            call[0],
            builder.root,
            "tool",
            inputs={"arguments": call[1]},
            outputs=None if error else {"output": "ok"},
            error=error,
        )
    return builder.build()


def test_arguments_are_normalized_before_they_are_compared() -> None:
    assert normalize_args('{"b": 1.0, "a": "x  y"}') == normalize_args({"a": "x y", "b": 1})
    assert normalize_args({"a": 1}) != normalize_args({"a": 2})


def test_the_same_steps_give_no_divergence() -> None:
    calls = [("get_booking", {"id": "ABC123"}), ("refund", {"id": "ABC123", "amount": 120})]
    compared = compare_runs(run(*calls), run(*calls), source="test")
    assert compared.comparison.divergence is None and compared.comparison.differences == []


def test_retries_are_folded_into_the_step_they_retried() -> None:
    failing = run(
        ("search_flights", {"to": "JFK"}, "429 Too Many Requests"),
        ("search_flights", {"to": "JFK"}, "429 Too Many Requests"),
        ("search_flights", {"to": "JFK"}),
        ("book", {"flight": "UA1"}),
    )
    passing = run(("search_flights", {"to": "JFK"}), ("book", {"flight": "UA1"}))
    compared = compare_runs(failing, passing, source="test")
    assert compared.comparison.differences == []
    assert compared.comparison.retries == 2 and compared.steps[0].attempts == 3


def test_independent_reads_in_another_order_are_not_differences() -> None:
    failing = run(("get_user", {"id": 7}), ("get_order", {"id": 9}), ("get_product", {"id": 3}), ("refund", {"id": 9}))
    passing = run(("get_product", {"id": 3}), ("get_order", {"id": 9}), ("get_user", {"id": 7}), ("refund", {"id": 9}))
    compared = compare_runs(failing, passing, source="test")
    assert compared.comparison.differences == [] and compared.comparison.moved_reads == 2


def test_a_missing_final_write_is_the_divergence() -> None:
    failing = run(("get_order", {"id": 9}), ("cancel_order", {"id": 9}))
    passing = run(("get_order", {"id": 9}), ("cancel_order", {"id": 9}), ("refund", {"id": 9, "amount": 120}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert comparison.divergence is not None
    assert comparison.divergence.kind == "missing_step"
    assert comparison.divergence.section == "R0004"  # after the cancel, where the refund should have come
    assert 'never called refund({"amount":120,"id":9})' in comparison.divergence.detail


def test_an_extra_write_is_the_divergence_and_an_extra_read_is_not() -> None:
    failing = run(
        ("get_order", {"id": 9}), ("get_order", {"id": 9}), ("cancel_order", {"id": 9}), ("refund", {"id": 9})
    )
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert [d.kind for d in comparison.differences] == ["extra_step", "extra_step"]
    assert comparison.divergence is not None and comparison.divergence.kind == "extra_step"
    assert comparison.divergence.detail.startswith("called cancel_order")
    assert comparison.divergence.step == 3


def test_other_arguments_and_another_tool_are_named_as_such() -> None:
    failing = run(("get_order", {"id": 9}), ("exchange", {"items": [1, 2]}), ("notify", {"to": "a"}))
    passing = run(("get_order", {"id": 9}), ("exchange", {"items": [1]}), ("email", {"to": "a"}))
    comparison = compare_runs(failing, passing, source="test").comparison
    assert [d.kind for d in comparison.differences] == ["different_arguments", "different_tool"]
    assert comparison.divergence is not None and comparison.divergence.kind == "different_arguments"
    assert (
        comparison.divergence.detail
        == 'called exchange({"items":[1,2]}) where the passing run called exchange({"items":[1]})'
    )


def test_writes_done_before_a_read_are_moved_but_swapped_writes_are_not() -> None:
    early = run(("refund", {"id": 9}), ("get_order", {"id": 9}), ("notify", {"id": 9}))
    late = run(("get_order", {"id": 9}), ("refund", {"id": 9}), ("notify", {"id": 9}))
    assert compare_runs(early, late, source="test").comparison.differences == []
    swapped = run(("get_order", {"id": 9}), ("notify", {"id": 9}), ("refund", {"id": 9}))
    comparison = compare_runs(swapped, late, source="test").comparison
    assert comparison.divergence is not None and comparison.differences


def test_a_baseline_of_another_task_is_refused() -> None:
    failing = run(("get_order", {"id": 9}), root_inputs={"task": "refund booking ABC123"})
    other = run(("get_order", {"id": 9}), root_inputs={"task": "book a flight to Oslo"})
    with pytest.raises(ConfigError, match="ran other inputs"):
        compare_runs(failing, other, source="test")


def test_the_alignment_of_long_runs_that_part_once_is_linear() -> None:
    calls = [(f"get_item_{i % 50}", {"i": i}) for i in range(3000)]
    failing = extract_steps(run(*calls))
    changed = [*calls[:1500], ("get_item_x", {"i": -1}), *calls[1501:]]
    alignment = align_steps(failing, extract_steps(run(*changed)))
    assert alignment.edits == 2 and not alignment.truncated
    assert sum(p.op != "same" for p in alignment.pairs) == 2


def test_when_nothing_failed_outright_the_divergence_is_the_origin() -> None:
    from refinery.pipeline import enrich, prepare

    failing = run(("get_order", {"id": 9}), ("refund", {"id": 9, "amount": 12}))
    passing = run(("get_order", {"id": 9}), ("refund", {"id": 9, "amount": 120}))
    triaged = prepare(failing)
    prepared = enrich(triaged, baseline=passing, baseline_source="test")
    # Enrichment adds: the findings triaged before keep their ids, the divergence comes after them.
    assert [f.id for f in prepared.triage.findings[: len(triaged.triage.findings)]] == [
        f.id for f in triaged.triage.findings
    ]
    assert prepared.triage.findings[-1].rule == "baseline_divergence"
    assert prepared.triage.origin is not None and prepared.triage.origin.section == "R0004"
    assert "parted from the passing run" in prepared.triage.origin.reason
    assert "baseline.md" in [d.name for d in prepared.documents.documents]
    alone = prepare(failing).triage.origin  # without the baseline, only an empty model reply points anywhere
    assert alone is None or alone.section != "R0004"
