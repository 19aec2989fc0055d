"""Readers against real producers' files: what the raw file holds is what the trace holds.

The counts here are taken from the raw JSON independently of the reader under test.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from refinery.errors import TraceFormatError
from refinery.pipeline import prepare
from refinery.trace.files import load_trace_files
from refinery.trace.files.chat import load_chat

TAU = "tau-bench/grok-3-airline-first24.json"


def raw_tool_calls(traj: list[dict]) -> int:
    return sum(len(m.get("tool_calls") or []) for m in traj)


def test_tau_bench_results_are_one_trace_per_record_with_every_tool_call(real_traces: Path) -> None:
    raw = json.loads((real_traces / TAU).read_text())
    traces = load_trace_files(real_traces / TAU)
    assert len(traces) == len(raw) and len({t.id for t in traces}) == len(raw)
    for record, trace in zip(raw, traces, strict=True):
        tools = [r for r in trace.runs if r.run_type == "tool"]
        assert len(tools) == raw_tool_calls(record["traj"])
        [reward] = trace.feedback
        assert reward.key == "reward" and reward.score == pytest.approx(record["reward"])
        assert trace.metadata["trial"] == record["trial"] and trace.metadata["task_id"] == record["task_id"]
        assert trace.reference_outputs and trace.reference_outputs["actions"] == record["info"]["task"]["actions"]
    documents = prepare(traces[0]).documents
    trace_md = documents.by_name("trace.md").text
    assert trace_md.count(" · tool · ") == raw_tool_calls(raw[0]["traj"])
    evals = documents.by_name("evals.md").text
    assert "reward = 0.93" in evals and raw[0]["info"]["task"]["actions"][0]["name"] in evals


def test_reused_tool_call_ids_never_merge_two_runs(real_traces: Path) -> None:
    record = copy.deepcopy(json.loads((real_traces / TAU).read_text())[0])
    ids = [c["id"] for m in record["traj"] for c in (m.get("tool_calls") or [])]
    assert len(ids) >= 2
    # The producer's habit: the next turn's call reuses the first call's id, and so does its result.
    for message in record["traj"]:
        for call in message.get("tool_calls") or []:
            if call["id"] == ids[1]:
                call["id"] = ids[0]
        if message.get("tool_call_id") == ids[1]:
            message["tool_call_id"] = ids[0]
    [trace] = load_chat({"id": "t", "messages": record["traj"]})
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert len(tools) == len(ids)
    assert all(r.outputs for r in tools[:2])  # each call kept its own result
    assert not [w for w in trace.warnings if w.code == "duplicate_id"]


@pytest.mark.parametrize("fmt", ["langsmith", "chat", "history", "otlp", "refinery"])
def test_a_forced_format_that_does_not_fit_names_what_it_expected_and_found(real_traces: Path, fmt: str) -> None:
    with pytest.raises(TraceFormatError) as caught:
        load_trace_files(real_traces / TAU, fmt)
    message = caught.value.one_line()
    assert f"is not in the {fmt} format: it expects" in message
    assert "whose first object has keys info, reward, task_id, traj, trial" in message
    assert "it would read this file as tau-bench" in message
