"""The real langsmith SDK against the fake LangSmith API on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langsmith.run_trees import RunTree

from examples import agents
from refinery.errors import SourceError, TraceFetchError, TraceNotFound
from refinery.trace.langsmith import LangSmithSource
from refinery.trace.source import SelectionCriteria
from refinery.wiring import build_langsmith_source, load_settings
from tests.fakes.langsmith_api import FakeLangSmith


def source_for(
    fake: FakeLangSmith, *, key: str | None = None, allow_partial: bool = False, retries: int = 2
) -> LangSmithSource:
    settings = load_settings(
        {
            "LANGSMITH_API_KEY": key or fake.api_key,
            "LANGSMITH_ENDPOINT": fake.url,
            "LANGSMITH_PROJECT": agents.PROJECT,
        },
        {"langsmith_max_retries": retries},
    )
    source = build_langsmith_source(settings, allow_partial=allow_partial)
    assert isinstance(source, LangSmithSource)
    return source


def test_fetch_by_trace_id_or_any_run_id(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    source = source_for(fake_langsmith)
    trace = source.fetch_trace(recorded["rate_limited"])
    names = [r.name for r in trace.runs]
    assert names == ["eval_case", "travel_agent", "plan_and_search", "ChatOpenAI", "search_flights"]
    assert trace.source == "langsmith" and trace.id == recorded["rate_limited"]
    tool = trace.runs[-1]
    assert tool.run_type == "tool" and tool.status == "error" and "429" in (tool.error or "")
    assert trace.path(tool.id)[0].id == trace.root.id
    llm = trace.runs[3]
    assert (llm.model, llm.prompt_tokens, llm.completion_tokens) == (agents.MODEL, 412, 38)
    assert trace.url and trace.url.endswith(f"/r/{trace.root.id}?trace_id={trace.root.id}")
    assert trace.warnings == [] and not trace.partial

    same = source.fetch_trace(tool.id)  # a child run id finds its whole trace
    assert [r.id for r in same.runs] == [r.id for r in trace.runs]


def test_feedback_and_reference_outputs(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    trace = source_for(fake_langsmith).fetch_trace(recorded["wrong_answer"])
    [feedback] = trace.feedback
    assert (feedback.key, feedback.score) == ("correctness", 0.0)
    assert feedback.comment and "computed 71% instead of 17%" in feedback.comment
    assert trace.reference_outputs == {"answer": "397.8"}
    assert trace.metadata["example_inputs"] == {"question": "What is 17% of 2,340?"}


def _big_trace(fake: FakeLangSmith, n_children: int) -> str:
    client = agents.sdk_client(fake.direct_url, fake.api_key)
    root = RunTree(name="big", run_type="chain", inputs={}, project_name=agents.PROJECT, ls_client=client)
    root.post()
    for i in range(n_children):
        child = root.create_child(name=f"step{i}", run_type="tool", inputs={"i": i})
        child.end(outputs={"ok": i})
        child.post()
    root.end(outputs={})
    root.patch()
    client.flush()
    return str(root.id)


def test_pages_through_cursors_never_asking_more_than_100(fake_langsmith: FakeLangSmith) -> None:
    trace_id = _big_trace(fake_langsmith, 250)
    trace = source_for(fake_langsmith).fetch_trace(trace_id)
    assert len(trace.runs) == 251
    assert [r.name for r in trace.runs[1:4]] == ["step0", "step1", "step2"]
    queries = [body for method, path, body in fake_langsmith.requests if path.startswith("/runs/query")]
    assert len(queries) == 3
    assert [q.get("cursor") for q in queries] == [None, "100", "200"]
    assert all(q.get("limit") is None or q["limit"] <= 100 for q in queries)


def test_429_with_retry_after_is_retried_by_the_sdk(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    fake_langsmith.fail("POST", "^/runs/query$", 429, times=2, Retry_After="0")
    trace = source_for(fake_langsmith, retries=3).fetch_trace(recorded["looping"])
    assert len(trace.runs) == 11
    queries = [p for m, p, _ in fake_langsmith.requests if p.startswith("/runs/query")]
    assert len(queries) == 3  # two refusals, then the answer


def test_persistent_429_is_a_clear_error(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    fake_langsmith.fail("GET", "^/runs/", 429, times=10, Retry_After="0")
    with pytest.raises(SourceError, match=r"rate-limiting.*429.*retries"):
        source_for(fake_langsmith, retries=1).fetch_trace(recorded["looping"])


def test_a_fetch_that_breaks_midway_is_an_error_unless_partial_is_allowed(
    fake_langsmith: FakeLangSmith,
) -> None:
    trace_id = _big_trace(fake_langsmith, 150)
    fake_langsmith.fail("POST", "^/runs/query$", 400, times=1, after=1)
    with pytest.raises(TraceFetchError, match=r"stopped after 100 runs") as stopped:
        source_for(fake_langsmith, retries=0).fetch_trace(trace_id)
    assert stopped.value.hint == (
        "Re-run, or set `allow-partial: true` (CLI: --allow-partial) to analyse what was fetched; it is marked partial."
    )
    fake_langsmith.fail("POST", "^/runs/query$", 400, times=1, after=1)
    trace = source_for(fake_langsmith, retries=0, allow_partial=True).fetch_trace(trace_id)
    assert trace.partial
    assert len(trace.runs) == 100
    [warning] = [w for w in trace.warnings if w.code == "partial"]
    assert warning.count == 100 and warning.message.startswith("Only 100 runs could be fetched: LangSmith failed")


def test_wrong_key_and_unknown_run(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    with pytest.raises(SourceError, match="LANGSMITH_API_KEY"):
        source_for(fake_langsmith, key="lsv2_wrong").fetch_trace(recorded["looping"])
    with pytest.raises(TraceNotFound):
        source_for(fake_langsmith).fetch_trace("00000000-0000-4000-8000-000000000000")


def test_unreachable_endpoint_names_the_setting() -> None:
    settings = load_settings(
        {"LANGSMITH_API_KEY": "k", "LANGSMITH_ENDPOINT": "http://127.0.0.1:9"}, {"langsmith_max_retries": 0}
    )
    with pytest.raises(SourceError, match="LANGSMITH_ENDPOINT"):
        build_langsmith_source(settings).fetch_trace("00000000-0000-4000-8000-000000000001")


def test_select_failing_errors_and_low_feedback_newest_first(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str]
) -> None:
    source = source_for(fake_langsmith)
    # By default a score of 0 on any key fails, with no feedback-key set: the most common failure.
    both = source.select_failing(SelectionCriteria(limit=10))
    assert [s.trace_id for s in both] == [recorded["wrong_answer"], recorded["rate_limited"]]
    assert both[0].reasons == ["feedback correctness=0 ≤ 0.5"]
    assert both[1].reasons[0].startswith("error: ToolError")
    starts = [s.start_time for s in both]
    assert starts == sorted(starts, reverse=True)
    # The scores came with the runs (feedback_stats), not from one feedback call per run.
    assert not [p for m, p, _ in fake_langsmith.requests if m == "GET" and p.startswith("/feedback")]
    [query] = [body for m, p, body in fake_langsmith.requests if p.startswith("/runs/query")]
    assert "feedback_stats" in query["select"] and "inputs" not in query["select"]

    assert len(source.select_failing(SelectionCriteria(limit=1))) == 1
    future = datetime.now(UTC) + timedelta(hours=1)
    assert source.select_failing(SelectionCriteria(since=future, limit=10)) == []
    stricter = source.select_failing(SelectionCriteria(max_score=-1, limit=10))
    assert [s.trace_id for s in stricter] == [recorded["rate_limited"]]


def _scored_run(client: Any, name: str, key: str, score: float, *, project: str = agents.PROJECT, **extra: Any) -> str:
    """A root run the SDK posts, with one piece of feedback on it, as an evaluator leaves it."""
    root = RunTree(name=name, run_type="chain", inputs={"q": name}, project_name=project, ls_client=client, **extra)
    root.post()
    root.end(outputs={"a": name})
    root.patch()
    client.flush()
    session = client.read_project(project_name=project).id
    client.create_feedback(root.id, key=key, score=score, trace_id=root.id, session_id=session)
    return str(root.id)


def test_a_failed_pytest_assertion_and_narrowing_by_key(fake_langsmith: FakeLangSmith) -> None:
    client = agents.sdk_client(fake_langsmith.direct_url, fake_langsmith.api_key)
    failed_test = _scored_run(client, "test_refund_policy", "pass", 0)  # what pytest-langsmith records
    passed_test = _scored_run(client, "test_greeting", "pass", 1)
    judged = _scored_run(client, "judged", "helpfulness", 0.2)
    source = source_for(fake_langsmith)
    every_key = {s.trace_id for s in source.select_failing(SelectionCriteria(limit=10))}
    assert every_key == {failed_test, judged} and passed_test not in every_key
    narrowed = source.select_failing(SelectionCriteria(feedback_keys=["pass"], limit=10))
    assert [s.trace_id for s in narrowed] == [failed_test]
    assert narrowed[0].reasons == ["feedback pass=0 ≤ 0.5"]
    # With keys given, the server prefilters on errors and those keys' scores.
    last = [body for m, p, body in fake_langsmith.requests if p.startswith("/runs/query")][-1]
    assert last["filter"] == 'or(neq(error, null), and(eq(feedback_key, "pass"), lte(feedback_score, 0.5)))'


def test_an_experiment_counts_each_example_once_with_its_repetitions(fake_langsmith: FakeLangSmith) -> None:
    client = agents.sdk_client(fake_langsmith.direct_url, fake_langsmith.api_key)
    experiment = "math-agent-exp-1"
    flaky, broken, fine = (str(agents.new_id(f"example-{n}")) for n in ("flaky", "broken", "fine"))
    runs: dict[str, list[str]] = {flaky: [], broken: [], fine: []}
    for repetition in range(3):
        for example, score in ((flaky, 0 if repetition == 1 else 1), (broken, 0), (fine, 1)):
            runs[example].append(
                _scored_run(
                    client, f"rep{repetition}", "correctness", score, project=experiment, reference_example_id=example
                )
            )
    settings = load_settings({"LANGSMITH_API_KEY": fake_langsmith.api_key, "LANGSMITH_ENDPOINT": fake_langsmith.url})
    source = build_langsmith_source(settings, project=experiment, experiment=True)
    selected = {s.example_id: s for s in source.select_failing(SelectionCriteria(limit=10))}
    assert set(selected) == {flaky, broken}  # an example, not a run, is the unit
    assert selected[flaky].trace_id == runs[flaky][1]
    assert (selected[flaky].repetitions, selected[flaky].failed_repetitions) == (3, 1)
    assert selected[flaky].flaky_note == "flaky: failed 1 of 3 repetitions"
    assert set(selected[flaky].passed_trace_ids) == {runs[flaky][0], runs[flaky][2]}
    assert selected[broken].flaky_note is None and selected[broken].failed_repetitions == 3
    assert selected[broken].trace_id == runs[broken][-1]  # the newest failing repetition


# -- the contract's negative controls: Prism with LangSmith's description catches what the real API would


def test_prism_rejects_a_request_the_real_api_would_refuse(fake_langsmith: FakeLangSmith) -> None:
    import requests

    if not fake_langsmith.contract:
        pytest.skip("no contract in front of the fake: ../shared is absent, or REFINERY_TESTS_WITHOUT_CONTRACT is set")
    too_big = requests.post(
        f"{fake_langsmith.url}/runs/query",
        json={"limit": 1000, "is_root": True},
        headers={"x-api-key": fake_langsmith.api_key},
        timeout=10,
    )
    assert too_big.status_code == 422 and "limit" in too_big.text  # the description caps a page at 100
    assert not [p for m, p, _ in fake_langsmith.requests if p.startswith("/runs/query")]  # never reached the fake


def test_prism_rejects_a_response_the_real_api_would_never_send(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not fake_langsmith.contract:
        pytest.skip("no contract in front of the fake: ../shared is absent, or REFINERY_TESTS_WITHOUT_CONTRACT is set")
    public = fake_langsmith._public_run
    # A run without its status and trace id: RunSchema requires both.
    monkeypatch.setattr(
        fake_langsmith,
        "_public_run",
        lambda run: {k: v for k, v in public(run).items() if k not in ("status", "trace_id")},
    )
    with pytest.raises(SourceError, match="500"):
        source_for(fake_langsmith, retries=0).fetch_trace(recorded["looping"])
