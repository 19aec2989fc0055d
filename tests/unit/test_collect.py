"""Which traces a run reads and chooses (planner/collect.py), as the CLI reports them: ids named in a
file, the max-select cap, every trace with --all, patterns that match nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from refinery.cli import cli
from refinery.trace.source import SelectionCriteria

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
    assert done.output.strip() == (
        "error: Nothing to read. Give a trace file (FILE or --trace-file FILE) or --trace-id ID (action inputs "
        "`trace-file`, `trace-id`), or a LangSmith project or experiment to select failing traces from."
    )


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


def test_a_pattern_that_matches_nothing_before_the_file_stops_nothing(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(tmp_path / "missing-*.json"), str(real_traces / TAU))
    assert done.exit_code == 1 and set(selected(tmp_path)) == set(FAILING)


@pytest.mark.parametrize("kind", ["pattern", "file"])
def test_the_one_input_that_cannot_be_read_is_the_runs_error_said_once(tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "broken.json"
    if kind == "file":
        bad.write_text("{not json")
    done = analyze(tmp_path, str(bad))
    text = done.output  # stdout and stderr as the terminal shows them
    assert done.exit_code != 0 and "error: " in text
    # Said once, as the run's own error with what to do: not as an input left out of an analysis.
    assert text.count("broken.json") == 1 and text.count("error: ") == 1
    assert "Not analysed" not in text and "inputs could not be read" not in text


def test_the_counts_say_how_many_were_read_and_failed_whatever_chose_them(real_traces: Path, tmp_path: Path) -> None:
    for name in ("all", "named", "exact"):
        (tmp_path / name).mkdir()
    every = analyze(tmp_path / "all", str(real_traces / TAU), "--all", "--max-select", "10")
    assert "(10 traces triaged, 5 failing of 24 read;" in every.output
    named = analyze(
        tmp_path / "named", str(real_traces / TAU), "--trace-id", "tau-bench-task0-trial0", "--trace-id", FAILING[0]
    )
    assert "(2 traces triaged, 5 failing of 24 read;" in named.output
    exact = analyze(tmp_path / "exact", str(real_traces / TAU), "--max-select", "5")
    assert "max-select" not in exact.output + exact.stderr  # every failure kept: nothing to say


def test_one_trace_read_is_not_announced_as_a_count(real_traces: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps([json.loads((real_traces / TAU).read_text())[8]]))
    done = analyze(tmp_path, str(one))
    assert done.exit_code == 0 and "read;" not in done.stderr and "1 trace read" not in done.output + done.stderr


def _root_runs(tmp_path: Path) -> Path:
    """LangSmith root runs written as JSONL: a pass, then three failures a day apart, then a child run."""
    runs = [{"id": "a", "trace_id": "a", "name": "ok", "run_type": "chain", "start_time": "2026-01-01T00:00:00Z"}]
    for day, run_id in enumerate("bcd", start=2):
        start = f"2026-01-{day:02d}T00:00:00Z"
        runs.append(
            {
                "id": run_id,
                "trace_id": run_id,
                "name": f"case {run_id}",
                "run_type": "chain",
                "start_time": start,
                "error": f"{run_id} failed",
            }
        )
    runs.append(
        {
            "id": "d1",
            "trace_id": "d",
            "parent_run_id": "d",
            "name": "step",
            "run_type": "tool",
            "start_time": "2026-01-04T00:00:01Z",
        }
    )
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in runs))
    return path


def select(tmp_path: Path, *args: str) -> list[str]:
    done = CliRunner().invoke(cli, ["select", "--trace-file", str(_root_runs(tmp_path)), "--json", *args])
    assert done.exit_code == 0, done.output
    return [s["trace_id"] for s in json.loads(done.stdout)]


def test_select_from_a_file_keeps_the_failures_newest_first_since_a_time_and_up_to_the_limit(tmp_path: Path) -> None:
    assert select(tmp_path) == ["d", "c", "b"]
    assert select(tmp_path, "--since", "2026-01-03T00:00:00Z") == ["d", "c"]  # a failure at the time itself counts
    assert select(tmp_path, "--max-select", "2") == ["d", "c"]


def test_a_trace_is_fetched_from_a_file_by_its_id_or_any_of_its_runs(tmp_path: Path) -> None:
    from refinery.errors import TraceNotFound
    from refinery.trace.source import FileTraceSource

    source = FileTraceSource(_root_runs(tmp_path))
    by_run = source.fetch_trace("d1")
    assert by_run.id == "d" and [r.id for r in by_run.runs] == ["d", "d1"]
    assert source.fetch_raw("d")["id"] == "d" and source.find_passing_run("exp", "example", SelectionCriteria()) is None
    with pytest.raises(TraceNotFound, match=r"Trace zz is not in .*runs\.jsonl\."):
        source.fetch_trace("zz")


def test_a_failing_trace_is_compared_with_its_passing_twin_from_the_same_file(tmp_path: Path) -> None:
    def root(run_id: str, day: int, **fields: Any) -> dict[str, Any]:
        start = f"2026-01-0{day}T00:00:00Z"
        return {"id": run_id, "trace_id": run_id, "name": "case", "run_type": "chain", "start_time": start,
                "reference_example_id": "ex-1", **fields}  # fmt: skip

    def tool(run_id: str, parent: str, day: int, **fields: Any) -> dict[str, Any]:
        start = f"2026-01-0{day}T00:00:01Z"
        return {"id": run_id, "trace_id": parent, "parent_run_id": parent, "name": "lookup", "run_type": "tool",
                "start_time": start, "inputs": {"q": "x"}, **fields}  # fmt: skip

    runs = [
        root("pass", 1, outputs={"a": 1}, feedback_stats={"correctness": {"n": 1, "avg": 1.0}}),
        tool("pass-1", "pass", 1, outputs={"ok": True}),
        root("fail", 2, error="lookup failed", feedback_stats={"correctness": {"n": 1, "avg": 0.0}}),
        tool("fail-1", "fail", 2, error="TimeoutError"),
    ]
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in runs))
    done = analyze(tmp_path, str(path), "--trace-id", "fail")
    assert done.exit_code == 0, done.output
    [pack] = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("**/hypothesis-pack.json")]
    assert pack["baseline"] is not None and pack["baseline"]["trace"] == "pass"


HELD = ", ".join(f"tau-bench-task{n}-trial0" for n in range(10))
"""The first ten traces of the tau-bench file, as a message lists what a file holds."""


def test_of_ids_named_in_a_file_one_missing_is_named_with_what_the_file_holds_and_a_run_id_finds_its_trace(
    real_traces: Path, tmp_path: Path
) -> None:
    from refinery.trace.files import load_trace_files

    [trace] = [t for t in load_trace_files(real_traces / TAU) if t.id == FAILING[0]]
    done = analyze(tmp_path, str(real_traces / TAU), "--trace-id", "nope", "--trace-id", trace.runs[3].id)
    assert done.exit_code == 1  # something asked for was not analysed
    assert f"trace nope: not in the files read (they hold: {HELD})." in done.output
    assert set(selected(tmp_path)) == {FAILING[0]}  # the run's id found the trace that holds it


def test_an_id_no_file_holds_lists_the_first_ten_traces_of_every_file_read(real_traces: Path, tmp_path: Path) -> None:
    done = analyze(tmp_path, str(real_traces / TAU), str(real_traces / TAU), "--trace-id", "nope")
    assert f"{real_traces / TAU}, {real_traces / TAU} has no trace nope. It holds: {HELD}." in done.output
