"""Where the check run's annotations land in the checkout (github/annotations.py): only on files that
exist inside the workspace, on the line that holds the text, source before data."""

from __future__ import annotations

from pathlib import Path

from refinery.analysis.orchestrator import AnalysisResult
from refinery.github import annotations
from refinery.github.annotations import Workspace, build_annotations
from refinery.pipeline import prepare
from tests.builders import TraceBuilder

PROMPT = "You are a refund agent. Always confirm the amount with the customer before refunding."


def workspace(tmp_path: Path, files: dict[str, str], **fields: set[str]) -> Workspace:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return Workspace(tmp_path, **fields)


def test_a_file_exists_only_inside_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "evals").mkdir(parents=True)
    (root / "evals" / "test_refund.py").write_text("def test(): ...\n")
    (tmp_path / "outside.py").write_text("secret = 1\n")
    (root / "escape.py").symlink_to(tmp_path / "outside.py")
    space = Workspace(root)
    assert space.exists("evals/test_refund.py")
    assert not space.exists("evals/missing.py")
    assert not space.exists("../outside.py") and not space.exists(str(tmp_path / "outside.py"))
    assert not space.exists("escape.py")  # a link out of the checkout is outside it
    assert not space.exists("evals")  # a directory is no file to annotate


def test_the_prompts_most_distinctive_line_is_found_with_its_span(tmp_path: Path) -> None:
    space = workspace(
        tmp_path,
        {
            "agent/prompts.py": 'SHORT = "Be kind."\nSYSTEM = """\nYou are a refund agent.\n'
            'Always confirm the amount with the customer before refunding.\n"""\n',
            "data/recorded.json": '{"prompt": "Always confirm the amount with the customer before refunding."}',
        },
    )
    # Two lines of text: the longer line is the needle; the span is the text's two lines.
    assert space.find("You are a refund agent.\nAlways confirm the amount with the customer before refunding.") == (
        "agent/prompts.py",
        4,
        5,
    )
    assert space.find("Be kind.") is None  # too short to place anywhere with confidence
    assert space.find("nothing like this is anywhere in the repository") is None


def test_the_span_stops_at_the_end_of_the_file(tmp_path: Path) -> None:
    text = "\n".join(f"Rule {n}: never refund more than the order total." for n in range(4))
    text += "\nRule 4: never, ever refund more than the order total."  # the longest: the needle
    space = workspace(tmp_path, {"p.md": "Rule 4: never, ever refund more than the order total.\n"})
    assert space.find(text) == ("p.md", 1, 1)


def test_source_comes_before_data_and_skipped_places_are_not_searched(tmp_path: Path) -> None:
    line = "Always confirm the amount with the customer before refunding."
    space = workspace(
        tmp_path,
        {
            "a_recorded.json": f'"{line}"',
            "node_modules/lib/prompt.txt": line,
            "refinery-out/trace.md": line,
            "traces/run.txt": line,
            "z_prompts.yaml": f"system: {line}",
            "image.png": line,
        },
        skip={"refinery-out"},
        exclude={"traces/run.txt"},
    )
    assert space.find(line) == ("z_prompts.yaml", 1, 1)
    assert set(space.files()) == {"a_recorded.json", "z_prompts.yaml"}


def test_a_file_past_the_size_limit_is_not_read(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    patch = pytest.MonkeyPatch()
    patch.setattr(annotations, "MAX_FILE_BYTES", 100)
    try:
        space = workspace(tmp_path, {"big.md": "x" * 101, "fits.md": "y" * 100})
        assert set(space.files()) == {"fits.md"}
    finally:
        patch.undo()


def test_a_tool_is_found_where_it_is_defined(tmp_path: Path) -> None:
    space = workspace(
        tmp_path,
        {
            "tools.py": "import x\n\n\nasync def refund_order(id):\n    ...\nclass Lookup:\n    pass\n",
            "tools.ts": "export function cancel_order() {}\nconst t = { name: 'notify_user' }\n",
        },
    )
    assert space.find_symbol("refund_order") == ("tools.py", 4, 4)
    assert space.find_symbol("Lookup") == ("tools.py", 6, 6)
    assert space.find_symbol("cancel_order") == ("tools.ts", 1, 1)
    assert space.find_symbol("notify_user") == ("tools.ts", 2, 2)
    assert space.find_symbol("refund") is None  # a prefix is not the name
    assert space.find_symbol("x") is None and space.find_symbol("a b") is None


def _failed_trace(**metadata: str) -> AnalysisResult:
    builder = TraceBuilder("agent", inputs={"task": "refund"}, error="ValueError: amount missing")
    builder.llm(builder.root, None, system=PROMPT)
    builder.add("refund", builder.root, "tool", inputs={"arguments": {}}, error="ValueError: amount missing")
    trace = builder.build(metadata=metadata)
    return AnalysisResult(prepared=prepare(trace), provider=None, model=None)


def test_the_origins_prompt_is_annotated_where_it_lives(tmp_path: Path) -> None:
    space = workspace(tmp_path, {"agent.py": f'SYSTEM = "{PROMPT}"\n', "evals/test_refund.py": "def test(): ...\n"})
    result = _failed_trace(test_file="evals/test_refund.py")
    placed = build_annotations([result], space, level="failure")
    origin = result.prepared.triage.stated_origin
    assert origin is not None
    assert [(a.path, a.start_line, a.annotation_level) for a in placed] == [("agent.py", 1, "failure")]
    assert placed[0].title.startswith("Refinery: failure") and origin.section in placed[0].title


def test_without_a_placed_origin_the_eval_file_named_in_the_trace_is_annotated(tmp_path: Path) -> None:
    space = workspace(tmp_path, {"evals/test_refund.py": "def test(): ...\n"})
    placed = build_annotations([_failed_trace(eval_file="evals/test_refund.py")], space)
    assert [(a.path, a.start_line, a.title) for a in placed] == [
        ("evals/test_refund.py", 1, "Refinery: why this eval failed")
    ]
    # Missing from the checkout, or outside it: no annotation, rather than one GitHub rejects.
    assert build_annotations([_failed_trace(eval_file="evals/gone.py")], space) == []
    assert build_annotations([_failed_trace(eval_file="../../etc/passwd")], space) == []


def test_two_traces_failing_in_the_same_place_give_one_annotation(tmp_path: Path) -> None:
    space = workspace(tmp_path, {"agent.py": f'SYSTEM = "{PROMPT}"\n'})
    placed = build_annotations([_failed_trace(), _failed_trace()], space)
    assert len(placed) == 1


def test_the_claimed_change_is_annotated_on_its_lines_with_its_band_and_what_it_did(tmp_path: Path) -> None:
    from dataclasses import replace

    from refinery.changes.model import Suspect

    space = workspace(tmp_path, {"prompts/agent.md": "a\nb\nc\n"})
    result = _failed_trace()

    def placed(**fields: object) -> list[tuple[str, int, int, str, str, str | None]]:
        suspect = Suspect(
            change_id="C02",
            path="prompts/agent.md",
            start_line=2,
            end_line=3,
            score=0.433,
            reason="removed lines from the prompt the trace used (P01)",
            band="likely",
            evidence=["names what it got wrong: amount"],
        ).model_copy(update=fields)
        result.prepared = replace(result.prepared, suspects=[suspect])
        return [
            (a.path, a.start_line, a.end_line, a.title or "", a.message, a.raw_details)
            for a in build_annotations([result], space)
            if a.path == "prompts/agent.md"
        ]

    [likely] = placed(removed=["Confirm the amount.", "Then refund."], added=["Refund."])
    assert likely[:4] == ("prompts/agent.md", 2, 3, "Refinery: likely behind the failing eval (C02, score 0.43)")
    assert likely[4].endswith("\n\nRemoved: Confirm the amount.; Then refund.") and likely[5] == "Added:\nRefund."
    [possible] = placed(band="possible", removed=[], added=["Refund."])
    assert possible[3].startswith("Refinery: possibly related to the failing eval") and possible[4].endswith(
        "Removed: —"
    )
    assert placed(band="possible", removed=["x"], added=[])[0][5] is None
    assert placed(path="prompts/gone.md") == []  # not in the checkout: no annotation GitHub would reject


def test_a_long_prompt_is_placed_by_its_longest_lines_and_spans_at_most_fifty_lines(tmp_path: Path) -> None:
    rules = [f"Rule {n:03d}: always double-check the refund amount." for n in range(60)]
    longest = "The most specific rule of all: never refund a basic economy fare after 24 hours."
    space = workspace(tmp_path, {"prompt.md": "\n".join(["intro", *rules, longest, *rules]) + "\n"})
    assert space.find("\n".join([*rules, longest])) == ("prompt.md", 62, 62 + 49)
    # A needle of exactly MIN_NEEDLE characters is searched; one shorter is not.
    exact = "x" * annotations.MIN_NEEDLE
    space = workspace(tmp_path / "b", {"p.md": f"{exact}\n{exact[:-1]}\n"})
    assert space.find(exact) == ("p.md", 1, 1) and space.find(exact[:-1]) is None


def test_jsonl_data_comes_after_source_and_a_file_that_is_not_utf8_is_skipped(tmp_path: Path) -> None:
    line = "Always confirm the amount with the customer before refunding."
    space = workspace(tmp_path, {"a.jsonl": f'{{"p": "{line}"}}\n', "z.py": f'P = "{line}"\n'})
    (tmp_path / "b.md").write_bytes(b"\xff\xfe" + line.encode("utf-16-le"))
    assert space.find(line) == ("z.py", 1, 1)
    assert "b.md" not in space.files()


PLANNER = "You are the planner. Split the refund request into steps and hand them to the refund agent."


def _failed_step(run_type: str) -> AnalysisResult:
    """A planner call that went fine, then a step of ``run_type`` that failed with its own prompt."""
    builder = TraceBuilder("agent", inputs={"task": "refund"}, error="ValueError: amount missing")
    builder.llm(builder.root, "plan", system=PLANNER)
    if run_type == "llm":
        builder.llm(builder.root, None, system=PROMPT, error="ValueError: amount missing")
    else:
        builder.add(
            "refund_agent", builder.root, run_type, inputs={"system": PROMPT}, error="ValueError: amount missing"
        )
    return AnalysisResult(prepared=prepare(builder.build()), provider=None, model=None)


def test_an_origin_that_is_a_model_or_agent_step_is_placed_on_its_own_prompt(tmp_path: Path) -> None:
    space = workspace(tmp_path, {"planner.py": f'P = "{PLANNER}"\n', "refund.py": f'P = "{PROMPT}"\n'})
    for run_type in ("llm", "agent"):
        result = _failed_step(run_type)
        origin = result.prepared.triage.stated_origin
        assert origin is not None and origin.run_type == run_type
        placed = [a for a in build_annotations([result], space) if a.title and "failure" in a.title]
        assert [(a.path, a.start_line) for a in placed] == [("refund.py", 1)], run_type


def test_the_origins_annotation_says_what_failed_there_and_how_sure_it_is(tmp_path: Path) -> None:
    space = workspace(tmp_path, {"agent.py": f'SYSTEM = "{PROMPT}"\n'})
    result = _failed_trace()
    [placed] = build_annotations([result], space)
    origin = result.prepared.triage.stated_origin
    assert origin is not None
    finding = next(f for f in result.prepared.triage.findings if f.id == origin.finding_id)
    assert placed.message.startswith(f"{finding.category}: {finding.explanation}\n\nEvidence: {finding.evidence}")
    assert placed.message.endswith(".") and "confidence" in placed.message
    assert placed.title == f"Refinery: failure {annotations.origin_phrase(origin)} {origin.section} {origin.name}"


def _with_hypothesis(result: AnalysisResult, **change: object) -> AnalysisResult:
    from refinery.analysis.pack import StageRecord
    from refinery.analysis.schemas import Synthesis

    proposed = {"kind": "prompt", "target": "P01", "before": None, "after": "Confirm first."} | change
    synthesis = Synthesis.model_validate(
        {
            "summary": "s",
            "top_findings": [],
            "actions_next": [],
            "hypotheses": [
                {
                    "id": "H1",
                    "title": "Confirm before refunding",
                    "category": "Instruction Non-compliance",
                    "origin_run_id": "R0001",
                    "rationale": "It refunded at once.",
                    "proposed_change": proposed,
                    "expected_effect": "It asks first.",
                    "how_to_verify": "Rerun the refund eval.",
                    "confidence": 0.6,
                }
            ],
        }
    )
    result.stages.append(StageRecord(stage="synthesis", number=4, status="ok", prompts_version="t", output=None))
    result.outputs["synthesis"] = synthesis
    return result


def test_a_hypothesis_is_annotated_where_its_target_lives_with_what_it_proposes(tmp_path: Path) -> None:
    space = workspace(
        tmp_path,
        {"agent.py": f'SYSTEM = "{PROMPT}"\n', "tools.py": "import x\n\ndef refund_order(id):\n    ...\n"},
    )
    by_ref = _with_hypothesis(_failed_trace())  # target P01: the prompt's text, found where it lives
    [hypothesis] = [a for a in build_annotations([by_ref], space) if a.title and "H1" in a.title]
    assert (hypothesis.path, hypothesis.start_line, hypothesis.title) == (
        "agent.py",
        1,
        "Refinery H1: Confirm before refunding",
    )
    assert (
        hypothesis.message == "It refunded at once.\n\nExpected effect: It asks first.\nVerify: Rerun the refund eval."
    )
    assert hypothesis.raw_details == "Proposed (prompt):\nConfirm first."
    quoted = _with_hypothesis(_failed_trace(), target="the prompt", before=PROMPT)  # found by the text it quotes
    assert [(a.path, a.start_line) for a in build_annotations([quoted], space) if "H1" in (a.title or "")] == [
        ("agent.py", 1)
    ]
    tool = _with_hypothesis(_failed_trace(), kind="code", target=" refund_order ")  # a tool, by its definition
    assert [(a.path, a.start_line) for a in build_annotations([tool], space) if "H1" in (a.title or "")] == [
        ("tools.py", 3)
    ]
    nowhere = _with_hypothesis(_failed_trace(), kind="code", target="no_such_tool")
    assert not [a for a in build_annotations([nowhere], space) if "H1" in (a.title or "")]


def _graded_trace(eval_file: str, comment: str | None) -> AnalysisResult:
    from refinery.trace.model import Feedback

    builder = TraceBuilder("agent", inputs={"task": "refund"}, outputs={"answer": "refunded 250"})
    feedback = [Feedback(key="correctness", score=0, comment=comment)] if comment else []
    trace = builder.build(feedback=feedback, metadata={"eval_file": eval_file})
    return AnalysisResult(prepared=prepare(trace), provider=None, model=None)


def test_the_eval_files_annotation_says_why_in_the_evaluators_words_or_the_models(tmp_path: Path) -> None:
    space = workspace(tmp_path, {"evals/test_refund.py": "def test(): ...\n", "evals/other.py": "x = 1\n"})
    graded = _graded_trace("evals/test_refund.py", "expected a refund of 100, got 250")
    [placed] = build_annotations([graded], space)
    assert (placed.path, placed.start_line, placed.end_line) == ("evals/test_refund.py", 1, 1)
    gap = next(f for f in graded.prepared.triage.findings if f.group == "evaluation")
    assert placed.message == gap.evidence and "got 250" in placed.message
    [silent] = build_annotations([_graded_trace("evals/test_refund.py", None)], space)
    assert silent.message == "The eval failed."
    summarised = _with_hypothesis(_graded_trace("evals/test_refund.py", "wrong amount"), target="nothing here")
    [from_model] = [a for a in build_annotations([summarised], space) if a.path == "evals/test_refund.py"]
    assert from_model.message == "s"  # the synthesis's summary
    # One annotation per eval file, whichever trace names it; another file gets its own.
    both = build_annotations(
        [graded, _graded_trace("evals/test_refund.py", "again"), _graded_trace("evals/other.py", "no")], space
    )
    assert [a.path for a in both] == ["evals/test_refund.py", "evals/other.py"]


def test_a_prompt_of_short_lines_is_not_placed_and_only_its_three_longest_lines_are_tried(tmp_path: Path) -> None:
    short = "Be kind.\nBe brief.\nSay thanks."  # long enough in all, but no line reaches MIN_NEEDLE
    assert len(short) >= annotations.MIN_NEEDLE
    space = workspace(tmp_path, {"p.py": f'P = """{short}"""\n'})
    assert space.find(short) is None
    lines = [f"Rule {'x' * (40 + n)} number {n}." for n in range(4)]  # the shortest is the only one in the file
    space = workspace(tmp_path / "b", {"q.md": lines[0] + "\n"})
    assert space.find("\n".join(lines)) is None
    space = workspace(tmp_path / "c", {"q.md": lines[1] + "\n"})
    assert space.find("\n".join(lines)) == ("q.md", 1, 1)


def _tool_after_two_prompts(first: str | None) -> AnalysisResult:
    """A planner call, then the refund agent's call, then the tool that failed."""
    builder = TraceBuilder("agent", inputs={"task": "refund"}, error="ValueError: amount missing")
    builder.llm(builder.root, "plan", system=first)
    builder.llm(builder.root, None, system=PROMPT)
    builder.add("refund", builder.root, "tool", inputs={"arguments": {}}, error="ValueError: amount missing")
    return AnalysisResult(prepared=prepare(builder.build()), provider=None, model=None)


def test_a_failed_tool_is_placed_on_the_prompt_of_the_model_call_just_before_it(tmp_path: Path) -> None:
    space = workspace(tmp_path, {"planner.py": f'P = "{PLANNER}"\n', "refund.py": f'P = "{PROMPT}"\n'})
    placed = [a for a in build_annotations([_tool_after_two_prompts(PLANNER)], space) if "failure" in (a.title or "")]
    assert [(a.path, a.start_line) for a in placed] == [("refund.py", 1)]  # not the planner's, called earlier


def test_a_failed_tool_whose_caller_had_no_prompt_gets_no_origin_annotation(tmp_path: Path) -> None:
    builder = TraceBuilder("agent", inputs={"task": "refund"}, error="ValueError: amount missing")
    builder.add("refund", builder.root, "tool", inputs={"arguments": {}}, error="ValueError: amount missing")
    result = AnalysisResult(prepared=prepare(builder.build()), provider=None, model=None)
    assert result.prepared.triage.stated_origin is not None
    space = workspace(tmp_path, {"refund.py": f'P = "{PROMPT}"\n'})
    assert [a for a in build_annotations([result], space) if "failure" in (a.title or "")] == []
