"""LangSmith runs as the API returns them and as users export them: every field a diagnosis reads
comes through from the record, in each shape the service and the SDK write.

The records are the bundled exports in ``examples/`` (the langsmith SDK's own runs, stored by the
fake LangSmith and fetched back through the API); the other shapes are made from them the way the
service makes them (``child_runs`` nesting, JSONL, an experiment's ``feedback_stats``). Expected
values are read from the raw JSON here, independently of the reader.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from refinery.trace.files import load_trace_files
from refinery.trace.files.langsmith_export import draft_from_langsmith, load_langsmith
from refinery.trace.model import Run, Trace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))


def _export(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _expected_tokens(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    usage = (record.get("outputs") or {}).get("usage_metadata") or record["extra"]["metadata"].get("usage_metadata")
    if not usage:
        return None, None, None
    return usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]


def _assert_run_is_record(run: Run, record: dict[str, Any]) -> None:
    metadata = record["extra"]["metadata"]
    assert run.id == record["id"]
    assert run.parent_id == record["parent_run_id"] or (run.parent_id is None and record["parent_run_id"] is None)
    assert run.trace_id == record["trace_id"]
    assert run.dotted_order == record["dotted_order"]
    assert (run.name, run.run_type) == (record["name"], record["run_type"])
    assert run.inputs == record["inputs"]
    assert run.outputs == record["outputs"]
    assert run.error == record["error"]
    assert (run.start_time, run.end_time) == (_time(record["start_time"]), _time(record["end_time"]))
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == _expected_tokens(record)
    assert run.model == metadata.get("ls_model_name")
    assert run.tags == record["tags"]
    assert run.status == record["status"]
    for key, value in metadata.items():
        assert run.metadata[key] == value
    assert run.metadata["ls_session_id"] == record["session_id"]
    assert run.metadata["ls_app_path"] == record["app_path"]
    if record["reference_example_id"]:
        assert run.metadata["ls_reference_example_id"] == record["reference_example_id"]
    else:
        assert "ls_reference_example_id" not in run.metadata


@pytest.mark.parametrize("name", FILES)
def test_every_run_of_an_export_keeps_each_field_the_record_holds(name: str) -> None:
    data = _export(name)
    (trace,) = load_trace_files(EXAMPLES / name)
    by_id = {run.id: run for run in trace.runs}
    assert set(by_id) == {r["id"] for r in data["runs"]}
    for record in data["runs"]:
        _assert_run_is_record(by_id[record["id"]], record)
    root = next(r for r in data["runs"] if r["parent_run_id"] is None)
    assert trace.id == root["trace_id"] and trace.root.id == root["id"]
    assert [(f.key, f.score, f.comment, f.run_id) for f in trace.feedback] == [
        (f["key"], float(f["score"]), f["comment"], f["run_id"]) for f in data["feedback"]
    ]
    assert all(f.source == "api" for f in trace.feedback)
    assert trace.reference_outputs == (data["example"] or {}).get("outputs")
    assert trace.warnings == []


def _nest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as the API nests them with ``load_child_runs``: children under their parent,
    without a parent id of their own."""
    by_id = {r["id"]: {**r, "child_runs": []} for r in copy.deepcopy(records)}
    roots = []
    for record in by_id.values():
        parent = record.pop("parent_run_id")
        (by_id[parent]["child_runs"] if parent else roots).append(record)
    return roots


def test_nested_child_runs_load_as_the_same_trace_with_each_parent_from_its_nesting() -> None:
    data = _export("rate-limit-cascade.json")
    (flat,) = load_langsmith(data["runs"])
    nested_roots = _nest(data["runs"])
    (nested,) = load_langsmith(nested_roots)
    assert [(r.id, r.parent_id, r.name) for r in nested.runs] == [(r.id, r.parent_id, r.name) for r in flat.runs]
    assert max(len(r.id) for r in nested.runs) > 0 and any(r.parent_id for r in nested.runs)


def test_a_jsonl_export_is_one_run_per_line(tmp_path: Path) -> None:
    data = _export("looping-agent.json")
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data["runs"]))
    (trace,) = load_trace_files(path)
    assert {r.id for r in trace.runs} == {r["id"] for r in data["runs"]}
    assert {r.id: r.error for r in trace.runs} == {r["id"]: r["error"] for r in data["runs"]}


def test_runs_of_two_traces_in_one_export_are_two_traces_each_with_its_own_runs() -> None:
    first, second = _export("wrong-answer.json"), _export("looping-agent.json")
    traces = {t.id: t for t in load_langsmith(first["runs"] + second["runs"])}
    for data in (first, second):
        root = next(r for r in data["runs"] if r["parent_run_id"] is None)
        assert {r.id for r in traces[root["trace_id"]].runs} == {r["id"] for r in data["runs"]}


def test_an_experiments_feedback_stats_become_the_roots_scores_when_no_feedback_came_with_it() -> None:
    data = _export("wrong-answer.json")
    runs = copy.deepcopy(data["runs"])
    root = next(r for r in runs if r["parent_run_id"] is None)
    root["feedback_stats"] = {
        "correctness": {"n": 2, "avg": 0.25, "stdev": 0.25, "errors": 0, "values": {}},
        "helpfulness": {"n": 1, "avg": True, "stdev": 0, "errors": 0, "values": {}},
        "label_only": {"n": 1, "values": {"good": 1}},
        "bad": {"n": 1, "avg": "n/a"},
    }
    child = next(r for r in runs if r["parent_run_id"])
    child["feedback_stats"] = {"correctness": {"n": 1, "avg": 1.0}}
    (trace,) = load_langsmith(runs)
    scores = {(f.key, f.score, f.invalid_score, f.source, f.run_id) for f in trace.feedback}
    assert scores == {
        ("correctness", 0.25, None, "feedback_stats", root["id"]),
        ("helpfulness", 1.0, None, "feedback_stats", root["id"]),
        ("bad", None, "n/a", "feedback_stats", root["id"]),
    }
    # Feedback that came with the export wins over the aggregates.
    (with_feedback,) = load_langsmith({"runs": runs, "feedback": data["feedback"]})
    assert [(f.key, f.score, f.source) for f in with_feedback.feedback] == [("correctness", 0.0, "api")]


def test_feedback_for_another_trace_stays_with_that_trace() -> None:
    first, second = _export("wrong-answer.json"), _export("looping-agent.json")
    traces = load_langsmith({"runs": first["runs"] + second["runs"], "feedback": first["feedback"]})
    with_feedback = {t.id: [f.comment for f in t.feedback] for t in traces}
    root = next(r for r in first["runs"] if r["parent_run_id"] is None)
    assert with_feedback[root["trace_id"]] == [first["feedback"][0]["comment"]]
    assert sum(bool(v) for v in with_feedback.values()) == 1


def _one(record: dict[str, Any]) -> Run:
    (trace,) = load_langsmith([record])
    return trace.root


def _llm_record() -> dict[str, Any]:
    data = _export("wrong-answer.json")
    return copy.deepcopy(next(r for r in data["runs"] if r["run_type"] == "llm"))


def test_tokens_cost_and_model_are_read_from_where_langchain_and_the_api_put_them() -> None:
    record = _llm_record()
    record["parent_run_id"] = None
    record["outputs"] = {
        "llm_output": {"token_usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}
    }
    record["extra"] = {"metadata": {}, "invocation_params": {"model_name": "gpt-4o-mini", "temperature": 0}}
    run = _one(record)
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (7, 3, 10)
    assert run.model == "gpt-4o-mini"
    assert run.metadata["invocation_params"] == {"model_name": "gpt-4o-mini", "temperature": 0}
    # The API's own counts and cost, when it computed them, come first.
    record.update(prompt_tokens=70, completion_tokens=30, total_tokens=100, total_cost=0.0123)
    record["extra"]["invocation_params"]["model"] = "gpt-4.1"
    run = _one(record)
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens, run.cost) == (70, 30, 100, 0.0123)
    assert run.model == "gpt-4.1"


def test_usage_metadata_in_the_runs_metadata_counts_when_the_outputs_hold_none() -> None:
    record = _llm_record()
    record["parent_run_id"] = None
    record["outputs"] = {"text": "done"}
    record["extra"]["metadata"]["usage_metadata"] = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    run = _one(record)
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (5, 2, 7)


def test_a_langgraph_node_or_an_agent_key_names_the_runs_agent() -> None:
    record = _llm_record()
    record["parent_run_id"] = None
    record["extra"]["metadata"]["langgraph_node"] = "researcher"
    assert _one(record).agent == "researcher"
    record["extra"]["metadata"]["agent"] = "planner"
    assert _one(record).agent == "planner"


def test_a_record_without_name_type_or_dict_outputs_still_says_what_it_was() -> None:
    record = _llm_record()
    record["parent_run_id"] = None
    record.pop("name")
    record["outputs"] = "plain text answer"
    run = _one(record)
    assert (run.name, run.run_type) == ("llm", "llm")
    assert run.outputs == {"output": "plain text answer"}
    record.pop("run_type")
    run = _one(record)
    assert (run.name, run.run_type) == ("run", "chain")


def test_streaming_token_events_are_dropped_and_the_others_kept() -> None:
    record = _llm_record()
    record["parent_run_id"] = None
    record["events"] = [
        {"name": "start", "time": "2026-12-02T07:36:43.340712"},
        {"name": "new_token", "kwargs": {"token": "Hel"}},
        {"name": "new_token", "kwargs": {"token": "lo"}},
        {"name": "end", "time": "2026-12-02T07:36:43.342522"},
    ]
    assert [e["name"] for e in _one(record).events] == ["start", "end"]


@pytest.mark.parametrize(("status", "expected"), [("success", "success"), ("error", "error"), ("pending", "pending")])
def test_the_services_status_is_the_runs_status(status: str, expected: str) -> None:
    record = _llm_record()
    record["parent_run_id"] = None
    record["status"] = status
    record["end_time"] = None if status == "pending" else record["end_time"]
    record["error"] = "boom" if status == "error" else None
    assert _one(record).status == expected


def test_a_parent_id_written_as_parent_id_links_the_run_too() -> None:
    data = _export("wrong-answer.json")
    runs = copy.deepcopy(data["runs"])
    for record in runs:
        record["parent_id"] = record.pop("parent_run_id")
    (trace,) = load_langsmith(runs)
    assert {r.id: r.parent_id for r in trace.runs} == {r["id"]: r["parent_id"] for r in runs}


def test_records_without_a_trace_id_join_the_trace_rather_than_vanish() -> None:
    data = _export("looping-agent.json")
    runs = copy.deepcopy(data["runs"])
    lost = next(r for r in runs if r["parent_run_id"])
    lost["trace_id"] = None
    traces: list[Trace] = load_langsmith([*runs, "not a run"])
    (trace,) = traces
    assert lost["id"] in {r.id for r in trace.runs}
    assert trace.id == next(r for r in runs if r["parent_run_id"] is None)["trace_id"]
    assert [(w.code, w.count) for w in trace.warnings if w.code == "skipped_record"] == [("skipped_record", 1)]


def test_a_single_run_object_is_a_trace_of_one_run() -> None:
    record = _llm_record()
    record["parent_run_id"] = None
    (trace,) = load_langsmith(record)
    assert [r.id for r in trace.runs] == [record["id"]]


def test_an_empty_id_or_trace_id_reads_as_no_id_not_the_word_none() -> None:
    draft = draft_from_langsmith({"name": "x"})
    assert (draft["id"], draft["trace_id"], draft["parent_id"], draft["status"]) == ("", "", None, None)
    assert (draft["inputs"], draft["outputs"], draft["tags"], draft["events"]) == ({}, None, [], [])


def test_the_services_status_wins_over_what_the_times_suggest_and_tags_are_kept() -> None:
    record = _llm_record()
    record.update(parent_run_id=None, status="success", end_time=None, outputs=None, tags=["eval", "v2"])
    run = _one(record)
    assert run.status == "success" and run.tags == ["eval", "v2"]  # no end time, yet the service says done
    record.update(status="error", error=None)
    assert _one(record).status == "error"  # failed without an error text
    record.update(status="queued")
    assert _one(record).status == "pending"  # a status the service may add: judged from the times


def test_a_nested_child_that_names_its_own_parent_keeps_it() -> None:
    data = _export("rate-limit-cascade.json")
    roots = _nest(data["runs"])
    child = roots[0]["child_runs"][0]
    moved = {**copy.deepcopy(child), "id": "moved-run", "parent_run_id": roots[0]["id"], "child_runs": []}
    child["child_runs"].append(moved)  # nested under the child, yet it names the root as its parent
    (trace,) = load_langsmith(roots)
    assert trace.get(moved["id"]).parent_id == roots[0]["id"]


def test_langsmith_records_without_a_trace_id_join_the_largest_trace() -> None:
    big, small = _export("looping-agent.json")["runs"], _export("wrong-answer.json")["runs"]
    stray = {**copy.deepcopy(small[1]), "id": "stray-run", "trace_id": None, "parent_run_id": None}
    traces = {t.id: t for t in load_langsmith([*small, stray, *big])}
    big_root = next(r for r in big if r["parent_run_id"] is None)
    assert "stray-run" in {r.id for r in traces[big_root["trace_id"]].runs}
    assert all("stray-run" not in {r.id for r in t.runs} for k, t in traces.items() if k != big_root["trace_id"])
    # Records none of which carry a trace id are one trace, named by its root.
    lone = [{**copy.deepcopy(r), "trace_id": None} for r in small]
    [trace] = load_langsmith({"runs": [*lone, 7, "x"], "example": "not an example"})
    root = next(r for r in small if r["parent_run_id"] is None)
    assert trace.id == root["id"] and trace.reference_outputs is None
    [skipped] = [w for w in trace.warnings if w.code == "skipped_record"]
    assert skipped.count == 2 and skipped.message == "2 non-object records were ignored."
