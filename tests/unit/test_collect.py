"""Which traces a run reads and chooses (planner/collect.py), as the CLI reports them: ids named in a
file, the max-select cap, every trace with --all, patterns that match nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from refinery.cli import cli

TAU = "tau-bench/grok-3-airline-first24.json"
FAILING = [f"tau-bench-task{n}-trial0" for n in (8, 14, 15, 19, 20)]


def analyze(tmp_path: Path, *args: str) -> Result:
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        return CliRunner().invoke(cli, ["analyze", "--offline", "--out", str(tmp_path / "out"), *args])
    finally:
        os.chdir(here)


def selected(tmp_path: Path) -> dict[str, str]:
    """Each analysed trace's id and its verdict by the selection rule."""
    packs = [json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("**/hypothesis-pack.json"))]
    return {p["trace"]["id"]: p["selection"]["verdict"] for p in packs}


def test_the_failing_traces_of_a_file_are_chosen_and_counted(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU))
    assert done.exit_code == 0, done.output
    assert "24 traces read; 5 failing traces" in done.output + done.stderr
    assert selected(tmp_path) == dict.fromkeys(FAILING, "failed")


def test_max_select_keeps_the_newest_failures_and_says_so(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU), "--max-select", "2")
    assert done.exit_code == 0, done.output
    assert "5 failing traces; triaging the newest 2 (max-select)." in done.output + done.stderr
    assert len(selected(tmp_path)) == 2


def test_all_keeps_every_trace_with_its_verdict_up_to_max_select(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU), "--all", "--max-select", "10")
    assert done.exit_code == 0, done.output
    verdicts = selected(tmp_path)
    assert len(verdicts) == 10
    assert {v for k, v in verdicts.items() if k in FAILING} <= {"failed"}
    assert "passed" in verdicts.values()


def test_a_named_trace_is_picked_from_the_file_whatever_its_verdict(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU), "--trace-id", "tau-bench-task0-trial0", "--trace-id", FAILING[0])
    assert done.exit_code == 0, done.output
    assert selected(tmp_path) == {"tau-bench-task0-trial0": "passed", FAILING[0]: "failed"}


def test_an_id_the_file_does_not_hold_is_an_error_that_lists_what_it_holds(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU), "--trace-id", "no-such-trace")
    assert done.exit_code == 2
    message = done.output + done.stderr
    assert f"{real_traces / TAU} has no trace no-such-trace." in message
    assert "It holds: tau-bench-task0-trial0, tau-bench-task1-trial0" in message


def test_a_pattern_that_matches_nothing_is_named_and_the_others_are_read(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU), str(tmp_path / "missing-*.json"))
    assert done.exit_code == 1  # something asked for was not read: said, and the exit says it too
    assert "missing-*.json' matches no file" in done.output + done.stderr
    assert set(selected(tmp_path)) == set(FAILING)
    # Each trace's log lines carry its id whole, never cut before the part that differs.
    assert "[1/3 tau-bench-task8-trial0] done" in done.output + done.stderr


def test_nothing_to_read_says_what_to_give(tmp_path: Path) -> None:
    done = analyze(tmp_path)
    assert done.exit_code == 2
    assert "Nothing to read." in done.output + done.stderr and "--trace-file" in done.output + done.stderr


def test_a_file_past_the_input_limit_is_refused_by_name_and_the_others_are_still_read(
    real_traces: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.json"
    record = json.loads((real_traces / TAU).read_text())[8]
    padded = json.dumps([record])
    big.write_text(padded + " " * (1024 * 1024 + 1 - len(padded)))  # one byte past a mebibyte
    small = tmp_path / "small.json"
    small.write_text(json.dumps([record]))
    monkeypatch.setenv("REFINERY_MAX_INPUT_MB", "1")
    done = analyze(tmp_path, str(big), str(small))
    assert done.exit_code == 1  # not everything could be analysed, and the run says so
    assert f"{big} holds more than 1 MB of trace data (decompressed)." in done.output + done.stderr
    assert selected(tmp_path) == {"tau-bench-task8-trial0": "failed"}  # read from the small file


def test_a_named_trace_missing_from_the_files_says_what_they_hold(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU), "--trace-id", "no-such-trace")
    assert done.exit_code != 0
    text = done.output + done.stderr
    assert "has no trace no-such-trace" in text and "It holds: tau-bench-task0-trial0, tau-bench-task1-trial0" in text
