"""Readers against real producers' files: what the raw file holds is what the trace holds.

The counts here are taken from the raw JSON independently of the reader under test.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from refinery.errors import TraceFormatError
from refinery.pipeline import prepare
from refinery.trace.files import detect_format, load_trace_files
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
        reward, *checks = trace.feedback
        assert reward.key == "reward" and reward.score == pytest.approx(record["reward"])
        recorded = {k: v for k, v in record["info"]["reward_info"]["info"].items() if k in ("r_actions", "r_outputs")}
        assert {c.key: c.score for c in checks} == recorded and reward.informational == bool(recorded)
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


@pytest.mark.parametrize("path", ["openhands/basic.json", "openhands/basic_interactions.json"])
def test_openhands_actions_pair_with_their_observations(real_traces: Path, path: str) -> None:
    raw = json.loads((real_traces / path).read_text())
    [trace] = load_trace_files(real_traces / path)
    calls = [e for e in raw if "action" in e and isinstance(e.get("tool_call_metadata"), dict)]
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert [r.name for r in tools] == [e["tool_call_metadata"]["function_name"] for e in calls]
    observed = {str(e["cause"]) for e in raw if "observation" in e and "cause" in e}
    for run in tools:
        if run.metadata["event_id"] in observed:
            assert run.outputs and run.outputs["output"]  # paired by cause
    responses = {e["tool_call_metadata"]["model_response"]["id"]: e for e in calls}
    tokens = sum(e["tool_call_metadata"]["model_response"]["usage"]["total_tokens"] for e in responses.values())
    assert _tokens_in(trace) == tokens
    assert trace.root.inputs["task"] == raw[0]["message"]


def test_phoenix_span_lists_keep_kinds_parents_and_every_tool(real_traces: Path) -> None:
    raw = json.loads((real_traces / "phoenix/pxi_suggestion_traces.json").read_text())
    spans = [s for group in raw.values() for s in group]
    traces = load_trace_files(real_traces / "phoenix/pxi_suggestion_traces.json")
    assert sorted(t.id for t in traces) == sorted({s["context"]["trace_id"] for s in spans})
    for trace in traces:
        mine = [s for s in spans if s["context"]["trace_id"] == trace.id]
        assert len(trace.runs) == len(mine)
        assert sum(r.run_type == "tool" for r in trace.runs) == sum(s["span_kind"] == "TOOL" for s in mine)
        assert sum(r.run_type == "llm" for r in trace.runs) == sum(s["span_kind"] == "LLM" for s in mine)
        assert sum(r.is_error for r in trace.runs) == sum(s["status_code"] == "ERROR" for s in mine)


@pytest.mark.parametrize(
    "path", ["otel-js-spans/ai-generateText-doGenerate.json", "otel-js-spans/ai-streamText-doStream.json"]
)
def test_otel_js_readable_spans_keep_tokens_text_and_times(real_traces: Path, path: str) -> None:
    raw = json.loads((real_traces / path).read_text())
    traces = load_trace_files(real_traces / path)
    assert len(traces) == len({s["spanContext"]["traceId"] for s in raw})
    runs = [r for t in traces for r in t.runs]
    assert len(runs) == len(raw)
    tokens = sum(
        s["attributes"].get("ai.usage.promptTokens", s["attributes"].get("ai.usage.inputTokens", 0))
        + s["attributes"].get("ai.usage.completionTokens", s["attributes"].get("ai.usage.outputTokens", 0))
        for s in raw
    )
    assert sum(t.total_tokens for t in traces) == tokens
    assert all(r.start_time and r.end_time and r.end_time >= r.start_time for r in runs)
    texts = [s["attributes"]["ai.response.text"] for s in raw if "ai.response.text" in s["attributes"]]
    assert all(any(text == (r.outputs or {}).get("output") for r in runs) for text in texts)


def test_the_console_exporters_concatenated_records_are_read(tmp_path: Path) -> None:
    import io

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    out = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
    tracer = provider.get_tracer("agent")
    with tracer.start_as_current_span("agent") as agent:
        agent.set_attribute("openinference.span.kind", "AGENT")
        for city in ("Paris", "Oslo"):
            with tracer.start_as_current_span("get_weather") as tool:
                tool.set_attribute("openinference.span.kind", "TOOL")
                tool.set_attribute("tool.parameters", json.dumps({"city": city}))
                if city == "Oslo":
                    tool.record_exception(TimeoutError("weather service timed out"))
                    tool.set_status(Status(StatusCode.ERROR, "timed out"))
    provider.shutdown()
    path = tmp_path / "console.txt"
    path.write_text(out.getvalue())
    [trace] = load_trace_files(path)
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert [r.inputs["arguments"]["city"] for r in tools] == ["Paris", "Oslo"]
    assert trace.root.name == "agent" and [r.is_error for r in tools] == [False, True]
    assert "weather service timed out" in (tools[1].error or "")


def test_tau2_simulations_keep_agent_and_user_tool_calls_tokens_and_criteria(real_traces: Path) -> None:
    path = real_traces / "tau2-bench/telecom-gpt-4o-first4.json"
    raw = json.loads(path.read_text())
    traces = {t.id: t for t in load_trace_files(path)}
    assert len(traces) == len(raw["simulations"])
    tasks = {t["id"]: t for t in raw["tasks"]}
    for sim in raw["simulations"]:
        trace = traces[sim["id"]]
        calls = [c for m in sim["messages"] for c in (m.get("tool_calls") or [])]
        assert len([r for r in trace.runs if r.run_type == "tool"]) == len(calls)
        agent_tokens = sum(
            (m["usage"] or {}).get("prompt_tokens", 0) + (m["usage"] or {}).get("completion_tokens", 0)
            for m in sim["messages"]
            if m["role"] == "assistant" and m.get("usage")
        )
        assert trace.total_tokens == agent_tokens
        errors = sum(1 for m in sim["messages"] if m["role"] == "tool" and m.get("error") is True)
        assert sum(r.is_error for r in trace.runs) == errors
        assert trace.feedback[0].score == sim["reward_info"]["reward"]
        expected = tasks[sim["task_id"]]["evaluation_criteria"]["actions"]
        assert trace.reference_outputs and trace.reference_outputs["actions"] == expected


def test_a_file_of_many_traces_selects_the_failing_ones_by_the_producers_rule(real_traces: Path) -> None:
    from refinery.trace.source import FileTraceSource, SelectionCriteria
    from refinery.triage import run_triage

    path = real_traces / TAU
    raw = json.loads(path.read_text())
    selected = FileTraceSource(path).select_failing(SelectionCriteria(limit=100))
    # tau-bench's task checks decide; the harness's composite reward (lowered by an efficiency
    # penalty while the checks passed) does not.
    checks = [r["info"]["reward_info"]["info"] for r in raw]
    assert {s.trace_id for s in selected} == {
        f"tau-bench-task{r['task_id']}-trial{r['trial']}"
        for r, c in zip(raw, checks, strict=True)
        if min(v for k, v in c.items() if k in ("r_actions", "r_outputs")) < 1
    }
    assert 0 < len(selected) < sum(r["reward"] < 1 for r in raw)
    assert all("a pass needs 1" in s.reasons[0] for s in selected)
    failing = next(t for t in load_trace_files(path) if t.id == selected[0].trace_id)
    gaps = [f for f in run_triage(failing).findings if f.rule == "eval_feedback"]
    assert gaps and all(g.evidence.startswith(("r_actions", "r_outputs")) for g in gaps)
    passing = load_trace_files(path)[0]
    assert raw[0]["reward"] < 1 and not [f for f in run_triage(passing).findings if f.rule == "eval_feedback"]


def test_trials_of_one_task_in_a_file_count_once_and_flaky_ones_say_so(real_traces: Path, tmp_path: Path) -> None:
    from refinery.trace.source import FileTraceSource, SelectionCriteria

    raw = json.loads((real_traces / TAU).read_text())[:3]
    # Three trials of each task, as `tau-bench --num-trials 3` writes them: task 0 passes in two
    # of them (reward 1), task 1 fails in all three, task 2 passes in all three.
    records = []
    for trial in range(3):
        for record in raw:
            reward = {0: 0.0 if trial == 1 else 1.0, 1: 0.0, 2: 1.0}[record["task_id"]]
            info = copy.deepcopy(record["info"])
            info["reward_info"]["info"] = {"r_actions": reward}  # tau-bench's check, which decides
            records.append({**record, "trial": trial, "reward": reward, "info": info})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    selected = {s.example_id: s for s in FileTraceSource(path).select_failing(SelectionCriteria(limit=10))}
    assert set(selected) == {"0", "1"}
    assert selected["0"].trace_id == "tau-bench-task0-trial1"
    assert selected["0"].flaky_note == "flaky: failed 1 of 3 repetitions"
    assert sorted(selected["0"].passed_trace_ids) == ["tau-bench-task0-trial0", "tau-bench-task0-trial2"]
    assert selected["1"].flaky_note is None and selected["1"].failed_repetitions == 3
    assert selected["1"].reasons == ["tau-bench r_actions 0 (a pass needs 1)"]


PRODUCERS = {
    "langsmith-batch": "langsmith-batch",
    "mini-swe-agent": ("mini-swe-agent", "chat"),
    "swe-agent": "swe-agent",
    "openhands": "openhands",
    "otel-js-spans": "otel-js",
    "phoenix": "spans",
    "tau-bench": "tau-bench",
    "tau2-bench": "tau2-bench",
}


def test_every_shared_real_file_loads_as_its_producer_with_telling_ids(real_traces: Path) -> None:
    from refinery.trace.files import READERS, detect_format, read_json_document

    stand_ins = {r.name for r in READERS} | {"history", "trace"}
    for path in sorted(p for p in real_traces.glob("*/*") if p.suffix != ".md"):
        expected = PRODUCERS[path.parent.name]
        detected = detect_format(read_json_document(path))
        assert detected in (expected if isinstance(expected, tuple) else (expected,)), path.name
        traces = load_trace_files(path)
        ids = [t.id for t in traces]
        assert len(set(ids)) == len(ids) and not set(ids) & stand_ins, (path.name, ids)


def test_an_unknown_format_names_every_format_and_what_it_expects(tmp_path: Path) -> None:
    from refinery.trace.files import READERS

    path = tmp_path / "odd.json"
    path.write_text('{"foo": 1}')
    with pytest.raises(TraceFormatError) as caught:
        load_trace_files(path)
    line = caught.value.one_line()
    assert "keys foo" in line and all(f"{r.name} ({r.expects})" in line for r in READERS)


def test_a_swe_agent_0x_trajectory_without_message_types_loads_its_actions_as_tool_calls(
    real_traces: Path, tmp_path: Path
) -> None:
    data = json.loads((real_traces / "swe-agent" / "6e44b9__sweagenttestrepo-1c2844.traj").read_text())
    for message in data["history"]:
        message.pop("message_type", None)  # the 0.x shape: role and content only
    path = tmp_path / "old-run.traj"
    path.write_text(json.dumps(data))
    [trace] = load_trace_files(path)
    assert trace.source == "file:swe-agent" and trace.id == "old-run"
    tools = [r for r in trace.runs if r.run_type == "tool"]
    steps = data["trajectory"]
    assert [t.inputs["command"] for t in tools] == [step["action"] for step in steps]
    # Each action with the observation that came back, and the thought that led to it.
    assert [t.outputs for t in tools] == [{"output": step["observation"]} for step in steps]
    llms = [r for r in trace.runs if r.run_type == "llm"]
    assert [r.outputs["content"] for r in llms if r.outputs] == [s.get("thought") or s.get("response") for s in steps]
    system = next(m["content"] for m in data["history"] if m.get("role") == "system")
    assert all(r.inputs == {"system": system} for r in llms)
    task = next(m["content"] for m in data["history"] if m.get("role") == "user")
    assert trace.root.inputs == {"task": task}
    assert detect_format(data) == "swe-agent"  # not the multi-agent history it also looks like
    # A step that kept only its raw response: that is its thought.
    data["trajectory"][0].pop("thought", None)
    data["trajectory"][0]["response"] = "I will look for the file first."
    path.write_text(json.dumps(data))
    [again] = load_trace_files(path)
    first = next(r for r in again.runs if r.run_type == "llm")
    assert first.outputs is not None and first.outputs["content"] == "I will look for the file first."


def test_otlp_attribute_values_of_every_kind_are_read_as_written() -> None:
    from refinery.trace.files.otlp import _any_value

    kvlist = {"values": [{"key": "a", "value": {"intValue": "7"}}, {"key": "b", "value": {"boolValue": False}}]}
    assert _any_value({"stringValue": "x"}) == "x"
    assert _any_value({"intValue": "9007199254740993"}) == 9007199254740993  # int64 as a string, exactly
    assert _any_value({"doubleValue": 0.25}) == 0.25 and _any_value({"boolValue": True}) is True
    assert _any_value({"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 2}]}}) == ["a", 2]
    assert _any_value({"arrayValue": None}) == [] and _any_value({"kvlistValue": None}) == {}
    assert _any_value({"kvlistValue": kvlist}) == {"a": 7, "b": False}
    assert _any_value({"bytesValue": "aGk="}) == "aGk=" and _any_value({}) is None and _any_value(3) == 3


def test_a_refinery_trace_that_does_not_validate_names_the_field_and_how_to_remake_it(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"id": "t", "source": "file", "runs": [{"id": "r", "name": 5}]}))
    with pytest.raises(TraceFormatError) as caught:
        load_trace_files(path)
    assert "Not a valid Refinery trace: runs.0." in str(caught.value)
    assert caught.value.hint == "Re-create it with `refinery fetch --out`."
    path.write_text(json.dumps({"id": "t", "source": "file", "runs": []}))
    with pytest.raises(TraceFormatError, match="The Refinery trace has no runs") as empty:
        load_trace_files(path)
    assert empty.value.hint == "Re-create it with `refinery fetch --out`."


def test_langsmith_feedback_keeps_its_key_score_value_comment_source_and_run() -> None:
    from refinery.trace.files.langsmith_export import feedback_from_langsmith

    item = {
        "key": "correctness",
        "score": 0,
        "value": "wrong",
        "comment": "expected 7",
        "feedback_source": {"type": "model"},
        "source": "api",
        "run_id": "0f0e",
    }
    got = feedback_from_langsmith(item)
    assert (got.key, got.score, got.value, got.comment, got.source, got.run_id) == (
        "correctness",
        0.0,
        "wrong",
        "expected 7",
        "model",
        "0f0e",
    )
    bare = feedback_from_langsmith({"score": True, "source": "api", "feedback_source": "n/a"})
    assert (bare.key, bare.score, bare.source, bare.run_id, bare.invalid_score) == ("unnamed", 1.0, "api", None, None)
    assert feedback_from_langsmith({"key": "k", "score": "high"}).invalid_score == "high"


def test_openhands_events_keep_each_action_its_observation_its_response_and_the_cost(real_traces: Path) -> None:
    raw = json.loads((real_traces / "openhands" / "basic.json").read_text())
    task, edit, observed, finish = raw
    [trace] = load_trace_files(real_traces / "openhands" / "basic.json")
    assert trace.root.inputs == {"task": task["message"]} and trace.root.outputs == {"output": finish["message"]}
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert [r.name for r in tools] == ["str_replace_editor", "finish"]
    run = tools[0]
    assert run.inputs == edit["args"] and run.outputs == {"output": observed["content"], "extras": observed["extras"]}
    assert run.metadata["tool_call_id"] == edit["tool_call_metadata"]["tool_call_id"]
    assert (run.metadata["action"], run.metadata["event_id"], run.status) == ("edit", "3", "success")
    assert run.start_time is not None and run.end_time is not None and run.end_time > run.start_time
    response = edit["tool_call_metadata"]["model_response"]
    llms = [r for r in trace.runs if r.run_type == "llm"]
    assert len(llms) == 2  # one per model response, not per action
    assert llms[0].outputs == {"content": response["choices"][0]["message"]["content"]}
    assert llms[0].model == response["model"]
    assert llms[0].total_tokens == response["usage"]["total_tokens"]
    # The same stream where the edit failed, its observation paired by tool-call id alone, and a cost.
    failed = copy.deepcopy(raw)
    failed[2] = {**observed, "observation": "error", "content": "ERROR: permission denied", "cause": None}
    failed.insert(3, {"id": 99, "source": "environment", "observation": "agent_state_changed", "cause": 42})
    failed[-1]["llm_metrics"] = {"accumulated_cost": 0.0123}
    failed[1]["llm_metrics"] = {"accumulated_cost": 0.005}
    from refinery.trace.files.openhands import load_openhands

    [broken] = load_openhands(failed)
    edit_run = next(r for r in broken.runs if r.name == "str_replace_editor")
    assert edit_run.error == "ERROR: permission denied" and edit_run.status == "error"
    assert broken.root.cost == 0.0123 and len(broken.runs) == len(trace.runs)


@pytest.mark.parametrize(
    "path",
    [
        "swe-agent/function_calling_simple.traj",
        "swe-agent/humanevalfix-python-0.traj",
        "swe-agent/6e44b9__sweagenttestrepo-1c2844.traj",
    ],
)
def test_swe_agent_actions_keep_their_thought_command_arguments_and_observation(real_traces: Path, path: str) -> None:
    raw = json.loads((real_traces / path).read_text())
    [trace] = load_trace_files(real_traces / path)
    history = raw["history"]
    system = next(m["content"] for m in history if m["message_type"] == "system_prompt")
    actions = [(i, m) for i, m in enumerate(history) if m["message_type"] == "action"]
    llms = [r for r in trace.runs if r.run_type == "llm"]
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert len(llms) == len(actions)
    for (index, message), llm, tool in zip(actions, llms, tools, strict=True):
        assert llm.inputs == {"system": system} and llm.agent == message["agent"] == tool.agent
        assert llm.outputs == {"content": message.get("thought") or message.get("content"), "action": message["action"]}
        calls = message.get("tool_calls") or []
        name = calls[0]["function"]["name"] if calls else message["action"].split()[0]
        assert tool.name == name and tool.inputs["command"] == message["action"]
        if calls:
            assert tool.inputs["arguments"] == json.loads(calls[0]["function"]["arguments"])
            assert tool.metadata["tool_call_id"] == calls[0]["id"]
        following = history[index + 1] if index + 1 < len(history) else None
        if following is not None and following["message_type"] == "observation":
            assert tool.outputs == {"output": following["content"]} and tool.status == "success"
    first_observation = next(m for m in history if m["message_type"] == "observation")
    assert trace.root.inputs == {"task": first_observation["content"]}
    info = raw.get("info", {})
    assert trace.root.outputs == ({"submission": info["submission"]} if info.get("submission") else None)
    assert trace.root.cost == info.get("model_stats", {}).get("instance_cost")
    if info.get("exit_status"):
        assert trace.feedback[0].score == (1.0 if info["exit_status"].startswith("submitted") else 0.0)
        assert "submission" not in trace.metadata and trace.metadata["exit_status"] == info["exit_status"]


@pytest.mark.parametrize(
    "path", ["mini-swe-agent/django__django-10914.traj.json", "mini-swe-agent/astropy__astropy-12907.traj.json"]
)
def test_mini_swe_agent_keeps_its_instance_verdict_submission_and_cost(real_traces: Path, path: str) -> None:
    raw = json.loads((real_traces / path).read_text())
    info = raw["info"]
    [trace] = load_trace_files(real_traces / path)
    assert trace.source == "file:mini-swe-agent"
    assert trace.root.outputs == {"submission": info["submission"]}
    assert trace.root.cost == info["model_stats"]["instance_cost"]
    [verdict] = trace.feedback
    assert (verdict.key, verdict.value, verdict.source) == ("exit_status", info["exit_status"], "mini-swe-agent")
    assert verdict.score == 1.0 and verdict.fails_below == 1.0  # "Submitted", in any case, is a submission
    assert trace.metadata["instance_id"] == raw["instance_id"]
    assert trace.metadata["trajectory_format"] == raw["trajectory_format"]
    assert trace.metadata["mini_version"] == info["mini_version"]
    assert "submission" not in trace.metadata and "config" not in trace.metadata
    stuck = {**raw, "info": {**info, "exit_status": "LimitsExceeded", "submission": ""}}
    from refinery.trace.files.mini_swe_agent import load_mini_swe_agent

    [failed] = load_mini_swe_agent(stuck)
    assert failed.feedback[0].score == 0.0 and failed.root.outputs != {"submission": ""}


def test_otel_js_spans_keep_exact_times_parents_by_either_field_events_and_errors(real_traces: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from refinery.trace.files.otel_js import load_otel_js

    raw = json.loads((real_traces / "otel-js-spans" / "ai-generateText-doGenerate.json").read_text())
    parent = copy.deepcopy(raw[0])
    child = copy.deepcopy(raw[0])
    trace_id, parent_id = parent["spanContext"]["traceId"], parent["spanContext"]["spanId"]
    child["name"] = "ai.toolCall"
    child["spanContext"] = {"traceId": trace_id, "spanId": "00000000000000c1"}
    child["parentSpanId"] = parent_id  # the JS SDK 1.x field
    child["status"] = {"code": 2, "message": "tool failed: timeout"}
    child["events"] = [{"name": "retry", "time": [1770131993, 5], "attributes": {"attempt": 2}}]
    child["kind"] = 2  # SpanKind.CLIENT
    grandchild = copy.deepcopy(child)
    grandchild["spanContext"] = {"traceId": trace_id, "spanId": "00000000000000c2"}
    grandchild.pop("parentSpanId")
    grandchild["parentSpanContext"] = {"traceId": trace_id, "spanId": "00000000000000c1"}  # the 2.x field
    grandchild["status"] = {"code": 1}
    grandchild["events"] = [{"name": "done", "time": None}]
    great = copy.deepcopy(child)  # a third level, linked by the 1.x field to a span that is not the root
    great["spanContext"] = {"traceId": trace_id, "spanId": "00000000000000c3"}
    great["parentSpanId"] = "00000000000000c2"
    great["name"] = "ai.toolCall.retry"
    [trace] = load_otel_js([parent, child, grandchild, great])
    assert next(r for r in trace.runs if r.name == "ai.toolCall.retry").parent_id == "00000000000000c2"
    runs = {r.name: r for r in trace.runs}
    seconds, nanos = parent["startTime"]
    start = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)
    assert runs["ai.generateText.doGenerate"].start_time == start
    tool_runs = [r for r in trace.runs if r.name == "ai.toolCall"]
    failed, fine = tool_runs
    assert failed.parent_id == trace.root.id and fine.parent_id == failed.id
    assert failed.is_error and "tool failed: timeout" in (failed.error or "") and not fine.is_error
    assert failed.events == [{"name": "retry", "time": str(1770131993 * 1_000_000_000 + 5), "attempt": 2}]
    assert fine.events == [{"name": "done", "time": ""}]  # no time recorded: none invented
    assert failed.metadata["otel.kind"] == 2
    # A span the exporter wrote without a status is not an error.
    [unset] = load_otel_js([{k: v for k, v in raw[1].items() if k != "status"}])
    assert unset.root.status == "success"


def test_phoenix_spans_keep_names_times_parents_and_text_and_the_console_shape_reads_alike(real_traces: Path) -> None:
    from datetime import datetime

    from refinery.trace.files.span_records import load_span_records

    raw = json.loads((real_traces / "phoenix/pxi_suggestion_traces.json").read_text())
    spans = raw["accepted_prompt_edit"]
    [trace] = [t for t in load_span_records({"data": spans}) if t.id == spans[0]["context"]["trace_id"]]
    by_span = {s["context"]["span_id"]: s for s in spans if s["context"]["trace_id"] == trace.id}
    assert len(trace.runs) == len(by_span)
    for run in trace.runs:
        span = by_span[run.id]
        assert run.name == span["name"]
        assert run.start_time == datetime.fromisoformat(span["start_time"])
        assert run.end_time == datetime.fromisoformat(span["end_time"])
    # The console exporter's form of one of them: 0x ids, status under "status", the kind as "kind".
    span = spans[1]
    console = {
        "name": span["name"],
        "context": {"trace_id": "0x" + span["context"]["trace_id"], "span_id": "0x" + span["context"]["span_id"]},
        "kind": span["span_kind"],
        "parent_id": None,
        "start_time": span["start_time"],
        "end_time": span["end_time"],
        "status": {"status_code": "ERROR", "description": "boom"},
        "attributes": span["attributes"],
        "events": [{"name": "exception", "timestamp": span["end_time"], "attributes": {"exception.message": "boom"}}],
    }
    [alone] = load_span_records([console])
    run = alone.runs[0]
    assert alone.id == span["context"]["trace_id"] and run.name == span["name"]
    assert run.is_error and "boom" in (run.error or "")
    assert run.events and run.events[0]["name"] == "exception"


def test_an_unreadable_file_says_where_and_what_it_holds(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "t",\n  "runs": [1, 2,,]}')
    with pytest.raises(TraceFormatError) as caught:
        load_trace_files(bad)
    assert f"{bad} is not valid JSON: Expecting value at line 2, column 17." in str(caught.value)
    assert caught.value.hint == "Give a JSON or JSONL trace file (optionally gzipped)."
    strange = tmp_path / "strange.json"
    keys = {f"k{n}": n for n in range(10)}
    for data, said in (
        (keys, "an object with keys k0, k1, k2, k3, k4, k5, k6, k7."),
        ([1, {"b": 1, "a": 2}], "a list of 2 items whose first object has keys a, b."),
        ([1, 2], "a list of 2 items."),
        ("text", "a JSON str."),
    ):
        strange.write_text(json.dumps(data))
        with pytest.raises(TraceFormatError, match=re.escape(f"Unknown trace format: the file holds {said}")):
            load_trace_files(strange)


def test_concatenated_json_values_are_read_one_after_another_with_whitespace_between(tmp_path: Path) -> None:
    from refinery.trace.files import _concatenated

    assert _concatenated(' {"a": 1}\n\n {"b": 2}  ') == [{"a": 1}, {"b": 2}]
    assert _concatenated("") == [] and _concatenated('{"a": 1} {') is None
    assert _concatenated(f'{{"n": {"9" * 40}}}') == [{"n": "9" * 40}]  # a huge integer kept as its digits


def test_tau2_tool_calls_keep_their_names_arguments_results_and_whose_they_are(real_traces: Path) -> None:
    from refinery.trace.roles import Roles

    path = real_traces / "tau2-bench/telecom-gpt-4o-first4.json"
    raw = json.loads(path.read_text())
    traces = {t.id: t for t in load_trace_files(path)}
    for sim in raw["simulations"]:
        trace = traces[sim["id"]]
        roles = Roles.of(trace)
        results = {m.get("id"): m.get("content") for m in sim["messages"] if m["role"] == "tool"}
        calls = [(m["role"], c) for m in sim["messages"] for c in (m.get("tool_calls") or [])]
        tools = [r for r in trace.runs if r.run_type == "tool"]
        for (role, call), run in zip(calls, tools, strict=True):
            assert run.name == call["name"]
            assert run.inputs.get("arguments", run.inputs) == (call.get("arguments") or {})
            assert (run.outputs or {}).get("output", run.error) == results.get(call["id"]) or run.is_error
            # The user simulator's own device actions are the user's, never the agent's.
            assert roles.acts(run) == (role == "assistant")


def test_a_span_tree_with_durations_instead_of_end_times_keeps_how_long_each_took() -> None:
    from datetime import timedelta

    from refinery.trace.files.otlp import load_otlp

    tree = {
        "trace_id": "t1",
        "spans": [
            {
                "span_id": "a",
                "name": "agent",
                "start_time": "2026-01-01T00:00:00Z",
                "duration": "PT1M2.5S",
                "child_spans": [
                    {"span_id": "b", "name": "search", "start_time": "2026-01-01T00:00:01Z", "duration": 2_500_000_000},
                    {"span_id": "c", "name": "long", "start_time": "2026-01-01T00:00:02Z", "duration": "P1DT2H"},
                    {"span_id": "d", "name": "unknown", "start_time": "2026-01-01T00:00:03Z", "duration": "soon"},
                ],
            }
        ],
    }
    [trace] = load_otlp(tree)
    took = {r.name: (r.end_time - r.start_time if r.end_time and r.start_time else None) for r in trace.runs}
    assert took["agent"] == timedelta(minutes=1, seconds=2.5)
    assert took["search"] == timedelta(seconds=2.5)  # nanoseconds
    assert took["long"] == timedelta(days=1, hours=2)
    assert took["unknown"] is None


def test_a_batch_patch_updates_its_post_field_by_field_and_one_for_an_earlier_batch_is_kept() -> None:
    from refinery.trace.files.langsmith_batch import merge_batch

    post = {"id": "r1", "name": "agent", "outputs": None, "extra": {"metadata": {"a": 1}}, "end_time": None}
    merged = merge_batch(
        {
            "post": [post, {"id": "r2", "name": "tool"}],
            "patch": [
                {"id": "r1", "outputs": {"output": "done"}, "extra": {"metadata": {"b": 2}}, "end_time": None},
                {"id": "r9", "outputs": {"output": "late"}},  # posted in an earlier batch
            ],
        }
    )
    assert merged[0] == {
        "id": "r1",
        "name": "agent",
        "outputs": {"output": "done"},
        "extra": {"metadata": {"b": 2}},  # a dict value replaces the field's keys it names, one level deep
        "end_time": None,  # None in a patch leaves the field as posted
    }
    assert merged[1] == {"id": "r2", "name": "tool"} and merged[2] == {"id": "r9", "outputs": {"output": "late"}}
    assert post["outputs"] is None  # the payload itself is not changed
    # A patch without an id applies to the posts in order.
    [first] = merge_batch({"post": [{"name": "a"}], "patch": [{"outputs": {"x": 1}}]})
    assert first == {"name": "a", "outputs": {"x": 1}}


def test_an_openhands_conversation_keeps_each_agent_message_and_its_finish(real_traces: Path) -> None:
    from refinery.trace.files.openhands import load_openhands

    raw = json.loads((real_traces / "openhands" / "basic_interactions.json").read_text())
    [trace] = load_openhands(raw)
    assert (trace.id, trace.root.name, trace.source) == ("openhands", "openhands", "file:openhands")
    assert trace.root.inputs == {"task": raw[0]["message"]}  # the first user message is the task
    agent_messages = [e for e in raw if e["source"] == "agent"]
    llms = [r for r in trace.runs if r.run_type == "llm"]
    assert [r.name for r in llms] == ["agent"] * len(agent_messages)
    assert [r.outputs["content"] for r in llms if r.outputs][:2] == [e["message"] for e in agent_messages[:2]]
    [finish] = [r for r in trace.runs if r.run_type == "tool"]
    assert (finish.name, finish.status, finish.inputs) == ("finish", "success", agent_messages[-1]["args"])
    assert trace.root.outputs == {"output": agent_messages[-1]["message"]}
    assert [r.start_time is not None for r in llms] == [True] * len(llms)


def test_tau2_simulations_keep_the_evaluators_reasons_the_task_and_the_run_facts(real_traces: Path) -> None:
    path = real_traces / "tau2-bench/telecom-gpt-4o-first4.json"
    raw = json.loads(path.read_text())
    traces = {t.id: t for t in load_trace_files(path)}
    tasks = {t["id"]: t for t in raw["tasks"]}
    for sim in raw["simulations"]:
        trace = traces[sim["id"]]
        info = sim["reward_info"]
        [reward] = trace.feedback
        assert (reward.key, reward.source, reward.fails_below, reward.composed) == ("reward", "tau2-bench", 1.0, True)
        assert reward.run_id == trace.root.id
        expected_reasons = []
        if isinstance(info.get("db_check"), dict):
            matched = info["db_check"]["db_match"]
            expected_reasons.append(f"database {'matches' if matched else 'does not match'} the expected state")
        expected_reasons += [
            f"unmet: {c['env_assertion']['func_name']}"
            for c in info.get("env_assertions") or []
            if c.get("met") is False
        ]
        expected_reasons += [
            f"expected action not taken: {c['action']['name']}"
            for c in info.get("action_checks") or []
            if c.get("action_match") is False
        ]
        assert reward.comment == ("; ".join(expected_reasons) or None)
        instructions = tasks[sim["task_id"]]["user_scenario"]["instructions"]
        assert trace.metadata["question"] == (
            instructions if isinstance(instructions, str) else json.dumps(instructions)
        )
        assert (trace.metadata["task_id"], trace.metadata["trial"]) == (sim["task_id"], sim["trial"])
        for key in ("termination_reason", "agent_cost", "user_cost", "duration", "seed"):
            assert trace.metadata[key] == sim[key]
        assert trace.metadata["agent_info"] == raw["info"]["agent_info"]
        assert trace.root.cost == sim["agent_cost"] and trace.root.start_time is None
        assert trace.source == "file:tau2-bench"


def test_a_who_and_when_log_keeps_each_message_its_speaker_prompt_and_the_labels_apart() -> None:
    from tests.conftest import SHARED

    path = SHARED / "datasets" / "who-and-when" / "algorithm-generated" / "1.json"
    if not path.is_file():
        pytest.skip(f"../shared is absent: no Who&When logs at {path.parent} (set REFINERY_SHARED_DIR)")
    raw = json.loads(path.read_text())
    [trace] = load_trace_files(path)
    assert trace.id == raw["question_ID"] and trace.root.inputs == {"question": raw["question"]}
    steps = trace.runs[1:]
    assert len(steps) == len(raw["history"])
    for step, (run, msg) in enumerate(zip(steps, raw["history"], strict=True)):
        assert run.outputs == {"content": msg["content"]} and run.run_type == "agent"
        assert run.metadata["step"] == step and run.metadata["role"] == msg["role"]
        speaker = msg.get("name") or msg["role"]
        assert run.agent == speaker and run.name == speaker
        prompt = raw["system_prompt"].get(speaker)
        assert run.inputs == ({"system": prompt} if prompt else {})
    # The annotation is ground truth for scoring: kept as labels, never shown to the analysis.
    assert trace.labels["mistake_agent"] == raw["mistake_agent"] and "mistake_agent" not in trace.metadata
    assert trace.feedback[0].score == 0.0 and trace.feedback[0].comment == f"Expected answer: {raw['ground_truth']}"


def test_each_tau_bench_record_keeps_its_reward_checks_expected_actions_and_task(real_traces: Path) -> None:
    raw = json.loads((real_traces / TAU).read_text())
    for record, trace in zip(raw, load_trace_files(real_traces / TAU), strict=True):
        info, task = record["info"], record["info"]["task"]
        assert trace.id == f"tau-bench-task{record['task_id']}-trial{record['trial']}"
        assert trace.source == "file:tau-bench" and trace.root.name == f"task {record['task_id']}"
        reward, *checks = trace.feedback
        assert (reward.key, reward.score, reward.fails_below, reward.source) == (
            "reward",
            record["reward"],
            1.0,
            "tau-bench",
        )
        assert reward.run_id == trace.root.id and reward.composed and reward.informational
        recorded_checks = {k: v for k, v in info["reward_info"]["info"].items() if k.startswith("r_")}
        assert {c.key: c.score for c in checks} == recorded_checks
        assert all(c.fails_below == 1.0 and c.run_id == trace.root.id and c.composed and c.comment for c in checks)
        # The comment says what the reward is made of: the checks and the penalties, not the data hash.
        assert reward.comment is not None and reward.comment.startswith(f"reward {info['reward_info']['reward']}")
        for key, value in recorded_checks.items():
            assert f"{key}: {value}" in reward.comment
        assert "hash" not in reward.comment
        penalty = info["reward_info"]["components"]["efficiency_penalty"]
        assert f"efficiency_penalty {penalty:+g}" in reward.comment and "steps" not in reward.comment
        expected = {k: task[k] for k in ("actions", "outputs") if task[k]}
        assert trace.reference_outputs == (expected or None)
        assert trace.metadata["task_id"] == record["task_id"] and trace.metadata["trial"] == record["trial"]
        assert (trace.metadata["question"], trace.metadata["user_id"]) == (task["instruction"], task["user_id"])
        assert trace.metadata["source"] == info["source"] and trace.metadata["user_cost"] == info["user_cost"]
        assert "task" not in trace.metadata and "reward_info" not in trace.metadata


def test_a_tau_bench_record_without_trial_info_or_a_numeric_reward_still_loads_what_it_has(
    real_traces: Path, tmp_path: Path
) -> None:
    record = json.loads((real_traces / TAU).read_text())[8]
    bare = {"task_id": record["task_id"], "reward": "n/a", "traj": record["traj"]}
    path = tmp_path / "bare.json"
    path.write_text(json.dumps([bare]))
    (trace,) = load_trace_files(path)
    assert trace.id == f"tau-bench-task{record['task_id']}-trial0" and trace.metadata["trial"] == 0
    (reward,) = trace.feedback
    assert (reward.score, reward.invalid_score, reward.comment, reward.informational) == (None, "n/a", None, False)
    assert trace.reference_outputs is None and "question" not in trace.metadata and "user_id" not in trace.metadata


def _who_and_when(subset: str, name: str) -> Path:
    from tests.conftest import SHARED

    path = SHARED / "datasets" / "who-and-when" / subset / name
    if not path.is_file():
        pytest.skip(f"../shared is absent: no Who&When logs at {path.parent} (set REFINERY_SHARED_DIR)")
    return path


def test_a_hand_crafted_magentic_one_log_names_each_speaker_by_its_role_and_the_asker_as_the_user() -> None:
    path = _who_and_when("hand-crafted", "1.json")
    raw = json.loads(path.read_text())
    [trace] = load_trace_files(path)
    assert trace.id == raw["question_ID"] and trace.source == "file:history"
    assert (trace.root.name, trace.root.run_type) == ("task", "chain")
    steps = trace.runs[1:]
    for run, msg in zip(steps, raw["history"], strict=True):
        # "Orchestrator (thought)" and "Orchestrator (-> WebSurfer)" are one agent, the Orchestrator.
        assert run.agent == msg["role"].split(" (")[0].strip()
        assert run.metadata["role"] == msg["role"] and "name" not in run.metadata
        assert (run.actor == "user") == (msg["role"] == "human")
    assert steps[0].actor == "user" and steps[0].agent == "human"
    # is_corrected is this subset's verdict; the expected answer is the reference.
    (verdict,) = trace.feedback
    assert (verdict.key, verdict.score, verdict.source) == ("correctness", float(raw["is_corrected"]), "dataset")
    assert trace.reference_outputs == {"answer": raw["ground_truth"]}
    assert set(trace.labels) == {"mistake_agent", "mistake_step", "mistake_reason"}
    assert trace.metadata == {"question": raw["question"], "question_ID": raw["question_ID"]}
    # "Orchestrator (-> WebSurfer)" records whom the message is for; "(thought)" records no one.
    addressed = {m["role"].split("(-> ")[1].rstrip(")").strip() for m in raw["history"] if "(-> " in m["role"]}
    assert addressed and {r.addressee for r in steps if r.addressee} == addressed
    assert all((r.addressee is None) == ("(-> " not in m["role"]) for r, m in zip(steps, raw["history"], strict=True))
    # The harness printed the run's answer in GAIA's template, on a line of the last message.
    lines = raw["history"][-1]["content"].splitlines()
    answer = next(line for line in reversed(lines) if line.startswith("FINAL ANSWER:")).removeprefix("FINAL ANSWER:")
    assert trace.root.outputs == {"answer": answer.strip()}
    # A transcript has no times by nature: no warning says they are missing.
    assert not [w for w in trace.warnings if w.code == "missing_time"]


def test_an_algorithm_generated_log_keeps_each_speakers_name_and_lists_the_agents_with_prompts() -> None:
    path = _who_and_when("algorithm-generated", "1.json")
    raw = json.loads(path.read_text())
    [trace] = load_trace_files(path)
    assert trace.metadata["agents"] == sorted(raw["system_prompt"]) and trace.metadata["level"] == raw["level"]
    # The prompts are the agents' inputs and the verdict is feedback: neither is repeated as metadata.
    assert not {"system_prompt", "is_correct", "ground_truth", "history"} & set(trace.metadata)
    for run, msg in zip(trace.runs[1:], raw["history"], strict=True):
        assert run.metadata["name"] == msg["name"]
        # A named speaker with the user role is an agent of the group, not the person who asked.
        assert run.actor != "user"


def test_a_history_without_question_id_or_verdict_takes_its_id_and_says_no_verdict(tmp_path: Path) -> None:
    log = {"id": "run-7", "history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log))
    [trace] = load_trace_files(path)
    assert trace.id == "run-7" and trace.root.inputs == {} and trace.feedback == []
    assert trace.reference_outputs is None and trace.runs[1].actor == "user"
    del log["id"]
    log["is_correct"] = True
    path.write_text(json.dumps(log))
    [trace] = load_trace_files(path)
    assert trace.id == "log"  # no id of its own: the file names it
    assert [(f.score, f.comment) for f in trace.feedback] == [(1.0, None)]


def test_a_swe_agent_trajectory_keeps_its_instance_each_steps_place_and_its_verdict(
    real_traces: Path, tmp_path: Path
) -> None:
    data = json.loads((real_traces / "swe-agent" / "6e44b9__sweagenttestrepo-1c2844.traj").read_text())
    data["instance_id"] = "sweagent__testrepo-1"
    path = tmp_path / "run.traj"
    path.write_text(json.dumps(data))
    [trace] = load_trace_files(path)
    assert trace.id == "sweagent__testrepo-1" and trace.root.id == "sweagent__testrepo-1"
    assert (trace.root.name, trace.root.run_type) == ("swe-agent", "chain")
    actions = [i for i, m in enumerate(data["history"]) if m["message_type"] == "action"]
    llms = [r for r in trace.runs if r.run_type == "llm"]
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert [r.metadata["message_index"] for r in llms] == actions == [r.metadata["message_index"] for r in tools]
    assert all(r.name == r.agent == data["history"][r.metadata["message_index"]]["agent"] for r in llms)
    stats = data["info"]["model_stats"]
    assert (trace.root.prompt_tokens, trace.root.completion_tokens) == (stats["tokens_sent"], stats["tokens_received"])
    assert trace.root.total_tokens == stats["tokens_sent"] + stats["tokens_received"]
    (verdict,) = trace.feedback
    assert (verdict.key, verdict.score, verdict.value) == ("exit_status", 1.0, "submitted")
    assert (verdict.source, verdict.fails_below) == ("swe-agent", 1.0)
    # An exit other than a submission fails the run; tokens only received still add up.
    data["info"]["exit_status"] = "exit_format"
    data["info"]["model_stats"] = {"tokens_sent": 0, "tokens_received": 12}
    data["info"].pop("instance_id", None)
    data["info"]["instance_id"] = data.pop("instance_id")
    path.write_text(json.dumps(data))
    [failed] = load_trace_files(path)
    assert failed.id == "sweagent__testrepo-1" and [f.score for f in failed.feedback] == [0.0]
    assert (failed.root.prompt_tokens, failed.root.completion_tokens, failed.root.total_tokens) == (None, 12, 12)
    assert not any(w.code == "missing_time" for w in failed.warnings)  # a trajectory records no times


def test_swe_agent_tool_calls_written_as_a_repr_or_with_unparsed_arguments_keep_what_they_hold(
    real_traces: Path, tmp_path: Path
) -> None:
    data = json.loads((real_traces / "swe-agent" / "function_calling_simple.traj").read_text())
    first, second = [m for m in data["history"] if m["message_type"] == "action"][:2]
    first["tool_calls"] = repr(first["tool_calls"])  # how some versions stored them
    second["tool_calls"][0]["function"]["arguments"] = "not json {"
    path = tmp_path / "calls.traj"
    path.write_text(json.dumps(data))
    [trace] = load_trace_files(path)
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert tools[0].name == eval(first["tool_calls"])[0]["function"]["name"]
    assert tools[0].inputs["arguments"] == json.loads(eval(first["tool_calls"])[0]["function"]["arguments"])
    assert tools[1].inputs["arguments"] == {"arguments": "not json {"}
    second["tool_calls"][0]["function"]["arguments"] = ["a", "list"]
    first["tool_calls"] = "[{'broken'"
    path.write_text(json.dumps(data))
    [again] = load_trace_files(path)
    tools = [r for r in again.runs if r.run_type == "tool"]
    assert tools[1].inputs["arguments"] == {}
    # An unreadable repr is no tool call: the action itself is the command run.
    assert tools[0].name == first["action"].split()[0] and "arguments" not in tools[0].inputs


def test_a_swe_agent_0x_trajectory_without_a_system_prompt_or_task_still_loads_its_steps(
    real_traces: Path, tmp_path: Path
) -> None:
    data = json.loads((real_traces / "swe-agent" / "6e44b9__sweagenttestrepo-1c2844.traj").read_text())
    data["history"] = [
        {"role": "assistant", "content": m["content"]} for m in data["history"] if m["role"] == "assistant"
    ]
    path = tmp_path / "bare.traj"
    path.write_text(json.dumps(data))
    [trace] = load_trace_files(path)
    llms = [r for r in trace.runs if r.run_type == "llm"]
    assert len(llms) == len(data["trajectory"]) and all(r.inputs == {} for r in llms)
    assert trace.root.inputs == {}
    assert [r.name for r in llms] == ["assistant"] * len(llms)


def test_an_openhands_stream_keeps_each_steps_event_its_unanswered_tools_and_its_last_word(real_traces: Path) -> None:
    from refinery.trace.files.openhands import load_openhands

    raw = json.loads((real_traces / "openhands" / "basic.json").read_text())
    task, edit, observed, finish = raw
    [trace] = load_openhands(raw)
    assert trace.root.run_type == "chain"
    llms = [r for r in trace.runs if r.run_type == "llm"]
    assert [r.metadata["event_id"] for r in llms] == [str(edit["id"]), str(finish["id"])]
    response = edit["tool_call_metadata"]["model_response"]
    assert llms[0].id == f"openhands:llm:{response['id']}"
    # Two actions from one model response are one LLM step; without a response id each action is its own.
    twin = {**copy.deepcopy(edit), "id": 30}
    twin["tool_call_metadata"]["tool_call_id"] = "toolu_twin"
    [again] = load_openhands([task, edit, twin, observed, finish])
    assert sum(r.run_type == "llm" for r in again.runs) == len(llms)
    twin_run = next(r for r in again.runs if r.metadata.get("event_id") == "30" and r.run_type == "tool")
    assert twin_run.status == "pending" and twin_run.outputs is None  # no observation came back for it
    bare = copy.deepcopy(edit)
    del bare["tool_call_metadata"]["model_response"]
    bare["args"] = "raw argument text"
    answer = {"id": 7, "source": "agent", "action": "message", "message": "The game is written.", "args": {}}
    [other] = load_openhands([task, bare, observed, answer])
    assert [r.id for r in other.runs if r.run_type == "llm"] == [
        "openhands:llm:openhands:e3",
        "openhands:llm:openhands:e7",
    ]
    tool = next(r for r in other.runs if r.run_type == "tool")
    assert tool.inputs == {"args": "raw argument text"}
    # A stream that ends in the agent's message, with no finish: that message is its answer.
    assert other.root.outputs == {"output": "The game is written."}
    # An error observation with no text still fails its tool, and says it was an error.
    failing = {**observed, "observation": "error", "content": ""}
    [broken] = load_openhands([task, edit, failing, finish])
    edit_run = next(r for r in broken.runs if r.name == "str_replace_editor")
    assert (edit_run.status, edit_run.error) == ("error", "error")


def test_tau2s_domain_policy_is_the_agents_system_prompt_unless_the_simulation_wrote_its_own(real_traces: Path) -> None:
    from refinery.trace.files.tau2_bench import load_tau2_bench

    raw = json.loads((real_traces / "tau2-bench/telecom-gpt-4o-first4.json").read_text())
    policy = raw["info"]["environment_info"]["policy"]
    trace = load_tau2_bench(raw)[0]
    sim = raw["simulations"][0]
    assert trace.root.name == f"task {sim['task_id']}" and trace.root.metadata["system_prompt"] == policy
    agent_steps = [r for r in trace.runs if r.run_type == "llm" and r.name == "assistant"]
    assert agent_steps and all(r.inputs["system"] == policy for r in agent_steps)
    # The policy is read as the transcript's first message, in front of the simulation's own.
    assert agent_steps[0].metadata["message_index"] == 1 + next(
        i for i, m in enumerate(sim["messages"]) if m["role"] == "assistant"
    )
    own = copy.deepcopy(raw)
    own["simulations"][0]["messages"].insert(1, {"role": "system", "content": "Be brief."})
    [mine, *_] = load_tau2_bench(own)
    assert mine.root.metadata["system_prompt"] == "Be brief."
    none = copy.deepcopy(raw)
    none["info"]["environment_info"]["policy"] = "   "
    [bare, *_] = load_tau2_bench(none)
    assert "system_prompt" not in bare.root.metadata
    assert all("system" not in r.inputs for r in bare.runs if r.run_type == "llm")


def test_a_tau2_simulation_without_id_trial_or_known_task_is_named_by_its_task_and_has_no_reference(
    real_traces: Path,
) -> None:
    from refinery.trace.files.tau2_bench import load_tau2_bench

    raw = json.loads((real_traces / "tau2-bench/telecom-gpt-4o-first4.json").read_text())
    sim = copy.deepcopy(raw["simulations"][0])
    del sim["id"], sim["trial"]
    sim["task_id"] = "unlisted"
    sim["reward_info"] = None
    [trace] = load_tau2_bench({"simulations": [sim], "tasks": raw["tasks"], "info": raw["info"]})
    assert trace.id == "tau2-unlisted-trial0" and trace.metadata["trial"] == 0
    assert trace.reference_outputs is None and "question" not in trace.metadata
    assert [(f.score, f.comment) for f in trace.feedback] == [(None, None)]


def test_phoenix_spans_keep_their_parents_kinds_and_status_and_the_console_shape_its_own(real_traces: Path) -> None:
    from datetime import datetime

    from refinery.trace.files.span_records import load_span_records

    raw = json.loads((real_traces / "phoenix/pxi_suggestion_traces.json").read_text())
    spans = raw["accepted_prompt_edit"]
    [trace] = [t for t in load_span_records({"data": spans}) if t.id == spans[0]["context"]["trace_id"]]
    by_span = {s["context"]["span_id"]: s for s in spans}
    for run in trace.runs:
        span = by_span[run.id]
        assert run.parent_id == span["parent_id"]
        assert run.run_type == span["span_kind"].lower()  # AGENT, LLM, TOOL
        assert run.status == "success" and run.metadata["otel.span_kind"] == span["span_kind"]
        # Phoenix keeps the OpenInference kind beside the attributes; the run carries it as one.
        assert run.metadata["openinference.span.kind"] == span["span_kind"]
    # A kind the attributes already state is theirs, not overwritten by the record's.
    stated = {**spans[1], "attributes": {**(spans[1].get("attributes") or {}), "openinference.span.kind": "RETRIEVER"}}
    [own] = load_span_records([stated])
    assert own.runs[0].metadata["openinference.span.kind"] == "RETRIEVER"

    # The console exporter's records: 0x-prefixed ids and parent, the status and its description nested,
    # the kind as "kind", an event with its time.
    def console(span: dict[str, Any], **changes: Any) -> dict[str, Any]:
        record = {
            "name": span["name"],
            "context": {k: "0x" + v for k, v in span["context"].items()},
            "kind": "SpanKind.INTERNAL",
            "parent_id": "0x" + span["parent_id"] if span["parent_id"] else None,
            "start_time": span["start_time"],
            "end_time": span["end_time"],
            "status": {"status_code": "UNSET"},
            "attributes": span["attributes"],
        }
        return {**record, **changes}

    root, span = spans[0], spans[2]
    failing = console(
        span,
        status={"status_code": "ERROR", "description": "tool timed out"},
        events=[{"name": "retry", "timestamp": span["start_time"]}],
    )
    below = console(spans[3], parent_id="0x" + span["context"]["span_id"])  # a child of the child, not the root
    [pair] = load_span_records([console(root), failing, below])
    run = next(r for r in pair.runs if r.id == span["context"]["span_id"])
    assert run.parent_id == span["parent_id"] == root["context"]["span_id"]
    assert next(r for r in pair.runs if r.id == spans[3]["context"]["span_id"]).parent_id == run.id
    assert run.status == "error" and run.error == "tool timed out"
    assert run.metadata["otel.span_kind"] == "SpanKind.INTERNAL"
    assert "openinference.span.kind" not in run.metadata  # the console record has no OpenInference kind
    assert [e["name"] for e in run.events] == ["retry"]
    assert datetime.fromisoformat(run.events[0]["time"]) == datetime.fromisoformat(span["start_time"])
    # A span's status message written beside its code (Phoenix) is its error too.
    flat = {**span, "status_code": "ERROR", "status_message": "rate limited"}
    [again] = load_span_records([flat])
    assert [r.error for r in again.runs if r.id == span["context"]["span_id"]] == ["rate limited"]


def test_the_tau2_user_simulators_tokens_and_cost_are_not_counted_as_the_agents(real_traces: Path) -> None:
    from refinery.trace.files.tau2_bench import load_tau2_bench

    raw = json.loads((real_traces / "tau2-bench/telecom-gpt-4o-first4.json").read_text())
    sim = raw["simulations"][0]
    [trace, *_] = load_tau2_bench(raw)
    simulator = [r for r in trace.runs if r.name == "user_simulator"]
    assert simulator and all(r.prompt_tokens is None and r.cost is None for r in simulator)
    # tau2's calls are kept in OpenAI's form, as every reader writes them: {id, type, function}.
    written = [c for r in simulator for c in (r.outputs or {}).get("tool_calls") or []]
    assert written and all(set(c) == {"id", "type", "function"} and c["type"] == "function" for c in written)
    agent_cost = sum(m.get("cost") or 0 for m in sim["messages"] if m["role"] == "assistant")
    assert sum(r.cost or 0 for r in trace.runs if r.run_type == "llm") == pytest.approx(agent_cost)
    # A user message with an empty list of tool calls is still the user speaking, not the simulator acting.
    quiet = copy.deepcopy(raw)
    first_user = next(m for m in quiet["simulations"][0]["messages"] if m["role"] == "user")
    first_user["tool_calls"] = []
    [again, *_] = load_tau2_bench(quiet)
    assert sum(r.name == "user_simulator" for r in again.runs) == len(simulator)


def test_a_mini_swe_agent_file_without_instance_or_stats_is_named_by_the_file_and_claims_no_verdict(
    real_traces: Path, tmp_path: Path
) -> None:
    data = json.loads((real_traces / "mini-swe-agent/django__django-10914.traj.json").read_text())
    data.pop("instance_id", None)
    data["info"]["exit_status"] = None
    data["info"]["model_stats"] = "n/a"
    path = tmp_path / "local-run.traj.json"
    path.write_text(json.dumps(data))
    [trace] = load_trace_files(path)
    assert trace.root.name == "mini-swe-agent" and trace.source == "file:mini-swe-agent"
    assert trace.id == "local-run" and trace.feedback == [] and trace.root.cost is None


def test_gen_ai_system_instructions_read_as_the_text_of_their_parts() -> None:
    from refinery.trace.files.genai import system_text

    parts = [{"type": "text", "content": "You are TravelBot."}, {"type": "text", "content": "Cite fares."}]
    assert system_text(parts) == "You are TravelBot.\nCite fares."
    assert system_text(json.dumps(parts)) == "You are TravelBot.\nCite fares."  # as an attribute string
    assert system_text([{"type": "text"}, {"type": "text", "content": "x"}]) == "\nx"
    mixed = [{"type": "text", "content": "a"}, {"type": "image", "uri": "i.png"}]
    assert system_text(mixed) == mixed  # not all text: kept as written
    assert system_text("plain prompt") == "plain prompt"


def test_a_named_trace_missing_from_a_file_lists_what_the_file_holds(real_traces: Path) -> None:
    from refinery.errors import TraceNotFound
    from refinery.trace.files import load_trace_file

    path = real_traces / TAU
    ids = [t.id for t in load_trace_files(path)]
    with pytest.raises(TraceNotFound) as missing:
        load_trace_file(path, trace_id="nope")
    assert missing.value.hint == f"It holds: {', '.join(ids[:10])}."
    with pytest.raises(TraceFormatError) as several:
        load_trace_file(path)
    assert several.value.hint == f"Choose one with --trace-id (for example {ids[0]})."
    assert load_trace_file(path, trace_id=ids[3]).id == ids[3]


@pytest.mark.parametrize(
    ("payload", "is_batch"),
    [
        ({"post": [{"id": "a"}]}, True),
        ({"patch": [{"id": "a"}]}, True),
        ({"post": [], "patch": []}, False),
        ({"post": [{"id": "a"}], "patch": "later"}, False),
        ({"post": [{"id": "a"}, "b"]}, False),
        ({"post": [{"id": "a"}], "runs": []}, False),
    ],
)
def test_a_batch_payload_is_posts_or_patches_of_run_objects_and_nothing_else(payload: dict, is_batch: bool) -> None:
    from refinery.trace.files.langsmith_batch import is_langsmith_batch

    assert is_langsmith_batch(payload) is is_batch
    assert is_langsmith_batch([payload, payload]) is is_batch


def test_a_span_tree_gives_children_their_nesting_parent_unless_they_name_their_own() -> None:
    from refinery.trace.files.otlp import load_otlp

    tree = {
        "trace_id": "t1",
        "spans": [
            "not a span",
            {
                "span_id": "a",
                "name": "agent",
                "child_spans": [
                    {"span_id": "b", "name": "plan", "child_spans": [{"span_id": "c", "name": "search"}]},
                    {"span_id": "d", "name": "answer", "parent_span_id": "b"},
                ],
            },
        ],
    }
    [trace] = load_otlp(tree)
    assert {r.id: r.parent_id for r in trace.runs} == {"a": None, "b": "a", "c": "b", "d": "b"}
    assert trace.id == "t1" and all(r.trace_id == "t1" for r in trace.runs)


def test_chat_token_counts_keep_zero_and_refuse_what_cannot_be_a_count() -> None:
    def tokens(prompt: Any) -> Any:
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello", "usage": {"prompt_tokens": prompt, "completion_tokens": 0}},
        ]
        [trace] = load_chat({"messages": messages})
        step = next(r for r in trace.runs if r.run_type == "llm")
        return step.prompt_tokens, step.completion_tokens

    assert tokens(12) == (12, 0)
    assert tokens(10**12 - 1) == (10**12 - 1, 0)
    assert tokens(10**12) == (None, 0)
    assert tokens(-1) == (None, 0)
    assert tokens(True) == (None, 0)
    assert tokens("12") == (None, 0)


def test_a_speaker_is_named_by_name_else_its_role_without_the_parenthesis_else_unknown() -> None:
    from refinery.trace.files.chat import agent_of

    assert agent_of({"name": "Planner", "role": "assistant"}) == "Planner"
    assert agent_of({"role": "Orchestrator (-> WebSurfer)"}) == "Orchestrator"
    assert agent_of({"role": "WebSurfer"}) == "WebSurfer"
    assert agent_of({"role": "(thought)"}) == "(thought)"  # nothing outside the parenthesis: kept whole
    assert agent_of({}) == "unknown"


def test_console_records_with_numbers_json_cannot_hold_keep_them_as_written(tmp_path: Path) -> None:
    record = {"name": "s", "context": {"trace_id": "0x01", "span_id": "0x02"}, "parent_id": None}
    # Pretty-printed one after another, as the console exporter writes them: not JSONL.
    first = json.dumps({**record, "attributes": {"score": "@NaN", "big": "@1e400"}}, indent=4)
    text = (
        first.replace('"@NaN"', "NaN").replace('"@1e400"', "1e400")
        + "\n"
        + json.dumps({**record, "context": {"trace_id": "0x01", "span_id": "0x03"}, "parent_id": "0x02"}, indent=4)
    )
    path = tmp_path / "console.txt"
    path.write_text(text)
    [trace] = load_trace_files(path)
    first = next(r for r in trace.runs if r.id == "02")
    assert (first.metadata["score"], first.metadata["big"]) == ("NaN", "1e400")


@pytest.mark.parametrize("marker", ["run_type", "child_runs", "dotted_order"])
def test_a_run_record_is_recognised_as_langsmith_by_any_field_only_langsmith_writes(marker: str) -> None:
    record = {"id": "r1", "name": "agent", "trace_id": "r1", marker: [] if marker == "child_runs" else "chain"}
    assert detect_format([record]) == "langsmith"
    assert detect_format({"runs": [record]}) == "langsmith"


def test_gen_ai_parts_messages_read_as_chat_messages_with_nothing_dropped() -> None:
    from refinery.trace.files.genai import normalize_messages

    assistant = {
        "role": "assistant",
        "finish_reason": "tool_call",
        "parts": [
            {"type": "reasoning", "content": "The user wants a fare."},
            {"type": "reasoning"},
            {"type": "text", "content": "Let me search."},
            "stray",
            {"type": "text"},
            {"type": "tool_call", "id": "c1", "name": "search", "arguments": {"to": "JFK"}},
            {"type": "tool_call", "id": "c2", "name": "lookup", "arguments": '{"raw": true}'},
            {"type": "tool_call", "id": "c3", "name": "now"},
            {"type": "uri", "uri": "https://x/y.png", "modality": "image"},
        ],
    }
    [message] = normalize_messages(json.dumps([assistant])) or []
    assert message["role"] == "assistant" and message["finish_reason"] == "tool_call"
    assert message["reasoning"] == "The user wants a fare.\n"
    assert message["content"] == 'Let me search.\n\n{"type": "uri", "uri": "https://x/y.png", "modality": "image"}'
    assert all(c["type"] == "function" for c in message["tool_calls"])  # OpenAI's form, as every reader writes it
    assert [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]
    ] == [
        ("c1", "search", {"to": "JFK"}),
        ("c2", "lookup", {"raw": True}),
        ("c3", "now", {}),
    ]
    responses = {
        "role": "tool",
        "parts": [
            {"type": "tool_call_response", "id": "c1", "response": {"fare": 397.8}},
            {"type": "tool_call_response", "id": "c2", "result": "found"},
            {"type": "tool_call_response", "id": "c3", "response": "noon"},
        ],
    }
    assert normalize_messages([responses]) == [
        {"role": "tool", "tool_call_id": "c1", "content": '{"fare": 397.8}'},
        {"role": "tool", "tool_call_id": "c2", "content": "found"},
        {"role": "tool", "tool_call_id": "c3", "content": "noon"},
    ]
    # One message given alone, a message already in chat form, and a message with no parts or role.
    assert normalize_messages({"role": "user", "parts": [{"type": "text", "content": "hi"}]}) == [
        {"role": "user", "content": "hi"}
    ]
    assert normalize_messages([{"role": "user", "content": "plain"}, "junk"]) == [{"role": "user", "content": "plain"}]
    assert normalize_messages([{"parts": []}]) == [{"role": "unknown", "content": None}]
    assert normalize_messages([]) is None and normalize_messages("[]") is None and normalize_messages(["junk"]) is None


def _model_call(call_ids: list[str], name: str = "search", start: str = "2026-01-01T00:00:01Z") -> dict[str, Any]:
    calls = [{"id": c, "type": "function", "function": {"name": name, "arguments": '{"q": "fare"}'}} for c in call_ids]
    return {
        "id": "llm1",
        "parent_id": "root",
        "trace_id": "t",
        "name": "chat gpt-4o",
        "run_type": "llm",
        "start_time": start,
        "outputs": {"messages": [{"role": "assistant", "content": None, "tool_calls": calls}]},
    }


def test_a_tool_call_takes_the_tool_span_that_ran_it_once_and_only_after_it_was_asked_for() -> None:
    from refinery.trace.files.genai import add_tool_runs

    def span(sid: str, start: str | None, run_type: str = "chain", name: str = "search") -> dict[str, Any]:
        return {
            "id": sid,
            "parent_id": "root",
            "trace_id": "t",
            "name": name,
            "run_type": run_type,
            "start_time": start,
        }

    earlier = span("early", "2026-01-01T00:00:00Z")  # ran before the model asked: not this call's
    same_time = span("same", "2026-01-01T00:00:01Z")
    untimed = span("untimed", None)
    other_model = span("llm-named-search", "2026-01-01T00:00:02Z", run_type="llm")
    drafts = add_tool_runs([_model_call(["c1", "c2", "c3"]), other_model, earlier, same_time, untimed])
    by_call = {d["metadata"]["tool_call_id"]: d for d in drafts if (d.get("metadata") or {}).get("tool_call_id")}
    assert by_call["c1"]["id"] == "same" and by_call["c2"]["id"] == "untimed"  # each span runs one call
    assert by_call["c1"]["run_type"] == "tool" and by_call["c1"]["inputs"] == {"arguments": {"q": "fare"}}
    # No span left that could have run the third call: a run of its own, waiting for a result.
    assert by_call["c3"]["id"] == "llm1:call2" and by_call["c3"]["status"] == "pending"
    assert by_call["c3"]["metadata"]["from_model_output"] is True
    assert other_model["run_type"] == "llm" and earlier["run_type"] == "chain"


def test_a_tool_call_answered_by_a_span_with_its_id_or_by_a_later_message_is_not_run_twice() -> None:
    from refinery.trace.files.genai import add_tool_runs

    answered = {
        "id": "tool-span",
        "parent_id": "root",
        "trace_id": "t",
        "name": "search",
        "run_type": "tool",
        "metadata": {"gen_ai.tool.call.id": "c1"},
    }
    follow_up = {
        "id": "llm2",
        "parent_id": "root",
        "trace_id": "t",
        "name": "chat",
        "run_type": "llm",
        "inputs": {"messages": [{"role": "tool", "tool_call_id": "c2", "content": "397.8"}]},
    }
    drafts = add_tool_runs([_model_call(["c1", "c2"]), answered, follow_up])
    made = [d for d in drafts if (d.get("metadata") or {}).get("from_model_output")]
    assert [(d["metadata"]["tool_call_id"], d["outputs"], d["status"]) for d in made] == [
        ("c2", {"output": "397.8"}, None)
    ]
    for key in ("tool_call.id", "tool.id", "tool_call_id"):
        other = {**answered, "metadata": {key: "c1"}}
        assert not any(
            d["metadata"]["tool_call_id"] == "c1"
            for d in add_tool_runs([_model_call(["c1"]), other])
            if (d.get("metadata") or {}).get("from_model_output")
        )


def test_otlp_requests_of_logs_and_spans_in_any_order_and_the_old_scope_name_all_load() -> None:
    from refinery.trace.files.otlp import load_otlp

    def span(span_id: str, parent: str | None = None) -> dict[str, Any]:
        return {
            "traceId": "a" * 32,
            "spanId": span_id,
            **({"parentSpanId": parent} if parent else {}),
            "name": f"chat {span_id}",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
            "startTimeUnixNano": "1770131992000000000",
            "endTimeUnixNano": "1770131993000000000",
        }

    logs = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "spanId": "b1",
                                "eventName": "gen_ai.user.message",
                                "body": {
                                    "kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "hi"}}]}
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    current = {"resourceSpans": [{"scopeSpans": [{"spans": [span("a1")]}]}]}
    old = {"resourceSpans": [{"instrumentationLibrarySpans": [{"spans": [span("b1", "a1"), "junk"]}]}]}
    [trace] = load_otlp([logs, current, old])
    assert {r.id: r.parent_id for r in trace.runs} == {"a1": None, "b1": "a1"}
    assert trace.source == "file:otlp"
    # The log record tied to the model call is its input message.
    assert next(r for r in trace.runs if r.id == "b1").inputs["messages"] == [{"role": "user", "content": "hi"}]
    [spans_only] = load_otlp([current, old])
    assert "messages" not in next(r for r in spans_only.runs if r.id == "b1").inputs


def _transcript() -> list[dict[str, Any]]:
    call = {"id": "c1", "type": "function", "function": {"name": "search", "arguments": '{"to": "JFK"}'}}
    return [
        {"role": "developer", "content": [{"type": "input_text", "text": "You are TravelBot."}]},
        {"role": "system", "content": "A second system message is conversation, not the prompt."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Cheapest fare"}, {"type": "input_text", "text": "to JFK?"}],
        },
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "397.8"},
        {"role": "tool", "tool_call_id": "c1", "name": "search", "content": "a second answer to one call"},
        {"role": "tool", "content": "a result for no call"},
        {
            "role": "assistant",
            "content": [{"type": "output_text", "text": "It is"}, {"type": "image_url", "image_url": {"url": "x"}}],
            "tool_calls": [{"id": "c2", "function": {"name": "book", "arguments": "not json"}}],
        },
        {"role": "user", "name": "alice", "content": "Thanks!"},
    ]


def test_an_openai_transcript_reads_prompt_question_steps_tools_and_what_did_not_pair() -> None:
    [trace] = load_chat({"id": "conv-1", "messages": _transcript()})
    assert trace.root.metadata["system_prompt"] == "You are TravelBot."  # developer parts, as text
    assert trace.root.inputs == {"input": "Cheapest fare\nto JFK?"}  # the first user message, parts joined
    llms = [r for r in trace.runs if r.run_type == "llm"]
    assert [r.inputs["system"] for r in llms] == ["You are TravelBot."] * 2
    assert llms[0].inputs["messages"] == [
        {"role": "system", "content": "A second system message is conversation, not the prompt."},
        {"role": "user", "content": "Cheapest fare\nto JFK?"},
    ]
    # A mix of text and an image is kept as the parts it is.
    assert llms[1].outputs is not None and isinstance(llms[1].outputs["content"], list)
    tools = {r.id: r for r in trace.runs if r.run_type == "tool"}
    search = tools["conv-1:m00003:call0"]
    assert (search.name, search.inputs, search.outputs, search.status) == (
        "search",
        {"to": "JFK"},
        {"output": "397.8"},
        "success",
    )
    # A second result for an answered call, and a result for no call, are runs of their own.
    second, stray = tools["conv-1:m00005"], tools["conv-1:m00006"]
    assert (second.name, second.metadata["tool_call_id"], second.outputs) == (
        "search",
        "c1",
        {"output": "a second answer to one call"},
    )
    assert (stray.name, stray.metadata["tool_call_id"], stray.metadata["message_index"]) == ("tool", None, 6)
    assert stray.parent_id == trace.root.id
    book = tools["conv-1:m00007:call0"]
    assert book.inputs == {"arguments": "not json"} and book.status == "pending"
    tail = next(r for r in trace.runs if r.run_type == "prompt")
    assert (tail.id, tail.name) == ("conv-1:tail", "unanswered messages")
    assert tail.inputs == {"messages": [{"role": "user", "content": "Thanks!", "name": "alice"}]}
    warnings = {w.code: w for w in trace.warnings}
    assert (warnings["unanswered_tool_call"].run_ids, warnings["unanswered_tool_call"].count) == (
        ["conv-1:m00007:call0"],
        1,
    )
    assert warnings["unanswered_tool_call"].message == "Tool calls with no result in the transcript."
    assert warnings["unmatched_tool_result"].count == 2
    assert warnings["unmatched_tool_result"].message == "Tool results that match no call became their own runs."


def test_many_unanswered_calls_name_five_and_count_all() -> None:
    calls = [{"id": f"c{i}", "function": {"name": "search", "arguments": "{}"}} for i in range(7)]
    [trace] = load_chat(
        [{"role": "user", "content": "go"}, {"role": "assistant", "content": None, "tool_calls": calls}]
    )
    [warning] = [w for w in trace.warnings if w.code == "unanswered_tool_call"]
    assert warning.count == 7 and len(warning.run_ids) == 5
    assert not any(w.code == "unmatched_tool_result" for w in trace.warnings)


def test_tool_arguments_that_are_not_an_object_are_kept_under_arguments() -> None:
    from refinery.trace.files.chat import _args

    assert _args({"a": 1}) == {"a": 1}
    assert _args('{"a": 1}') == {"a": 1}
    assert _args("[1, 2]") == {"arguments": [1, 2]}
    assert _args("oops") == {"arguments": "oops"}
    assert _args(None) == {"arguments": None}


def test_a_transcript_without_question_or_answer_has_neither_and_takes_its_id_from_trace_id() -> None:
    messages = [
        {"role": "assistant", "content": None, "model": "gpt-4o", "tool_calls": [{"id": "c1", "function": {}}]},
    ]
    [trace] = load_chat({"trace_id": "run-9", "messages": messages})
    assert trace.id == "run-9" and "trace_id" not in trace.metadata
    assert trace.root.inputs == {} and trace.root.outputs is None and trace.root.name == "conversation"
    [step] = [r for r in trace.runs if r.run_type == "llm"]
    assert step.model == "gpt-4o" and step.metadata["role"] == "assistant" and step.metadata["message_index"] == 0
    assert step.outputs == {"content": None, "tool_calls": messages[0]["tool_calls"]}
    assert step.inputs == {"messages": []}
    [tool] = [r for r in trace.runs if r.run_type == "tool"]
    assert (tool.name, tool.metadata["tool_call_id"]) == ("tool", "c1")
    [unnamed] = load_chat([{"role": "user", "content": "hi"}])
    assert unnamed.id == "chat" and unnamed.root.inputs == {"input": "hi"}


def test_an_openhands_observation_pairs_with_its_action_by_cause_alone(real_traces: Path) -> None:
    from refinery.trace.files.openhands import load_openhands

    task, edit, observed, finish = json.loads((real_traces / "openhands" / "basic.json").read_text())
    bare = {k: v for k, v in observed.items() if k != "tool_call_metadata"}  # linked by its cause only
    [trace] = load_openhands([task, edit, bare, finish])
    run = next(r for r in trace.runs if r.name == "str_replace_editor")
    assert run.outputs == {"output": observed["content"], "extras": observed["extras"]} and run.status == "success"
    stray = {**bare, "cause": 999}  # neither cause nor call id: the agent's state, not a result
    [unpaired] = load_openhands([task, edit, stray, finish])
    assert next(r for r in unpaired.runs if r.name == "str_replace_editor").status == "pending"
    # A model response without choices still gives its step, with the event's message.
    odd = copy.deepcopy(edit)
    odd["tool_call_metadata"]["model_response"]["choices"] = "none"
    odd["message"] = "editing"
    [again] = load_openhands([task, odd, observed, finish])
    assert next(r for r in again.runs if r.run_type == "llm").outputs == {"content": "editing"}


def test_tau2_rewards_tasks_and_messages_in_the_forms_a_harness_may_write(real_traces: Path) -> None:
    from refinery.trace.files.tau2_bench import load_tau2_bench

    raw = json.loads((real_traces / "tau2-bench/telecom-gpt-4o-first4.json").read_text())
    sim = copy.deepcopy(raw["simulations"][0])
    sim["trial"] = 3
    sim["reward_info"] = {"reward": "pending"}
    sim["messages"].insert(1, {"role": "user", "content": "one more thing"})  # no usage, no cost
    task = copy.deepcopy(next(t for t in raw["tasks"] if t["id"] == sim["task_id"]))
    task["evaluation_criteria"] = ["not", "a", "dict"]
    task["user_scenario"]["instructions"] = "Ask why data does not work abroad."
    [trace] = load_tau2_bench({"simulations": [sim], "tasks": [task], "info": {"agent_info": "n/a"}})
    assert trace.metadata["trial"] == 3 and trace.metadata["question"] == "Ask why data does not work abroad."
    [reward] = trace.feedback
    assert (reward.score, reward.invalid_score) == (None, "pending")
    assert trace.reference_outputs is None and "agent_info" not in trace.metadata
    assert trace.root.start_time is None  # a transcript records no times of its own


def test_a_tau_bench_reward_comment_lists_checks_penalties_and_bonuses_in_order_and_stays_short(
    real_traces: Path,
) -> None:
    from refinery.trace.files.tau_bench import load_tau_bench

    raw = json.loads((real_traces / TAU).read_text())
    record = next(r for r in raw if r["info"]["reward_info"]["components"]["resilience_bonus"])
    [trace] = load_tau_bench([record])
    info = record["info"]["reward_info"]
    checks = [f"{k}: {v}" for k, v in info["info"].items() if not k.endswith("hash")]
    components = info["components"]
    expected = [f"reward {info['reward']}", *checks]
    expected += [f"efficiency_penalty {components['efficiency_penalty']:+g}"]
    expected += [f"resilience_bonus {components['resilience_bonus']:+g}"]
    assert trace.feedback[0].comment == "; ".join(expected)
    long = copy.deepcopy(record)
    long["info"]["reward_info"]["info"] = {f"check_{i}": "x" * 50 for i in range(100)}
    [big] = load_tau_bench([long])
    assert big.feedback[0].comment is not None and len(big.feedback[0].comment) == 2000


def test_swe_agent_steps_without_a_command_run_no_tool_and_tokens_sent_alone_add_up(
    real_traces: Path, tmp_path: Path
) -> None:
    data = json.loads((real_traces / "swe-agent" / "6e44b9__sweagenttestrepo-1c2844.traj").read_text())
    actions = [m for m in data["history"] if m["message_type"] == "action"]
    actions[0]["action"] = ""
    actions[0]["tool_calls"] = None
    data["info"]["model_stats"] = {"tokens_sent": 40, "tokens_received": 0}
    path = tmp_path / "run.traj"
    path.write_text(json.dumps(data))
    [trace] = load_trace_files(path)
    assert sum(r.run_type == "tool" for r in trace.runs) == len(actions) - 1
    assert (trace.root.prompt_tokens, trace.root.completion_tokens, trace.root.total_tokens) == (40, None, 40)


def test_openllmetrys_flattened_prompt_and_completion_read_as_messages() -> None:
    from refinery.trace.files.genai import flattened_messages

    attrs = {
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "You are TravelBot.",
        "gen_ai.prompt.1.content": "Cheapest fare?",  # no role written: a prompt message is the user's
        "gen_ai.prompt.2.role": "tool",
        "gen_ai.prompt.2.content": "397.8",
        "gen_ai.prompt.2.tool_call_id": "c0",
        "gen_ai.prompt.x.content": "not a position",
        "gen_ai.prompt.3": "no field",
        "gen_ai.completion.0.finish_reason": "tool_calls",
        "gen_ai.completion.0.tool_calls.1.name": "book",
        "gen_ai.completion.0.tool_calls.1.id": "c2",
        "gen_ai.completion.0.tool_calls.0.name": "search",
        "gen_ai.completion.0.tool_calls.0.id": "c1",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"to": "JFK"}',
        "gen_ai.completion.0.tool_calls.x.name": "ignored",
    }
    assert flattened_messages(attrs, "gen_ai.prompt") == [
        {"role": "system", "content": "You are TravelBot."},
        {"role": "user", "content": "Cheapest fare?"},
        {"role": "tool", "content": "397.8", "tool_call_id": "c0"},
    ]
    [completion] = flattened_messages(attrs, "gen_ai.completion") or []
    assert completion["role"] == "assistant" and completion["content"] is None  # no role written: the model's
    assert completion["finish_reason"] == "tool_calls"
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in completion["tool_calls"]] == [
        ("c1", "search", '{"to": "JFK"}'),
        ("c2", "book", "{}"),
    ]
    assert flattened_messages({"gen_ai.prompt.0.tool_calls.0.function.name": "x"}, "gen_ai.prompt") == [
        {
            "role": "user",
            "content": None,
            "tool_calls": [{"id": None, "type": "function", "function": {"name": None, "arguments": "{}"}}],
        }
    ]
    assert flattened_messages({"other.0.content": "x"}, "gen_ai.prompt") is None


def test_gen_ai_events_read_as_the_calls_messages_and_its_choices() -> None:
    from refinery.trace.files.genai import event_messages

    events = [
        {"name": "gen_ai.system.message", "content": "You are TravelBot."},
        {"event.name": "gen_ai.user.message", "body": {"content": "Cheapest fare?"}},
        {"name": "gen_ai.tool.message", "body": {"content": '{"fare": 397.8}', "id": "c1"}},
        {"name": "gen_ai.other", "content": "ignored"},
        {
            "name": "gen_ai.choice",
            "body": {
                "index": 0,
                "finish_reason": "stop",
                "message": {"content": "It is 397.8.", "tool_calls": [{"id": "c2", "function": {"name": "book"}}]},
            },
        },
        {"name": "gen_ai.choice", "role": "assistant", "content": "flat choice"},
    ]
    inputs, outputs = event_messages(events)
    assert inputs == [
        {"role": "system", "content": "You are TravelBot."},
        {"role": "user", "content": "Cheapest fare?"},
        {"role": "tool", "content": {"fare": 397.8}, "tool_call_id": "c1"},
    ]
    assert outputs[0]["role"] == "assistant" and outputs[0]["finish_reason"] == "stop"
    assert outputs[0]["content"] == "It is 397.8."
    assert [c["function"]["name"] for c in outputs[0]["tool_calls"]] == ["book"]
    assert outputs[1] == {"role": "assistant", "content": "flat choice"}
    _, tool_choice = event_messages([{"name": "gen_ai.choice", "body": {"message": {"role": "tool", "content": "x"}}}])
    assert tool_choice[0]["role"] == "tool"


@pytest.mark.parametrize(
    ("parts", "roles"),
    [
        (
            [{"type": "tool_call", "id": "c1", "name": "f"}, {"type": "tool_call_response", "id": "c0", "response": 1}],
            ["assistant", "tool"],
        ),
        (
            [{"type": "tool_call_response", "id": "c0", "response": 1}, {"type": "text", "content": "done"}],
            ["assistant", "tool"],
        ),
        (
            [{"type": "tool_call_response", "id": "c0", "response": 1}, {"type": "reasoning", "content": "hm"}],
            ["assistant", "tool"],
        ),
        ([{"type": "tool_call_response", "id": "c0", "response": 1}], ["tool"]),
    ],
)
def test_a_parts_message_that_also_answers_a_tool_keeps_its_own_words_first(parts: list, roles: list) -> None:
    from refinery.trace.files.genai import normalize_messages

    assert [m["role"] for m in normalize_messages([{"role": "assistant", "parts": parts}]) or []] == roles


def test_a_gen_ai_event_message_has_tool_calls_only_when_it_made_some_and_an_id_only_as_a_tool() -> None:
    from refinery.trace.files.genai import event_messages

    inputs, _ = event_messages(
        [
            {"name": "gen_ai.user.message", "body": {"content": "hi", "id": "u1", "tool_calls": []}},
            {"name": "gen_ai.tool.message", "body": {"content": "ok", "id": "c1"}},
        ]
    )
    assert inputs == [{"role": "user", "content": "hi"}, {"role": "tool", "content": "ok", "tool_call_id": "c1"}]


def test_what_a_file_holds_is_described_by_at_most_eight_keys(tmp_path: Path) -> None:
    from refinery.trace.files import describe_shape

    keys = {f"k{i}": i for i in range(9)}
    assert describe_shape(keys) == "an object with keys " + ", ".join(sorted(keys)[:8])
    assert describe_shape([1, keys]) == "a list of 2 items whose first object has keys " + ", ".join(sorted(keys)[:8])
    assert describe_shape([1]) == "a list of 1 items" and describe_shape(3) == "a JSON int"


def test_a_forced_format_on_a_file_of_no_known_format_says_so(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text('{"foo": 1}')
    with pytest.raises(TraceFormatError) as caught:
        load_trace_files(path, "chat")
    assert caught.value.hint == "Use --format auto (it would read this file as no known format)."


def test_a_refinery_trace_without_runs_or_with_bad_fields_names_the_first_problem(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"id": "t1", "source": "x", "runs": []}))
    with pytest.raises(TraceFormatError) as empty:
        load_trace_files(path, "refinery")
    assert empty.value.message == "The Refinery trace has no runs."
    bad = {"id": "t1", "source": "x", "runs": [{"id": 1, "trace_id": "t1", "name": "a", "order": "first"}]}
    path.write_text(json.dumps(bad))
    with pytest.raises(TraceFormatError) as invalid:
        load_trace_files(path, "refinery")
    assert invalid.value.message.startswith("Not a valid Refinery trace: runs.0.id:")


def test_a_lone_surrogate_in_a_file_becomes_the_replacement_character(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text('[{"role": "user", "content": "bad \\ud800 text"}, {"role": "assistant", "content": "ok"}]')
    [trace] = load_trace_files(path)
    assert trace.root.inputs == {"input": "bad \ufffd text"}


def test_a_file_bigger_than_the_limit_given_is_refused_by_name(real_traces: Path) -> None:
    from refinery.trace.bounds import InputLimits
    from refinery.trace.files import load_trace_file

    with pytest.raises(TraceFormatError, match="limit"):
        load_trace_file(real_traces / "openhands" / "basic.json", limits=InputLimits(max_bytes=100))


def test_log_records_that_are_not_objects_or_name_no_span_are_skipped() -> None:
    from refinery.trace.files.otlp import load_otlp

    span = {"traceId": "a" * 32, "spanId": "b1", "name": "chat", "startTimeUnixNano": "1770131992000000000"}
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": ["junk", {"eventName": "gen_ai.user.message"}]}]}]}
    [trace] = load_otlp([logs, {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}])
    assert [r.id for r in trace.runs] == ["b1"]
