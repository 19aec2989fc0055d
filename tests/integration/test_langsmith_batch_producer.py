"""The langsmith SDK's own batch-ingest payloads, as its background tracer sends them, read back whole.

The example agents run under ``traceable`` with the SDK's default batching on; the fake
LangSmith records every ``POST /runs/batch`` body. Those bodies, one per line as a proxy would
log them, must load as the same trace the fake assembled from them: every run, the tool
calls, the error and the tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import langsmith

from examples import agents
from refinery.trace.files import detect_format, load_trace_files
from tests.fakes.langsmith_api import FakeLangSmith


def test_the_sdks_batch_payloads_load_as_the_trace_the_service_stored(
    fake_langsmith: FakeLangSmith, tmp_path: Path
) -> None:
    client = langsmith.Client(
        api_url=fake_langsmith.direct_url, api_key=fake_langsmith.api_key, auto_batch_tracing=True
    )
    root_id = agents.run_scenario(client, agents.rate_limited_agent)  # flushes: one batch per scenario
    other_id = agents.run_scenario(client, agents.looping_agent)
    bodies = [
        body for method, path, body in fake_langsmith.requests if method == "POST" and path.startswith("/runs/batch")
    ]
    assert len(bodies) >= 2 and all(set(b) <= {"post", "patch"} for b in bodies)  # the SDK really batched
    path = tmp_path / "batches.jsonl"
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies))
    assert detect_format([json.loads(line) for line in path.read_text().splitlines()]) == "langsmith-batch"

    traces = {t.root.id: t for t in load_trace_files(path)}
    assert set(traces) == {root_id, other_id}
    assert {r.id for r in traces[other_id].runs} == {str(r["id"]) for r in fake_langsmith.runs_of_trace(other_id)}
    trace = traces[root_id]
    stored = fake_langsmith.runs_of_trace(root_id)
    assert {r.id for r in trace.runs} == {str(r["id"]) for r in stored}
    by_id = {str(r["id"]): r for r in stored}
    for run in trace.runs:
        assert run.run_type == by_id[run.id]["run_type"]
        assert bool(run.error) == bool(by_id[run.id].get("error"))
        assert (run.end_time is None) == (by_id[run.id].get("end_time") is None)
    assert sum(r.run_type == "tool" for r in trace.runs) == sum(r["run_type"] == "tool" for r in stored) > 0
    assert any(r.error and "429" in r.error for r in trace.runs)  # the rate-limited tool call's error, from a patch
