"""Spans from today's OpenAI instrumentations, as their own packages emit them, read in full.

A scripted agent (``tests/fakes/genai_agents.py``) drives a real OpenAI client against the
loopback fake: one model call answers with two tool calls, the agent runs them and sends the
results back, a second call answers in text. Under each producer's package the trace must
hold both model calls, both tool calls with their arguments and results, and the tokens the
producer recorded, counted from the raw export independently of the reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.fidelity import otlp_counts
from refinery.pipeline import prepare
from refinery.trace.files import load_trace_files
from tests.fakes.genai_agents import PRODUCERS, WEATHER, weather_agent_otlp

LEGACY = Path(__file__).parents[1] / "producers"


def raw_spans(export: Any) -> list[dict[str, Any]]:
    payloads = export if isinstance(export, list) else [export]
    return [
        span for p in payloads for rs in p.get("resourceSpans") or [] for ss in rs["scopeSpans"] for span in ss["spans"]
    ]


@pytest.mark.parametrize("producer", [*PRODUCERS, "openllmetry-0.47-flattened"])
def test_every_tool_call_of_each_producer_is_a_run_with_its_arguments_and_result(producer: str, tmp_path: Path) -> None:
    legacy = LEGACY / f"{producer}.json"
    export = json.loads(legacy.read_text()) if legacy.exists() else weather_agent_otlp(producer)
    path = tmp_path / f"{producer}.json"
    path.write_text(json.dumps(export))
    [trace] = load_trace_files(path)
    spans = raw_spans(export)
    llm_spans = [s for s in spans if "chat" in s["name"] or s["name"].startswith("ChatCompletion")]
    assert len(llm_spans) == 2  # what the package emitted: one span per model call
    assert [r.run_type for r in trace.runs][1:] == ["llm", "tool", "tool", "llm"]
    source_calls, source_tokens = otlp_counts(export)  # counted in the raw export, not by the reader
    assert len([r for r in trace.runs if r.run_type == "tool"]) == source_calls == 2
    tools = [r for r in trace.runs if r.run_type == "tool"]
    assert [r.inputs["arguments"] for r in tools] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert [(r.outputs or {}).get("output") for r in tools] == [WEATHER["Paris"], WEATHER["Oslo"]]
    assert trace.total_tokens == source_tokens > 0
    trace_md = prepare(trace).documents.by_name("trace.md").text
    assert trace_md.count("get_weather(") >= 2 and WEATHER["Oslo"] in trace_md
    assert "[system] (prompt P01 in prompts.md)" in trace_md  # the system prompt is one citable section


def test_attributes_no_reader_maps_are_shown_in_trace_md(tmp_path: Path) -> None:
    export = weather_agent_otlp("genai")
    response_ids = sorted(
        a["value"]["stringValue"]
        for s in raw_spans(export)
        for a in s["attributes"]
        if a["key"] == "gen_ai.response.id"
    )
    path = tmp_path / "genai.json"
    path.write_text(json.dumps(export))
    [trace] = load_trace_files(path)
    trace_md = prepare(trace).documents.by_name("trace.md").text
    assert len(response_ids) == 2
    for response_id in response_ids:  # not a field Refinery models, still in the model call's section
        assert f"gen_ai.response.id: {response_id}" in trace_md
    assert "service.name=weather-agent-genai" in trace_md  # the resource, once in the header
