"""Grouping failures by shared root cause, on purpose-built traces, and the grouped comment lead."""

from __future__ import annotations

import itertools

import pytest

from refinery.analysis.grouping import group_failures
from refinery.analysis.orchestrator import AnalysisResult, offline_result
from refinery.analysis.pack import StageRecord
from refinery.analysis.schemas import Diagnosis
from refinery.pipeline import prepare
from refinery.report.comment import build_comment
from refinery.trace.model import Feedback
from tests.builders import TraceBuilder

_IDS = itertools.count(1)


def failing(tool: str, error: str, name: str = "agent") -> AnalysisResult:
    b = TraceBuilder(name, outputs={"output": "x"})
    b.add(tool, b.root, "tool", error=error)
    return offline_result(prepare(b.build(trace_id=f"trace-{next(_IDS)}")))


def graded(comment: str) -> AnalysisResult:
    b = TraceBuilder(outputs={"answer": "wrong"})
    feedback = [Feedback(key="correctness", score=0, comment=comment)]
    return offline_result(prepare(b.build(feedback=feedback, trace_id=f"graded-{next(_IDS)}")))


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


# -- what a group says about its members: title, cause, severity, order --------------------------


def _diagnosed(result: AnalysisResult, section: str, *, inconclusive: bool = False, first: str = "") -> AnalysisResult:
    """``result`` with a diagnosis whose first causal chain starts at ``section``; ``first`` adds a stage
    with an output before it, as trace_analysis has."""
    chain = {
        "symptom": "s",
        "mechanism": "m",
        "cause": "the planner prompt forbids retries",
        "category": "Instruction Non-compliance",
        "origin_run_id": section,
        "citations": [],
    }
    output = {
        "causal_chains": [chain],
        "remediations": [],
        "confidence": 0.9,
        "inconclusive": inconclusive,
        "inconclusive_reason": "too little" if inconclusive else None,
    }
    if first:
        result.stages.append(StageRecord(stage=first, number=1, status="ok", prompts_version="t", output={"x": 1}))
    result.stages.append(StageRecord(stage="diagnosis", number=3, status="ok", prompts_version="t", output=output))
    return result


def test_a_diagnosis_names_the_place_by_the_finding_at_its_section_and_gives_its_own_cause() -> None:
    search = failing("search", "boom")
    section = search.prepared.triage.origin.section if search.prepared.triage.origin else ""
    [group] = group_failures([_diagnosed(search, f" {section} ", first="trace_analysis")])
    assert group.title == "tool `search`: Instruction Non-compliance"
    assert (group.origin_name, group.cause, group.severity) == ("search", "the planner prompt forbids retries", "high")


def test_a_diagnosis_at_a_run_triage_knows_nothing_of_names_no_place() -> None:
    [group] = group_failures([_diagnosed(failing("search", "boom"), "R0000")])
    assert group.title == "the final answer: Instruction Non-compliance" and group.origin_name is None


def test_an_inconclusive_diagnosis_leaves_the_grouping_to_triage() -> None:
    [group] = group_failures([_diagnosed(failing("search", "boom"), "R0001", inconclusive=True)])
    assert group.category == "Service Errors" and group.cause.startswith("boom")


def test_a_failure_with_nothing_to_say_is_its_own_kind_and_says_why_it_was_selected() -> None:
    from refinery.analysis.pack import PackSelection

    quiet = offline_result(prepare(TraceBuilder(outputs={"answer": "fine"}).build()))
    [group] = group_failures([quiet])
    assert (group.title, group.category, group.severity) == ("the run: Unexplained", "Unexplained", "low")
    assert group.cause == "no run failed and no eval gap was found"
    quiet.selection = PackSelection(reasons=["correctness = 0", "latency over 30 s"], flaky="passed 1 of 3")
    [group] = group_failures([quiet])
    assert group.cause == "correctness = 0"
    assert group.members[0].flaky == "passed 1 of 3"


def test_an_eval_gap_is_about_the_final_answer_in_the_evaluators_words() -> None:
    [group] = group_failures([graded("answered 12 instead of 7")])
    assert group.title == "the final answer: Eval Gap" and group.severity == "high"
    assert "answered 12 instead of 7" in group.cause


def test_a_group_is_as_severe_as_its_worst_member_and_ties_rank_by_severity_then_title() -> None:
    quiet = offline_result(prepare(TraceBuilder(outputs={"answer": "fine"}).build(trace_id="quiet")))
    limited = failing("search", "RateLimitError: 429 Too Many Requests")
    groups = group_failures([quiet, limited])
    # Alphabetically "the run" comes before "tool": the more severe group still leads.
    assert [g.title for g in groups] == ["tool `search`: Rate Limiting", "the run: Unexplained"]
    assert [g.id for g in groups] == ["G1", "G2"] and {g.total for g in groups} == {2}


def test_members_say_who_they_are_and_whether_a_model_analysed_them() -> None:
    result = failing("search", "boom", name="refund_flow")
    pack = result.pack()
    analysed = pack.model_copy(update={"status": "partial", "trace": pack.trace.model_copy(update={"id": "t2"})})
    [group] = group_failures([pack, analysed])
    first, second = group.members
    assert (first.trace_id, first.name, first.analysed, first.flaky) == (pack.trace.id, "refund_flow", False, None)
    assert first.url == pack.trace.url and (second.trace_id, second.analysed) == ("t2", True)


def test_causes_read_alike_by_their_words_not_their_numbers_or_filler() -> None:
    # Same category, different tools: only the cause's words can join them.
    a = failing("search", "RateLimitError quota exceeded 429 the of")
    b = failing("lookup", "RateLimitError quota hit 500 the of")  # 2 of 4 words shared: exactly alike enough
    c = failing("weather", "throttled 429 429 the of to")  # shares only a number and filler with a
    groups = group_failures([a, b, c])
    assert sorted(g.count for g in groups) == [1, 2]
    assert next(g for g in groups if g.count == 2).trace_ids == [a.prepared.trace.id, b.prepared.trace.id]


def test_a_groups_cause_is_what_every_member_says_not_the_first_members_own_words() -> None:
    sixty, fluffy = graded("Expected answer: 60"), graded("Expected answer: fluffy")
    [group] = group_failures([sixty, fluffy])
    assert group.count == 2 and group.cause == "correctness = 0: Expected answer: …"
    body = build_comment([sixty, fluffy], marker="<!-- m -->")
    lead = body.split("**Each trace:**")[0]
    assert "**2 of 2 failures**: the final answer: Eval Gap: correctness = 0: Expected answer: …" in lead
    assert "60" not in lead and "fluffy" not in lead  # each member's own answer stays with its trace
    [same] = group_failures([graded("Expected answer: 60"), graded("Expected answer: 60")])
    assert same.cause == "correctness = 0: Expected answer: 60"


def test_a_shared_cause_ends_before_a_bracket_it_would_leave_open() -> None:
    from refinery.analysis.grouping import shared_cause

    assert shared_cause(["Error code: 400 - {'error': {'a': 1}}", "Error code: 400 - {'error': {'b': 2}}"]) == (
        "Error code: 400 …"
    )
    # a bracket closed within the opening is kept, and so is a colon
    assert shared_cause(["KeyError (in lookup): 'alpha'", "KeyError (in lookup): 'beta'"]) == "KeyError (in lookup): …"
    assert shared_cause(["Value [3] bad: [x, y]", "Value [3] bad: [z]"]) == "Value [3] bad: …"
    # only brackets open, and only spaces and dashes are trimmed before one: a name's letters stay
    assert shared_cause(["Parse error in XLSX - {'row': 1}", "Parse error in XLSX - {'row': 2}"]) == (
        "Parse error in XLSX …"
    )


def test_a_shared_cause_cuts_no_word_and_says_whose_words_it_quotes_when_nothing_is_shared() -> None:
    from refinery.analysis.grouping import SHARED_OPENING, shared_cause

    assert shared_cause(["ConnectionError: timed outage", "ConnectionError: timed out"]) == "ConnectionError: timed …"
    assert shared_cause(["ConnectionError: timed out", "ConnectionError: timed out again"]) == (
        "ConnectionError: timed out …"
    )
    opening = "x" * SHARED_OPENING
    assert shared_cause([f"{opening} a", f"{opening} b"]) == f"{opening} …"
    short = "x" * (SHARED_OPENING - 1)
    assert shared_cause([f"{short} a", f"{short} b", f"{short} c"]) == f"{short} a (1 of 3: the others' words differ)"
    assert shared_cause(["429 Too Many Requests", "rate limit exceeded"]) == (
        "429 Too Many Requests (1 of 2: the other's words differ)"
    )


def test_traces_that_share_a_name_are_told_apart_by_their_ids_and_others_are_not() -> None:
    twins = [failing("search", "boom", name="task"), failing("fetch", "HTTPError: 404", name="task")]
    solo = failing("lookup", "boom", name="refund_flow")
    lead = build_comment([*twins, solo], marker="<!-- m -->").split("<details>")[0]
    for twin in twins:
        assert f"- `task` (`{twin.prepared.trace.id}`):" in lead
    assert "- `refund_flow`:" in lead


def test_runs_cut_off_by_their_limit_with_no_origin_group_by_the_limit_not_their_answers() -> None:
    from refinery.trace.files.chat import load_history

    def cut_off(question: str, expected: str) -> AnalysisResult:
        history = [
            {"role": "human", "content": question},
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": "I scrolled down one page in the browser and read the archive."},
            {"role": "Orchestrator (termination condition)", "content": "Max rounds (30) reached."},
        ]
        log = {"question": question, "question_ID": question, "is_correct": False, "ground_truth": expected}
        [trace] = load_history(log | {"history": history})
        return offline_result(prepare(trace))

    first, second = cut_off("Which city is in the picture?", "Chicago"), cut_off("Who won in 2019?", "Ann Lee")
    limited, answered = group_failures([first, second, graded("Expected answer: Chicago")])
    assert (limited.title, limited.cause, limited.count) == (
        "the run: Resource Exhaustion",
        "Max rounds (30) reached.",
        2,
    )
    assert (answered.title, answered.count) == ("the final answer: Eval Gap", 1)


def test_failures_known_only_by_an_evaluators_verdict_cluster_by_the_evaluator_not_its_comments_words() -> None:
    def judged(key: str, comment: str) -> AnalysisResult:
        b = TraceBuilder(outputs={"answer": "wrong"})
        feedback = [Feedback(key=key, score=0, comment=comment)]
        return offline_result(prepare(b.build(feedback=feedback, trace_id=f"judged-{next(_IDS)}")))

    long_answer = judged("correctness", "Expected answer: Trout lake trail Artist Point Fountain Paint Pot")
    short_answer = judged("correctness", "Expected answer: 60")
    tone = judged("helpfulness", "Expected answer: 60")
    assert long_answer.pack().triage.findings[0].evaluator == "correctness"
    correctness, helpfulness = group_failures([long_answer, short_answer, tone])
    assert correctness.count == 2 and correctness.cause == "correctness = 0: Expected answer: …"
    assert helpfulness.trace_ids == [tone.prepared.trace.id]


def test_a_cluster_of_failures_at_different_places_names_none_of_them_as_everyones() -> None:
    from refinery.analysis.grouping import _place, _Signature

    def at(name: str | None) -> _Signature:
        return _Signature(trace_id="t", category="c", origin_name=name, run_type="agent", cause="", severity="high")

    assert _place(at("A"), ["A"]) == "agent `A`"
    assert _place(at("A"), ["A", "B"]) == "agents `A`, `B`"
    assert _place(at("A"), ["A", "B", "C", "D"]) == "agents `A`, `B` and 2 more"
    assert _place(at("A"), ["A", None]) == "agents `A` and 1 more"
    assert _place(at(None), [None]) == "the final answer"
    # Two tools failing alike: the cluster's title lists both and names no one place as theirs.
    a, b = failing("search", "RateLimitError quota exceeded 429"), failing("lookup", "RateLimitError quota hit 500")
    [group] = group_failures([a, b])
    assert group.title == "tools `search`, `lookup`: Rate Limiting" and group.origin_name is None


def test_an_opening_that_ends_inside_a_word_is_cut_back_to_the_last_whole_word() -> None:
    from refinery.analysis.grouping import shared_cause

    # The opening "ConnectionError: a" ends inside "abc" and "axy": the word is not theirs to share.
    assert shared_cause(["ConnectionError: abc", "ConnectionError: axy"]) == "ConnectionError: …"
    # "timed" is the start of "timedx" and "timedz", whatever follows a character later.
    assert shared_cause(["ConnectionError: timedx y", "ConnectionError: timedz y"]) == "ConnectionError: …"


def test_a_cluster_of_runs_with_no_type_says_runs() -> None:
    from refinery.analysis.grouping import _place, _Signature

    untyped = _Signature(trace_id="t", category="c", origin_name="A", run_type=None, cause="", severity="high")
    assert _place(untyped, ["A", "B"]) == "runs `A`, `B`"
    assert _place(untyped, ["A"]) == "run `A`"


def test_a_diagnosis_at_another_findings_run_names_that_run_and_not_the_origins_type() -> None:
    b = TraceBuilder("agent", outputs={"output": "x"})
    b.add("search", b.root, "tool", error="boom")
    b.add("fetch", b.root, "tool", error="HTTPError: 404 Not Found")
    result = offline_result(prepare(b.build(trace_id=f"trace-{next(_IDS)}")))
    fetch = next(f for f in result.prepared.triage.findings if f.name == "fetch")
    assert result.prepared.triage.origin is not None and result.prepared.triage.origin.name == "search"
    [group] = group_failures([_diagnosed(result, str(fetch.section))])
    # The place is the finding's run; its type is known only for the origin's own run.
    assert group.title == "run `fetch`: Instruction Non-compliance" and group.origin_name == "fetch"


def test_a_diagnosis_at_the_origin_with_no_finding_there_names_the_origin() -> None:
    # The origin is the write that set up the state a later precondition error reports: no finding is at it.
    b = TraceBuilder("agent", outputs={"output": "x"})
    b.add("modify_pending_order", b.root, "tool", inputs={"order_id": "#W1"}, outputs={"status": "modified"})
    b.add("cancel_pending_order", b.root, "tool", inputs={"order_id": "#W1"}, error="Error: order is not pending")
    result = offline_result(prepare(b.build(trace_id=f"trace-{next(_IDS)}")))
    origin = result.prepared.triage.origin
    assert origin is not None and origin.name == "modify_pending_order"
    assert not [f for f in result.prepared.triage.findings if f.section == origin.section]
    [group] = group_failures([_diagnosed(result, origin.section)])
    assert group.title == "tool `modify_pending_order`: Instruction Non-compliance"


def test_a_diagnosis_that_gives_no_cause_is_grouped_with_no_words_put_in_its_mouth() -> None:
    result = _diagnosed(failing("search", "boom"), "R0001")
    del result.stages[-1].output["causal_chains"][0]["cause"]  # type: ignore[index]
    [group] = group_failures([result])
    assert group.cause == ""


@pytest.mark.parametrize("rule", ["expected_divergence", "baseline_divergence"])
def test_departures_at_different_tools_stay_apart_however_alike_their_words(rule: str) -> None:
    packs = []
    for tool in ("exchange_items", "return_items"):
        pack = failing(tool, "this run called the tool where the expected actions called another").pack()
        findings = [f.model_copy(update={"rule": rule}) for f in pack.triage.findings]
        packs.append(pack.model_copy(update={"triage": pack.triage.model_copy(update={"findings": findings})}))
    assert [g.count for g in group_failures(packs)] == [1, 1]
    plain = [failing(t, "this run called the tool where the expected actions called another") for t in ("a", "b")]
    assert [g.count for g in group_failures(plain)] == [2]  # the same words join errors at different tools
