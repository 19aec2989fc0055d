from __future__ import annotations

import pytest

from refinery.trace.assemble import assemble_trace
from refinery.trace.model import Feedback
from refinery.triage import run_triage
from refinery.triage.classify import classify_error
from refinery.triage.model import CATEGORY_GROUP
from tests.builders import TraceBuilder, tool_call


def rules(report) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(f.rule, f.category) for f in report.findings]


def test_error_chain_origin_propagated_and_independent() -> None:
    b = TraceBuilder()
    plan = b.add("plan", b.root)
    b.llm(plan, tool_calls=[tool_call("search", '{"q": "x"}')])
    search = b.add("search", plan, "tool", error="RateLimitError: 429 Too Many Requests")
    later = b.add("fetch_page", b.root, "tool", error="HTTPError: 404 Not Found for https://example.com")
    b.drafts[0]["error"] = "RateLimitError: 429 Too Many Requests"
    b.drafts[1]["error"] = "RateLimitError: 429 Too Many Requests"
    report = run_triage(b.build())
    by_run = {f.run_id: f for f in report.findings}
    assert by_run[search].role == "origin" and by_run[search].category == "Rate Limiting"
    assert by_run[search].severity == "critical" and by_run[search].id == "F01"
    assert by_run[plan].role == "propagated" and by_run[b.root].role == "propagated"
    assert by_run[later].role == "independent" and by_run[later].category == "Resource Not Found"
    assert report.origin is not None and report.origin.run_id == search and report.origin.section == "R0003"
    assert [f.id for f in report.findings] == [f"F{i:02d}" for i in range(1, len(report.findings) + 1)]


@pytest.mark.parametrize(
    "text,run_type,category",
    [
        ("openai.RateLimitError: Error code: 429 - insufficient_quota", "llm", "Rate Limiting"),
        ("AuthenticationError: 401 Incorrect API key provided", "llm", "Authentication Errors"),
        ("This model's maximum context length is 128000 tokens", "llm", "Context Handling Failures"),
        ("ModuleNotFoundError: No module named 'pandas'", "tool", "Environment Setup Errors"),
        ("TypeError: search() got an unexpected keyword argument 'limit'", "tool", "Tool Definition Issues"),
        ("ReadTimeout: request timed out after 30s", "tool", "Timeout Issues"),
        ("FileNotFoundError: [Errno 2] No such file or directory: 'a.csv'", "tool", "Resource Not Found"),
        ("HTTP 503 Service Unavailable", "retriever", "Service Errors"),
        ("OutputParserException: Could not parse LLM output", "chain", "Formatting Errors"),
        ("anything at all", "parser", "Formatting Errors"),
        ("RecursionError: maximum recursion depth exceeded", "chain", "Resource Exhaustion"),
        ("ValueError: bad plan", "chain", "Task Orchestration"),
    ],
)
def test_error_classification(text: str, run_type: str, category: str) -> None:
    assert classify_error(text, run_type) == category
    assert category in CATEGORY_GROUP


def test_tool_output_reporting_a_failure_without_raising() -> None:
    b = TraceBuilder()
    weather = b.add("get_weather", b.root, "tool", outputs={"output": "upstream said: HTTP 503 Service Unavailable"})
    b.add("get_news", b.root, "tool", outputs={"error": {"code": 401, "message": "Unauthorized"}})
    b.add("fine", b.root, "tool", outputs={"output": "HTTP is a protocol; 200 items found"})
    report = run_triage(b.build())
    assert rules(report) == [
        ("tool_output_error", "Service Errors"),
        ("tool_output_error", "Authentication Errors"),
    ]
    assert report.origin is not None and report.origin.run_id == weather


@pytest.mark.parametrize(
    "outputs",
    [
        {"choices": [{"message": {"role": "assistant", "content": "The answer is"}, "finish_reason": "length"}]},
        {"content": [{"type": "text", "text": "cut"}], "stop_reason": "max_tokens"},
        {"generations": [[{"text": "cut", "generation_info": {"finish_reason": "length"}}]]},
        {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
    ],
)
def test_truncated_llm_output(outputs: dict) -> None:  # type: ignore[type-arg]
    b = TraceBuilder()
    llm = b.add("model", b.root, "llm", outputs=outputs)
    report = run_triage(b.build())
    assert ("truncated_output", "Resource Exhaustion") in rules(report)
    assert report.origin is not None and report.origin.run_id == llm


def test_normal_stop_is_not_truncation() -> None:
    b = TraceBuilder(outputs={"output": "fine"})
    b.llm(b.root, "fine")
    assert run_triage(b.build()).findings == []


def test_invalid_json_in_tool_arguments_and_json_mode() -> None:
    b = TraceBuilder(outputs={"output": "x"})
    b.llm(b.root, None, tool_calls=[tool_call("search", '{"q": "unterminated')])
    b.llm(b.root, "Sure! {not json}", metadata={"invocation_params": {"response_format": {"type": "json_object"}}})
    b.llm(b.root, '{"ok": true}', metadata={"invocation_params": {"response_format": {"type": "json_object"}}})
    found = [f for f in run_triage(b.build()).findings if f.rule == "invalid_json"]
    assert [f.section for f in found] == ["R0001", "R0002"]
    assert all(f.category == "Formatting Errors" for f in found)


def test_repeated_identical_calls_are_a_loop() -> None:
    b = TraceBuilder(outputs={"output": "x"})
    ids = [b.add("lookup", b.root, "tool", inputs={"id": "ABC"}, outputs={"ok": 1}) for _ in range(3)]
    b.add("lookup", b.root, "tool", inputs={"id": "XYZ"}, outputs={"ok": 1})
    b.add("lookup", b.root, "tool", inputs={"id": "XYZ"}, outputs={"ok": 1})
    report = run_triage(b.build())
    [loop] = [f for f in report.findings if f.rule == "repeated_call"]
    assert loop.category == "Resource Abuse" and loop.run_id == ids[1]
    assert loop.related_sections == ["R0001", "R0002", "R0003"]
    assert "× 3" in loop.evidence


def test_empty_final_output() -> None:
    b = TraceBuilder(outputs={"output": ""})
    b.llm(b.root, "thinking", tool_calls=[tool_call("x", "{}")])
    last = b.llm(b.root, "")
    report = run_triage(b.build())
    assert [(f.rule, f.run_id) for f in report.findings] == [("empty_output", last)]
    b2 = TraceBuilder(outputs={"answer": None})
    assert [f.rule for f in run_triage(b2.build()).findings] == ["empty_output"]


def test_eval_feedback_at_or_below_threshold_and_reference_mismatch() -> None:
    b = TraceBuilder(outputs={"answer": "1661.4"})
    feedback = [
        Feedback(key="correctness", score=0, comment="Expected 397.8"),
        Feedback(key="helpfulness", score=0.9),
        Feedback(key="borderline", score=0.5),
    ]
    report = run_triage(b.build(feedback=feedback, reference_outputs={"answer": "397.8"}))
    gaps = [(f.rule, f.evidence) for f in report.findings if f.group == "evaluation"]
    assert ("eval_feedback", "correctness = 0: Expected 397.8") in gaps
    assert ("eval_feedback", "borderline = 0.5") in gaps
    assert not any("helpfulness" in e for _, e in gaps)
    assert any(r == "reference_mismatch" for r, _ in gaps)
    strict = run_triage(b.build(feedback=feedback, reference_outputs={"answer": "1,661.4"}), eval_threshold=0.0)
    assert [f.evidence for f in strict.findings] == ["correctness = 0: Expected 397.8"]
    assert strict.origin is None  # a verdict alone does not name an origin


def test_latency_and_token_outliers() -> None:
    b = TraceBuilder(outputs={"output": "x"})
    for _ in range(6):
        b.add("search", b.root, "tool", ms=200, inputs={"n": _}, outputs={"ok": 1})
    slow = b.add("search", b.root, "tool", ms=30_000, inputs={"n": 99}, outputs={"ok": 1})
    for _ in range(5):
        b.llm(b.root, "x", prompt_tokens=900)
    big = b.llm(b.root, "x", prompt_tokens=60_000)
    report = run_triage(b.build())
    found = {(f.rule, f.run_id) for f in report.findings}
    assert ("latency_outlier", slow) in found and ("token_outlier", big) in found
    assert all(f.severity == "low" for f in report.findings)


def test_history_executor_failure_blames_the_author_step() -> None:
    data = [
        {"id": "q", "name": "task", "run_type": "chain"},
        {
            "id": "s0",
            "parent_id": "q",
            "name": "Planner",
            "agent": "Planner",
            "run_type": "agent",
            "outputs": {"content": "plan"},
        },
        {
            "id": "s1",
            "parent_id": "q",
            "name": "Coder",
            "agent": "Coder",
            "run_type": "agent",
            "outputs": {"content": "```python\n1/0\n```"},
        },
        {
            "id": "s2",
            "parent_id": "q",
            "name": "Computer_terminal",
            "agent": "Computer_terminal",
            "run_type": "agent",
            "outputs": {"content": "exitcode: 1 (execution failed)\nCode output: ZeroDivisionError: division by zero"},
        },
    ]
    trace = assemble_trace(data, source="file:history", times_expected=False)
    report = run_triage(trace)
    assert report.findings[0].rule == "tool_output_error" and report.findings[0].run_id == "s2"
    assert report.origin is not None
    assert (report.origin.run_id, report.origin.agent, report.origin.step) == ("s1", "Coder", 2)
    assert "executed and failed at R0003" in report.origin.reason


def test_clean_trace_has_no_findings() -> None:
    b = TraceBuilder(outputs={"output": "done"})
    b.llm(b.root, "done")
    report = run_triage(b.build(feedback=[Feedback(key="correctness", score=1)]))
    assert report.findings == [] and report.origin is None
