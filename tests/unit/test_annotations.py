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
