"""Garbage in: every hostile input of ``tests/hostile/inputs/`` ends in a clear error or a warned repair.

None of them may hang, take gigabytes, or end in an internal error (exit 70). Which files
these are and why is in ``tests/hostile/make_inputs.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from refinery.cli import cli
from tests.fakes import openai_api as F
from tests.fakes.openai_api import FakeOpenAI

INPUTS = Path(__file__).resolve().parents[1] / "hostile" / "inputs"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rate-limit-cascade.json"


def analyze(
    path: Path | str, out: Path, env: dict[str, str] | None = None, extra: list[str] | None = None
) -> tuple[int, str]:
    args = ["analyze", str(path), "--out", str(out), *(extra or [])]
    done = CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)
    return done.exit_code, done.stderr


@pytest.mark.parametrize(
    "name,message",
    [
        ("deep-10000.json", "nests its JSON too deeply to read"),
        ("refinery-no-runs.json", "The Refinery trace has no runs"),
        ("truncated.json", "is not valid JSON: Unterminated string"),
        ("truncated.json.gz", "looks gzipped but is cut short"),
        ("bomb.json.gz", "holds more than 1 MB of trace data (decompressed)"),
    ],
)
def test_unreadable_inputs_are_one_clear_line(name: str, message: str, tmp_path: Path) -> None:
    code, stderr = analyze(INPUTS / name, tmp_path, {"REFINERY_MAX_INPUT_MB": "1"})
    assert code == 1, stderr
    assert stderr.startswith("error: ") and message in stderr and "internal error" not in stderr
    assert stderr.count("\n") == 1


@pytest.mark.parametrize(
    "name,warning",
    [
        ("deep-900.json", "deep"),
        ("time-1e400.json", "bad_time"),
        ("otlp-nines.json", "bad_time"),
        ("bigint.json", None),
        ("surrogate.json", None),
        ("nul-id.json", None),
        ("time-negative.json", None),
    ],
)
def test_repairable_inputs_are_analysed_and_the_repair_is_said(name: str, warning: str | None, tmp_path: Path) -> None:
    code, stderr = analyze(INPUTS / name, tmp_path, extra=["--all"])  # analysed whether or not they failed
    assert code == 0, stderr
    triage = json.loads((tmp_path / "triage.json").read_text())
    if warning is not None:
        assert warning in [w["code"] for w in triage["warnings"]]
    # Everything written is valid UTF-8 (a lone surrogate would not encode).
    for path in tmp_path.rglob("*.md"):
        path.read_text(encoding="utf-8")


def test_a_5000_digit_number_is_kept_as_text(tmp_path: Path) -> None:
    code, _ = analyze(INPUTS / "bigint.json", tmp_path)
    assert code == 0
    assert "9" * 200 in (tmp_path / "documents" / "trace.md").read_text()


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone.json")
    for path, message in [
        (fifo, "is a FIFO, not a regular file"),
        ("/dev/zero", "is a device or socket, not a regular file"),
        (tmp_path / "loop-a", "Too many levels of symbolic links"),
        (tmp_path / "dangling.json", "is a dangling symlink"),
    ]:
        code, stderr = analyze(path, tmp_path / "out")
        assert code == 1 and message in stderr, stderr


def test_a_control_character_in_a_trace_id_is_refused_before_any_request() -> None:
    done = CliRunner().invoke(cli, ["analyze", "--trace-id", "abc\x00def"], env={"LANGSMITH_API_KEY": "lsv2_x"})
    assert done.exit_code == 2 and "is not a trace id" in done.stderr and "internal" not in done.stderr


@pytest.mark.parametrize("body", ["<html>502 Bad Gateway</html>", "{}", '{"id": 7}'])
def test_a_200_from_the_model_api_that_is_not_a_response_is_a_clear_error(body: str, tmp_path: Path) -> None:
    with FakeOpenAI() as openai:
        openai.script(F.http_body(body))
        env = {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
        code, stderr = analyze(EXAMPLE, tmp_path, env)
        assert openai.stores == {}  # the failed run still deleted its store
    assert code == 1, stderr
    assert "not a Responses object" in stderr or "body" in stderr
    assert "internal error" not in stderr and (tmp_path / "triage.json").is_file()
