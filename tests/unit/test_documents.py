from __future__ import annotations

import base64
import re

from refinery.documents.render import RenderOptions
from refinery.documents.text import fence, render_value
from refinery.pipeline import render_with_triage
from refinery.trace.model import Feedback
from refinery.triage import run_triage
from tests.builders import TraceBuilder, tool_call


def sample_trace():  # type: ignore[no-untyped-def]
    b = TraceBuilder(inputs={"question": "cheapest SFO-JFK?"}, outputs={"answer": "no fare found"})
    for i in range(3):
        b.llm(b.root, None, tool_calls=[tool_call("search", f'{{"page": {i}}}')], system="You are TravelBot.")
        b.add(
            "search",
            b.root,
            "tool",
            inputs={"page": i},
            outputs={"output": "x" * 10_000} if i == 0 else {"results": []},
        )
    b.add("search", b.root, "tool", inputs={"page": 9}, error="RateLimitError: 429 Too Many Requests\nTraceback ...")
    feedback = [Feedback(key="correctness", score=0, comment="No fare was returned.", source="model")]
    return b.build(feedback=feedback, reference_outputs={"answer": "$129 on JetBlue"})


def test_trace_md_one_section_per_run_with_stable_ids() -> None:
    trace = sample_trace()
    docs = render_with_triage(trace, run_triage(trace))
    text = docs.by_name("trace.md").text
    headings = re.findall(r"^## (R\d{4}) · (\w+) · (.+)$", text, re.MULTILINE)
    assert [h[0] for h in headings] == [f"R{i:04d}" for i in range(len(trace.runs))]
    assert headings[1][1:] == ("llm", "ChatOpenAI")
    assert "You are TravelBot" not in text and "[system] (prompt P01 in prompts.md)" in text  # shown once
    assert '[assistant]\n  → search({"page": 0})' in text
    assert "status: error · parent: R0000" in text
    assert "RateLimitError: 429 Too Many Requests\nTraceback ..." in text  # errors in full


def test_field_caps_keep_head_and_tail_with_an_explicit_marker() -> None:
    trace = sample_trace()
    text = render_with_triage(trace, run_triage(trace), RenderOptions(field_cap=1_000)).by_name("trace.md").text
    assert "x" * 10_000 not in text
    assert re.search(r"x{500}\[… 9000 chars elided …\]x{500}", text)


def test_binary_payloads_become_placeholders() -> None:
    blob = base64.b64encode(bytes(range(256)) * 20).decode()
    assert (
        render_value({"image": "data:image/png;base64," + blob}, 4000)
        == "image: [binary payload elided: image/png, 5.0 KB]"
    )


def test_documents_are_byte_identical_for_the_same_trace() -> None:
    first = render_with_triage(sample_trace(), run_triage(sample_trace()))
    second = render_with_triage(sample_trace(), run_triage(sample_trace()))
    assert [d.text for d in first.documents] == [d.text for d in second.documents]
    assert [d.name for d in first.documents] == ["trace.md", "prompts.md", "evals.md", "triage.md"]


def test_prompts_are_shown_once_with_the_runs_that_used_them() -> None:
    trace = sample_trace()
    prompts = render_with_triage(trace, run_triage(trace)).by_name("prompts.md")
    assert prompts.section_ids == ["P01"]
    assert "## P01 · system prompt · used by 3 runs" in prompts.text
    assert "used by 3 runs: R0001, R0003, R0005" in prompts.text
    assert prompts.text.count("You are TravelBot.") == 1


def test_evals_md_holds_feedback_reference_expectations_and_assertion() -> None:
    trace = sample_trace()
    options = RenderOptions(
        expectations="Must quote a fare.", expectations_name="expect.md", assertion="assert fare in answer"
    )
    evals = render_with_triage(trace, run_triage(trace), options).by_name("evals.md").text
    for needle in (
        "## E01 · feedback · correctness = 0",
        "No fare was returned.",
        "## E02 · reference outputs",
        "$129 on JetBlue",
        "## E03 · expectations · expect.md",
        "Must quote a fare.",
        "## E04 · failing assertion",
        "## E05 · final output (R0000)",
        "no fare found",
    ):
        assert needle in evals


def test_triage_md_cites_real_sections() -> None:
    trace = sample_trace()
    docs = render_with_triage(trace, run_triage(trace))
    triage_text = docs.by_name("triage.md").text
    assert triage_text.startswith("# Triage")
    cited = set(re.findall(r"\bR\d{4}\b", triage_text))
    assert cited and cited <= set(docs.by_name("trace.md").section_ids)
    # The search failed and the run answered anyway: an error along the way of a wrong answer is a
    # low-confidence lead, under the measured floor, so triage.md says what it checked instead.
    assert "Triage names no origin step: its best lead has low confidence" in triage_text
    assert "failures along the way: 1" in triage_text


def test_budget_shortens_low_priority_sections_but_never_splits_one() -> None:
    b = TraceBuilder(outputs={"output": "x"})
    for i in range(200):
        b.add(f"step{i}", b.root, "chain", inputs={"text": "lorem ipsum " * 300})
    bad = b.add("tool", b.root, "tool", error="ServiceUnavailable: 503", inputs={"text": "keep me " * 100})
    trace = b.build()
    triage = run_triage(trace)
    doc = render_with_triage(trace, triage, RenderOptions(doc_budget=200_000)).by_name("trace.md")
    assert doc.chars <= 200_000
    assert doc.notes and "exceeded its budget of 200,000 characters" in doc.notes[0]
    assert doc.text.count("> Budget:") == 1
    sections = re.split(r"^## ", doc.text, flags=re.MULTILINE)[1:]
    assert len(sections) == len(trace.runs)
    for section in sections:  # every heading still has its metadata line right below
        assert re.match(r"R\d{4} · \w+ · .+\n\nstatus: ", section)
    errored = next(s for s in sections if s.startswith(f"R{trace.get(bad).order:04d}"))
    assert "keep me keep me" in errored and "ServiceUnavailable: 503" in errored


def test_fence_cannot_be_closed_by_content() -> None:
    text = "```\ninjected\n````"
    fenced = fence(text)
    assert fenced.startswith("`````text\n") and fenced.endswith("\n`````")


def test_over_budget_the_evidence_stays_whole_and_the_rest_folds_into_ranges() -> None:
    b = TraceBuilder(outputs={"output": "x"})
    for i in range(600):
        turn = b.add("agent_turn", b.root, "chain")
        b.add("search", turn, "tool", inputs={"q": f"query {i} " * 20}, outputs={"hits": ["a result"] * 10})
    bad = b.add("search", b.root, "tool", error="ServiceUnavailable: 503 " + "trace line\n" * 40)
    trace = b.build()
    triage = run_triage(trace)
    doc = render_with_triage(trace, triage, RenderOptions(doc_budget=40_000)).by_name("trace.md")
    assert doc.chars <= 40_000 + 2_000  # the budget, plus its own note
    origin = f"R{trace.get(bad).order:04d}"
    assert triage.origin is not None and triage.origin.section == origin
    section = re.search(rf"^## {origin} · tool · search\n\n(.*?)(?=^## |\Z)", doc.text, re.M | re.S)
    assert section and "ServiceUnavailable: 503" in section.group(1) and "trace line" in section.group(1)
    ranges = re.findall(r"^## (R\d{4})–(R\d{4}) · (\d+) runs collapsed\n\n(.+)$", doc.text, re.M)
    assert ranges and all("× chain agent_turn" in r[3] and r[3].endswith("all success") for r in ranges)
    assert set(doc.section_ids) == {f"R{r.order:04d}" for r in trace.runs}  # every id is still citable
    assert "folded into range lines" in doc.notes[0] and "evidence are in full" in doc.notes[0]


def test_the_evidence_is_shortened_only_after_everything_else() -> None:
    b = TraceBuilder(outputs={"output": "x"})
    for i in range(80):
        b.add(f"step{i}", b.root, "chain", inputs={"text": "lorem ipsum " * 300})
    bad = b.add("tool", b.root, "tool", error="boom", inputs={"text": "evidence " * 400})
    trace = b.build()
    doc = render_with_triage(trace, run_triage(trace), RenderOptions(doc_budget=20_000)).by_name("trace.md")
    sections = re.split(r"^## ", doc.text, flags=re.MULTILINE)[1:]
    errored = next(s for s in sections if s.startswith(f"R{trace.get(bad).order:04d}"))
    assert errored.count("evidence") > 300  # in full, with 80 other sections shortened around it
    stubbed = re.search(r"(\d+) reduced to a one-line summary", doc.notes[0])
    assert stubbed and int(stubbed.group(1)) > 10  # others were stubbed before the evidence was shortened
