"""Grouping failures by shared root cause, on purpose-built traces, and the grouped comment lead."""

from __future__ import annotations

from refinery.analysis.grouping import group_failures
from refinery.analysis.orchestrator import AnalysisResult, offline_result
from refinery.analysis.pack import StageRecord
from refinery.analysis.schemas import Diagnosis
from refinery.pipeline import prepare
from refinery.report.comment import build_comment
from refinery.trace.model import Feedback
from tests.builders import TraceBuilder


def failing(tool: str, error: str, name: str = "agent") -> AnalysisResult:
    b = TraceBuilder(name, outputs={"output": "x"})
    b.add(tool, b.root, "tool", error=error)
    return offline_result(prepare(b.build()))


def graded(comment: str) -> AnalysisResult:
    b = TraceBuilder(outputs={"answer": "wrong"})
    return offline_result(prepare(b.build(feedback=[Feedback(key="correctness", score=0, comment=comment)])))


def test_same_category_and_tool_group_together_ranked_by_count() -> None:
    results = [
        failing("search", "RateLimitError: 429 Too Many Requests"),
        failing("search", "HTTP 429: slow down"),
        failing("fetch_page", "HTTPError: 404 Not Found"),
        failing("search", "RateLimitError: 429 quota"),
        graded("answered 12 instead of 7"),
    ]
    groups = group_failures(results)
    assert [(g.id, g.count, g.category, g.origin_name) for g in groups] == [
        ("G1", 3, "Rate Limiting", "search"),
        ("G2", 1, "Resource Not Found", "fetch_page"),
        ("G3", 1, "Eval Gap", None),
    ]
    assert groups[0].title == "tool `search`: Rate Limiting"
    assert groups[0].trace_ids == [results[i].prepared.trace.id for i in (0, 1, 3)]


def test_different_tools_in_one_category_stay_apart_unless_the_cause_reads_alike() -> None:
    a = failing("search", "RateLimitError: 429 Too Many Requests from flights api")
    b = failing("lookup", "RateLimitError: 429 Too Many Requests from flights api")
    c = failing("weather", "RateLimitError: quota exhausted for project alpha")
    groups = group_failures([a, b, c])
    assert [g.count for g in groups] == [2, 1]


def test_the_models_diagnosis_decides_when_there_is_one() -> None:
    results = [failing("search", "boom"), failing("search", "boom")]
    diagnosis = Diagnosis.model_validate(
        {
            "causal_chains": [
                {
                    "symptom": "s",
                    "mechanism": "m",
                    "cause": "the planner prompt forbids retries",
                    "category": "Instruction Non-compliance",
                    "origin_run_id": "R0000",
                    "citations": [],
                }
            ],
            "remediations": [],
            "confidence": 0.9,
            "inconclusive": False,
            "inconclusive_reason": None,
        }
    )
    results[1].stages.append(
        StageRecord(
            stage="diagnosis", number=3, status="ok", prompts_version="t", output=diagnosis.model_dump(mode="json")
        )
    )
    groups = group_failures(results)
    assert sorted(g.category for g in groups) == ["Instruction Non-compliance", "Service Errors"]


def test_the_comment_leads_with_the_groups() -> None:
    results = [failing("search", "RateLimitError: 429"), failing("search", "HTTP 429"), graded("wrong total")]
    body = build_comment(results, marker="<!-- m -->")
    lead = body.split("<details>")[0]
    assert "**What broke:**" in lead
    assert "- **2 of 3 failures**: tool `search`: Rate Limiting" in lead
    assert lead.index("What broke") < lead.index("Each trace")
    assert body.count("<details>") == 3
    single = build_comment(results[:1], marker="<!-- m -->")
    assert "What broke" not in single
