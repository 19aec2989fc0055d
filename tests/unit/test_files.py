from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from refinery.errors import TraceFormatError, TraceNotFound
from refinery.trace.files import detect_format, load_trace_file, load_trace_files
from tests.fakes import otel_agent


def write(tmp_path: Path, name: str, data: Any, *, jsonl: bool = False, gz: bool = False) -> Path:
    text = "\n".join(json.dumps(d) for d in data) if jsonl else json.dumps(data)
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def ls_run(rid: str, parent: str | None, trace: str = "t1", **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "parent_run_id": parent,
        "trace_id": trace,
        "name": rid,
        "run_type": "chain",
        "start_time": f"2026-01-01T00:00:0{len(rid) % 10}Z",
        "inputs": {},
        **extra,
    }


RUNS = [
    ls_run("t1", None, dotted_order="1"),
    ls_run(
        "llm",
        "t1",
        run_type="llm",
        dotted_order="1.1",
        extra={"metadata": {"ls_model_name": "gpt-4.1"}},
        outputs={"usage_metadata": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}},
        events=[{"name": "new_token"}, {"name": "start"}],
    ),
    ls_run("tool", "t1", run_type="tool", dotted_order="1.2", error="HTTP 503"),
]


@pytest.mark.parametrize("jsonl,gz", [(False, False), (True, False), (False, True), (True, True)])
def test_langsmith_list_jsonl_and_gzip(tmp_path: Path, jsonl: bool, gz: bool) -> None:
    trace = load_trace_file(write(tmp_path, "runs.json", RUNS, jsonl=jsonl, gz=gz))
    assert trace.source == "file:langsmith"
    assert [r.id for r in trace.runs] == ["t1", "llm", "tool"]
    llm = trace.get("llm")
    assert (llm.model, llm.prompt_tokens, llm.completion_tokens, llm.total_tokens) == ("gpt-4.1", 10, 5, 15)
    assert [e["name"] for e in llm.events] == ["start"]  # token stream dropped, the rest kept
    assert trace.get("tool").status == "error"


def test_langsmith_nested_child_runs(tmp_path: Path) -> None:
    nested = {
        **RUNS[0],
        "child_runs": [{**RUNS[1], "parent_run_id": None, "child_runs": [ls_run("deep", None)]}, RUNS[2]],
    }
    trace = load_trace_file(write(tmp_path, "nested.json", nested))
    assert [r.id for r in trace.runs] == ["t1", "llm", "deep", "tool"]
    assert trace.get("deep").parent_id == "llm"


def test_runs_of_several_traces_give_several_traces(tmp_path: Path) -> None:
    path = write(tmp_path, "two.json", [*RUNS, ls_run("t2", None, trace="t2"), ls_run("x", "t2", trace="t2")])
    traces = load_trace_files(path)
    assert sorted(t.id for t in traces) == ["t1", "t2"]
    with pytest.raises(TraceFormatError, match=r"holds 2 traces.*--trace-id"):
        load_trace_file(path)
    assert load_trace_file(path, trace_id="x").id == "t2"
    with pytest.raises(TraceNotFound):
        load_trace_file(path, trace_id="nope")


def test_bad_input_gives_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "a",\n "runs": [1, 2,]}')
    with pytest.raises(TraceFormatError, match=r"not valid JSON.*line 2"):
        load_trace_file(broken)
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text(json.dumps(RUNS[0]) + "\n" + json.dumps(RUNS[1]) + "\n{oops\n")
    with pytest.raises(TraceFormatError, match="line 3"):
        load_trace_file(jsonl)
    with pytest.raises(TraceFormatError, match=r"Unknown trace format.*keys foo"):
        load_trace_file(write(tmp_path, "odd.json", {"foo": 1}))
    (tmp_path / "empty.json").write_text("  ")
    with pytest.raises(TraceFormatError, match="empty"):
        load_trace_file(tmp_path / "empty.json")
    with pytest.raises(TraceNotFound):
        load_trace_file(tmp_path / "missing.json")
    with pytest.raises(TraceFormatError, match="Unknown --format"):
        load_trace_file(write(tmp_path, "r.json", RUNS), fmt="yaml")


def test_otlp_openinference_from_the_real_sdk(tmp_path: Path) -> None:
    data = otel_agent.openinference_agent_otlp()
    assert detect_format(data) == "otlp"
    trace = load_trace_file(write(tmp_path, "otlp.json", data))
    assert [(r.name, r.run_type) for r in trace.runs] == [
        ("agent", "agent"),
        ("ChatCompletion", "llm"),
        ("search_docs", "tool"),
        ("ChatCompletion", "llm"),
    ]
    llm = trace.runs[1]
    assert (llm.model, llm.prompt_tokens, llm.completion_tokens, llm.total_tokens) == ("gpt-4.1-mini", 512, 24, 536)
    assert llm.inputs["messages"][0] == {
        "role": "system",
        "content": "You are DocsBot. Search the docs before answering.",
    }
    assert llm.outputs == {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": None,
                        "type": "function",
                        "function": {"name": "search_docs", "arguments": '{"query": "rotate API key"}'},
                    }
                ],
            }
        ]
    }
    tool = trace.runs[2]
    assert tool.status == "error" and tool.error and "timed out after 30s" in tool.error
    assert tool.inputs == {"arguments": {"query": "rotate API key"}}
    assert trace.root.outputs == {"output": "I could not find that in the docs."}
    assert trace.root.metadata["resource"]["service.name"] == "docs-agent"
    assert len(trace.id) == 32 and int(trace.id, 16)  # hex, as OTLP/JSON spells it
    assert all(r.duration_ms is not None for r in trace.runs)


def test_otlp_genai_conventions(tmp_path: Path) -> None:
    trace = load_trace_file(write(tmp_path, "genai.jsonl", [otel_agent.genai_agent_otlp()], jsonl=False))
    types = {r.name: r.run_type for r in trace.runs}
    assert types == {"invoke_agent planner": "agent", "chat gpt-4.1": "llm", "get_weather": "tool"}
    chat = trace.runs[1]
    assert (chat.model, chat.prompt_tokens, chat.completion_tokens, chat.total_tokens) == ("gpt-4.1", 100, 20, 120)
    assert trace.runs[0].agent == "planner"
    assert trace.runs[2].outputs == {"output": {"error": "HTTP 503 Service Unavailable"}}


def test_nested_span_trees_as_benchmarks_publish_them(tmp_path: Path) -> None:
    data = {
        "trace_id": "abc",
        "spans": [
            {
                "span_id": "s1",
                "parent_span_id": None,
                "span_name": "main",
                "timestamp": "2025-03-19T16:45:07.000Z",
                "duration": "PT12.5S",
                "status_code": "Unset",
                "span_attributes": {"openinference.span.kind": "CHAIN", "input.value": "task"},
                "child_spans": [
                    {
                        "span_id": "s2",
                        "span_name": "LiteLLMModel.__call__",
                        "timestamp": "2025-03-19T16:45:08Z",
                        "duration": "PT2S",
                        "status_code": "Error",
                        "status_message": "context length exceeded",
                        "span_attributes": {"openinference.span.kind": "LLM", "llm.token_count.prompt": 128000},
                        "child_spans": [],
                    },
                ],
            }
        ],
    }
    trace = load_trace_file(write(tmp_path, "trail.json", data))
    assert [r.id for r in trace.runs] == ["s1", "s2"]
    assert trace.runs[1].parent_id == "s1" and trace.runs[1].error == "context length exceeded"
    assert trace.root.duration_ms == 12_500
    assert trace.id == "abc"


def test_openai_chat_transcript_tool_calls_become_tool_runs(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "You are a helpful agent."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Error: 401 Unauthorized"},
        {"role": "assistant", "content": "Sorry, I could not get the weather."},
    ]
    trace = load_trace_file(write(tmp_path, "chat.json", {"messages": messages, "id": "conv-1"}))
    assert trace.source == "file:chat" and trace.id == "conv-1"
    kinds = [(r.run_type, r.name) for r in trace.runs]
    assert kinds == [
        ("chain", "conversation"),
        ("llm", "assistant"),
        ("tool", "get_weather"),
        ("tool", "get_time"),
        ("llm", "assistant"),
    ]
    weather = trace.runs[2]
    assert weather.inputs == {"city": "Paris"} and weather.outputs == {"output": "Error: 401 Unauthorized"}
    assert trace.runs[3].status == "pending"
    assert [w.code for w in trace.warnings] == ["unanswered_tool_call"]
    assert trace.runs[1].inputs["system"] == "You are a helpful agent."
    assert trace.root.outputs == {"output": "Sorry, I could not get the weather."}
    # a bare list and a `traj` object read the same
    assert len(load_trace_file(write(tmp_path, "bare.json", messages)).runs) == 5
    assert len(load_trace_file(write(tmp_path, "traj.json", {"traj": messages})).runs) == 5


def test_trailing_user_messages_are_kept(tmp_path: Path) -> None:
    trace = load_trace_file(write(tmp_path, "c.json", [{"role": "user", "content": "hi"}]))
    assert trace.runs[-1].inputs == {"messages": [{"role": "user", "content": "hi"}]}


def test_refinery_format_round_trips(tmp_path: Path) -> None:
    trace = load_trace_file(write(tmp_path, "runs.json", RUNS))
    again = load_trace_file(write(tmp_path, "norm.json", trace.model_dump(mode="json")))
    assert again == trace


def test_history_log_keeps_agents_and_hides_labels(tmp_path: Path) -> None:
    data = {
        "question": "How many?",
        "question_ID": "q1",
        "ground_truth": "8",
        "is_correct": False,
        "history": [
            {"role": "assistant", "name": "Planner", "content": "plan"},
            {"role": "Orchestrator (thought)", "content": "think"},
            {"role": "WebSurfer", "content": "searched"},
        ],
        "system_prompt": {"Planner": "You plan."},
        "mistake_agent": "WebSurfer",
        "mistake_step": "2",
        "mistake_reason": "bad query",
    }
    trace = load_trace_file(write(tmp_path, "h.json", data))
    assert [r.agent for r in trace.runs[1:]] == ["Planner", "Orchestrator", "WebSurfer"]
    assert [r.metadata["step"] for r in trace.runs[1:]] == [0, 1, 2]
    assert trace.runs[1].inputs == {"system": "You plan."}
    assert trace.labels == {"mistake_agent": "WebSurfer", "mistake_step": "2", "mistake_reason": "bad query"}
    dumped = json.dumps(trace.model_dump(exclude={"labels"}, mode="json"))
    assert "bad query" not in dumped  # labels never leak into what the analysis reads
    assert trace.reference_outputs == {"answer": "8"}
    assert trace.feedback[0].key == "correctness" and trace.feedback[0].score == 0.0


@pytest.mark.needs_shared
def test_every_who_and_when_log_loads(who_and_when: list[Path]) -> None:
    assert len(who_and_when) == 123
    for path in who_and_when:
        raw = json.loads(path.read_text())
        trace = load_trace_file(path)
        assert trace.source == "file:history"
        assert len(trace.runs) == len(raw["history"]) + 1, path
        assert trace.labels["mistake_agent"] == raw["mistake_agent"]
        step = int(raw["mistake_step"])
        assert trace.runs[step + 1].metadata["step"] == step
