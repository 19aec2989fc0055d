"""Where the model's diagnosis puts the start, said beside triage (``report/agreement.py``): in the pack
(1.7: ``diagnosis_origin``, ``diagnosis_agent``, ``agent_agreement``), the comment and report.md.

The results are built the way the orchestrator builds them after the four stages: a prepared trace
(an example, or a Magentic-One log in Who&When's shape) and the stages' validated outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refinery.analysis.orchestrator import AnalysisResult, offline_result
from refinery.analysis.schemas import Diagnosis, Synthesis
from refinery.pipeline import prepare
from refinery.report.agreement import agreement_sentence
from refinery.report.comment import build_comment
from refinery.report.full import render_report
from refinery.trace.files import load_trace_file
from refinery.trace.files.chat import load_history
from tests.unit.test_comment_render import check, structure

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def diagnosed(trace: Any, at: str) -> AnalysisResult:
    result = offline_result(prepare(trace))
    result.provider, result.model = "openai", "gpt-4.1"
    chain = {
        "symptom": "The eval failed.",
        "mechanism": "The agent kept calling the tool.",
        "cause": "No backoff on 429s",
        "category": "Rate Limiting",
        "origin_run_id": at,
        "citations": [],
    }
    result.outputs["diagnosis"] = Diagnosis.model_validate(
        {
            "causal_chains": [chain],
            "remediations": [],
            "confidence": 0.8,
            "inconclusive": False,
            "inconclusive_reason": None,
        }
    )
    hypothesis = {
        "id": "H1",
        "title": "Add exponential backoff",
        "category": "Rate Limiting",
        "origin_run_id": at,
        "rationale": "The tool was called again at once.",
        "proposed_change": {"kind": "code", "target": "agent.py", "before": None, "after": "retry(backoff=2)"},
        "expected_effect": "No 429 cascade.",
        "how_to_verify": "Re-run the eval.",
        "confidence": 0.7,
    }
    result.outputs["synthesis"] = Synthesis.model_validate(
        {"summary": "Rate limits, no backoff.", "top_findings": [], "actions_next": [], "hypotheses": [hypothesis]}
    )
    return result


def magentic() -> Any:
    entries: list[dict[str, Any]] = [{"role": "human", "content": "Where is the nearest dojo to the exchange?"}]
    entries.append({"role": "Orchestrator (thought)", "content": "Plan: search the web for dojos, then check hours."})
    for n in range(3):
        entries += [
            {"role": "Orchestrator (thought)", "content": "Next speaker WebSurfer"},
            {"role": "WebSurfer", "content": f"I clicked result {n} and read the page about a dojo downtown."},
        ]
    [trace] = load_history({"question": "Where is the dojo?", "is_correct": False, "history": entries})
    return trace


def test_a_diagnosis_at_triages_stated_origin_is_said_to_agree_in_triages_words() -> None:
    result = diagnosed(load_trace_file(EXAMPLES / "rate-limit-cascade.json"), "R0004")
    origin = result.prepared.triage.origin
    assert origin is not None and origin.stated and origin.section == "R0004" and origin.confidence == "high"
    pack = result.pack()
    assert (pack.diagnosis_origin, pack.triage_agreement) == ("R0004", "agrees")
    body = build_comment([result], marker="<!-- m -->")
    assert (
        "  - The model's diagnosis and triage (no model) agree: the failure starts at R0004 (high confidence)." in body
    )


def test_a_diagnosis_elsewhere_is_said_to_disagree_and_both_steps_are_named() -> None:
    result = diagnosed(load_trace_file(EXAMPLES / "rate-limit-cascade.json"), "R0002")
    assert result.pack().triage_agreement == "differs"
    said = "The model's diagnosis places the start at `R0002`; triage (no model) says the failure starts at R0004"
    assert said in build_comment([result], marker="<!-- m -->")
    assert "They disagree: read both steps." in render_report(result)


def test_in_a_multi_agent_log_the_pack_records_the_diagnosis_agent_and_whether_triage_named_it() -> None:
    trace = magentic()
    surfer = next(r for r in trace.runs if r.agent == "WebSurfer")
    planner = next(r for r in trace.runs if r.agent == "Orchestrator")
    claim = prepare(trace).triage.agent
    assert claim is not None and claim.agent == "WebSurfer" and claim.stated
    same = diagnosed(trace, f"R{surfer.order:04d}").pack()
    assert (same.diagnosis_agent, same.agent_agreement, same.triage_agreement) == (
        "WebSurfer",
        "agrees",
        "no_triage_origin",
    )
    other = diagnosed(trace, f"R{planner.order:04d}")
    pack = other.pack()
    assert (pack.diagnosis_agent, pack.agent_agreement) == ("Orchestrator", "differs")
    body = build_comment([other], marker="<!-- m -->")
    assert (
        f"start at `R{planner.order:04d}`, in `Orchestrator`'s work; triage names `WebSurfer` (low confidence)" in body
    )
    report = render_report(other)
    assert "The failure possibly lies in `WebSurfer`'s work" in report  # the claim survives the model stages


def test_a_section_no_run_has_gives_no_agent_and_no_agent_verdict() -> None:
    pack = diagnosed(magentic(), "R9999").pack()
    assert (pack.diagnosis_origin, pack.diagnosis_agent, pack.agent_agreement) == ("R9999", None, None)


def test_with_nothing_from_triage_only_the_model_is_said_to_support_the_step() -> None:
    assert agreement_sentence(None, None, "R0007", None) == (
        "The model's diagnosis places the start at `R0007`; triage names no origin step, so only the model supports it."
    )
    assert agreement_sentence(None, None, None, None) is None  # no diagnosis, nothing to say


def test_the_models_section_is_formatted_as_code_not_markup() -> None:
    said = agreement_sentence(None, None, "R1 @org/team <img src=x>", None, lambda text: f"<{len(text)}>")
    assert said is not None and "@org" not in said and "<img" not in said and "<24>" in said


def test_the_model_report_never_says_starts_at_on_the_models_word() -> None:
    report = render_report(diagnosed(load_trace_file(EXAMPLES / "rate-limit-cascade.json"), "R0002"))
    chain = next(line for line in report.splitlines() if line.startswith("- **No backoff on 429s**"))
    assert "placed at `R0002`" in chain and "starts at" not in chain
    assert "The model's own confidence: 0.80 (not measured against labelled failures)." in report


def test_a_diagnosed_trace_renders_with_every_heading_under_the_title() -> None:
    body = build_comment(
        [diagnosed(load_trace_file(EXAMPLES / "rate-limit-cascade.json"), "R0004")], marker="<!-- m -->"
    )
    check(structure(body))  # the hypothesis's own "### H1" heading no longer outranks its section
    assert "##### H1 · Add exponential backoff" in body


def claim_of(basis: str, agent: str = "WebSurfer", precision: float | None = 0.65) -> Any:
    from refinery.triage.model import AgentClaim

    return AgentClaim(agent=agent, basis=basis, reason="r", confidence="low", precision=precision)  # type: ignore[arg-type]


def test_the_agent_is_compared_whatever_its_case_and_a_disagreement_says_read_both() -> None:
    same = agreement_sentence(None, claim_of("most_work"), "R0009", "websurfer")
    assert same == (
        "The model's diagnosis places the start at `R0009`, in `websurfer`'s work: the agent triage names too "
        "(the two agree on the agent, not on a step)."
    )
    other = agreement_sentence(None, claim_of("most_work", agent="WEBSURFER"), "R0009", "Orchestrator")
    assert other == (
        "The model's diagnosis places the start at `R0009`, in `Orchestrator`'s work; triage names `WEBSURFER` "
        "(low confidence). They disagree: read both agents' work."
    )


def test_the_only_agent_and_an_unstated_claim_add_nothing_to_weigh() -> None:
    none = (
        "The model's diagnosis places the start at `R0009`; triage names no origin step, so only the model supports it."
    )
    assert agreement_sentence(None, claim_of("only_agent"), "R0009", "WebSurfer") == none
    assert agreement_sentence(None, claim_of("most_work", precision=0.4), "R0009", "Orchestrator") == (
        none.replace("`R0009`;", "`R0009`, in `Orchestrator`'s work;")
    )
    assert agreement_sentence(None, claim_of("most_work"), "R0009", None) == none  # a section of no agent


def test_a_run_not_known_to_have_failed_is_not_said_to_have_a_failure() -> None:
    from refinery.analysis.pack import PackSelection

    result = diagnosed(load_trace_file(EXAMPLES / "rate-limit-cascade.json"), "R0004")
    result.selection = PackSelection(reasons=["named with --trace-id"], verdict="unknown")
    said = "agree: if this run failed, the failure starts at R0004 (high confidence)."
    assert said in build_comment([result], marker="<!-- m -->")
    assert said in render_report(result)
    assert "agree: the failure starts at R0004" not in render_report(result)
