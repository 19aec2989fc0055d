from __future__ import annotations

import base64
from typing import Any

import pytest

from refinery.errors import TraceFormatError
from refinery.trace.assemble import assemble_trace
from refinery.trace.payload import MAX_STRING_CHARS


def run(rid: str, parent: str | None = None, start: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "parent_id": parent, "name": rid, "start_time": start, **extra}


def ids(trace: Any) -> list[str]:
    return [r.id for r in trace.runs]


def test_execution_order_follows_start_time_depth_first() -> None:
    trace = assemble_trace(
        [
            run("b", "root", "2026-01-01T00:00:02Z"),
            run("a1", "a", "2026-01-01T00:00:01.5Z"),
            run("root", None, "2026-01-01T00:00:00Z"),
            run("a", "root", "2026-01-01T00:00:01Z"),
        ],
        source="test",
    )
    assert ids(trace) == ["root", "a", "a1", "b"]
    assert [r.order for r in trace.runs] == [0, 1, 2, 3]
    assert trace.warnings == []


def test_dotted_order_wins_over_times() -> None:
    trace = assemble_trace(
        [
            run("root", dotted_order="1root"),
            run("late", "root", "2026-01-01T00:00:00Z", dotted_order="1root.2late"),
            run("early", "root", "2026-01-01T00:00:09Z", dotted_order="1root.1early"),
        ],
        source="test",
        times_expected=False,
    )
    assert ids(trace) == ["root", "early", "late"]


def test_runs_without_times_keep_input_position_and_warn() -> None:
    trace = assemble_trace(
        [run("root", None, "2026-01-01T00:00:00Z"), run("x", "root"), run("y", "root", "2026-01-01T00:00:01Z")],
        source="test",
    )
    assert ids(trace) == ["root", "x", "y"]
    [warning] = [w for w in trace.warnings if w.code == "missing_time"]
    assert warning.run_ids == ["x"]


def test_orphans_attach_to_root_and_are_flagged() -> None:
    trace = assemble_trace(
        [run("root"), run("child", "ghost"), run("grandchild", "child")], source="test", times_expected=False
    )
    assert len(trace.runs) == 3
    assert trace.get("child").parent_id == "root"
    assert trace.get("child").metadata["orphan_of"] == "ghost"
    [warning] = [w for w in trace.warnings if w.code == "orphan"]
    assert warning.run_ids == ["child"]


def test_cycles_are_broken_without_losing_runs() -> None:
    trace = assemble_trace(
        [run("root"), run("a", "c"), run("b", "a"), run("c", "b")], source="test", times_expected=False
    )
    assert sorted(ids(trace)) == ["a", "b", "c", "root"]
    assert any(w.code == "cycle" for w in trace.warnings)
    for r in trace.runs[1:]:
        assert trace.path(r.id)[0].id == "root"


def test_duplicate_ids_merge_later_fields() -> None:
    trace = assemble_trace(
        [run("root"), run("t", "root", outputs=None), {"id": "t", "outputs": {"ok": 1}, "error": None}],
        source="test",
        times_expected=False,
    )
    assert len(trace.runs) == 2
    assert trace.get("t").outputs == {"ok": 1}
    assert trace.get("t").parent_id == "root"
    assert [w.code for w in trace.warnings] == ["duplicate_id"]


def test_several_parentless_runs_pick_earliest_root() -> None:
    trace = assemble_trace(
        [run("late", None, "2026-01-01T00:00:05Z"), run("first", None, "2026-01-01T00:00:00Z")], source="test"
    )
    assert trace.root.id == "first"
    assert trace.get("late").parent_id == "first"
    assert any(w.code == "multiple_roots" for w in trace.warnings)


def test_huge_strings_keep_head_and_tail_and_binary_becomes_placeholder() -> None:
    huge = "HEAD" + "x" * 3_000_000 + "TAIL"
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + bytes(range(256)) * 40).decode()
    blob = base64.b64encode(bytes(range(256)) * 100).decode()
    trace = assemble_trace(
        [run("root", inputs={"doc": huge, "image": png, "nested": [{"blob": blob}]})],
        source="test",
        times_expected=False,
    )
    inputs = trace.root.inputs
    assert inputs["doc"].startswith("HEAD") and inputs["doc"].endswith("TAIL")
    assert "chars elided" in inputs["doc"] and len(inputs["doc"]) < MAX_STRING_CHARS + 100
    assert inputs["image"].startswith("[binary payload elided: image/png,")
    assert inputs["nested"][0]["blob"].startswith("[binary payload elided: base64,")
    codes = {w.code: w.count for w in trace.warnings}
    assert codes == {"truncated": 1, "binary": 2}


def test_empty_trace_is_an_error() -> None:
    with pytest.raises(TraceFormatError, match="no runs"):
        assemble_trace([], source="test")


def test_invalid_field_names_the_run() -> None:
    with pytest.raises(TraceFormatError, match=r"Run 'r'.*prompt_tokens"):
        assemble_trace([run("r", prompt_tokens="many")], source="test", times_expected=False)


def test_tree_helpers() -> None:
    trace = assemble_trace(
        [run("root"), run("a", "root"), run("b", "a"), run("c", "a")], source="test", times_expected=False
    )
    assert [r.id for r in trace.children("a")] == ["b", "c"]
    assert [r.id for r in trace.ancestors("c")] == ["a", "root"]
    assert trace.depth("c") == 2
    assert [r.id for r in trace.path("b")] == ["root", "a", "b"]
    assert trace.depths() == {"root": 0, "a": 1, "b": 2, "c": 2}


def test_a_very_deep_chain_does_not_hit_the_recursion_limit() -> None:
    chain = [run("r0")] + [run(f"r{i}", f"r{i - 1}") for i in range(1, 5000)]
    trace = assemble_trace(chain, source="test", times_expected=False)
    assert trace.runs[-1].id == "r4999"
    assert trace.depth("r4999") == 4999


def test_a_second_run_without_parent_is_kept_under_the_named_root_and_said() -> None:
    drafts = [
        {"id": "root", "name": "agent", "parent_id": None},
        {"id": "step", "name": "llm", "parent_id": "root"},
        {"id": "loose", "name": "tool", "parent_id": None},
    ]
    trace = assemble_trace(drafts, source="test", trace_id="root")
    assert {r.id: r.parent_id for r in trace.runs} == {"root": None, "step": "root", "loose": "root"}
    [warning] = [w for w in trace.warnings if w.code == "multiple_roots"]
    assert warning.run_ids == ["loose"] and "root was taken as the root" in warning.message


def test_a_time_written_as_digits_is_an_epoch_not_a_compact_iso_date() -> None:
    from datetime import UTC, datetime

    trace = assemble_trace(
        [
            {"id": "a", "name": "a", "start_time": "1767225600"},
            {"id": "b", "name": "b", "parent_id": "a", "start_time": "11111111"},
            {"id": "c", "name": "c", "parent_id": "a", "start_time": "1" * 400},
        ],
        source="test",
    )
    assert trace.get("a").start_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert trace.get("b").start_time == datetime.fromtimestamp(11111111, UTC)  # not the year 1111
    assert trace.get("c").start_time is None
    [bad] = [w for w in trace.warnings if w.code == "bad_time"]
    assert bad.run_ids == ["c"]
