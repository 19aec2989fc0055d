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


def _walk(value: object) -> list[object]:
    """Every value inside a JSON value, for counts taken from the raw file."""
    out: list[object] = [value]
    if isinstance(value, dict):
        for item in value.values():
            out.extend(_walk(item))
    elif isinstance(value, list):
        for item in value:
            out.extend(_walk(item))
    return out


def _tokens_in(trace: object) -> int:
    return trace.total_tokens  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    "path", ["langsmith-batch/py_wrap_openai_reasoning.json", "langsmith-batch/js_wrap_openai_stream.json"]
)
def test_langsmith_batch_payloads_merge_each_patch_onto_its_post(real_traces: Path, path: str) -> None:
    raw = json.loads((real_traces / path).read_text())
    [trace] = load_trace_files(real_traces / path)
    posted = {r.get("id") for r in raw["post"]}
    assert {r.id for r in trace.runs} == posted and trace.root.end_time is not None  # the patch's end time
    usage = [v for v in _walk(raw) if isinstance(v, dict) and "total_tokens" in v and "input_tokens" in v]
    assert _tokens_in(trace) == (max(int(u["total_tokens"]) for u in usage) if usage else 0)
    assert trace.root.outputs  # the outputs come from the patch


@pytest.mark.parametrize(
    "path",
    sorted(
        [
            "swe-agent/function_calling_simple.traj",
            "swe-agent/humanevalfix-python-0.traj",
            "swe-agent/6e44b9__sweagenttestrepo-1c2844.traj",
        ]
    ),
)
def test_swe_agent_trajectories_keep_every_action_and_the_model_stats(real_traces: Path, path: str) -> None:
    raw = json.loads((real_traces / path).read_text())
    [trace] = load_trace_files(real_traces / path)
    assert trace.source == "file:swe-agent"
    actions = [m for m in raw["history"] if m.get("message_type") == "action"]
    assert len([r for r in trace.runs if r.run_type == "tool"]) == len(actions)
    assert {r.agent for r in trace.runs if r.run_type == "tool"} == {m["agent"] for m in actions}
    stats = raw.get("info", {}).get("model_stats", {})
    assert _tokens_in(trace) == stats.get("tokens_sent", 0) + stats.get("tokens_received", 0)
    if "exit_status" in raw.get("info", {}):
        assert trace.feedback[0].value == raw["info"]["exit_status"]
    observations = [r for r in trace.runs if r.run_type == "tool" and r.outputs]
    assert observations  # each action's observation came back as its tool's output


@pytest.mark.parametrize(
    "path", ["mini-swe-agent/django__django-10914.traj.json", "mini-swe-agent/astropy__astropy-12907.traj.json"]
)
def test_mini_swe_agent_steps_keep_their_tokens_model_and_tool_calls(real_traces: Path, path: str) -> None:
    raw = json.loads((real_traces / path).read_text())
    [trace] = load_trace_files(real_traces / path)
    calls = sum(len(m.get("tool_calls") or []) for m in raw["messages"])
    assert len([r for r in trace.runs if r.run_type == "tool"]) == calls
    tokens = sum(
        ((m.get("extra") or {}).get("response") or {}).get("usage", {}).get("total_tokens", 0) for m in raw["messages"]
    )
    assert tokens and _tokens_in(trace) == tokens
    models = {((m.get("extra") or {}).get("response") or {}).get("model") for m in raw["messages"]} - {None}
    assert {r.model for r in trace.runs if r.run_type == "llm"} - {None} == models
    assert trace.feedback[0].key == "exit_status" and trace.feedback[0].value == raw["info"]["exit_status"]
    assert trace.id == raw["instance_id"]
