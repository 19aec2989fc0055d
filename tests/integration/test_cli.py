"""The CLI end to end: in-process through click, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from refinery.cli import cli
from tests.fakes.langsmith_api import FakeLangSmith


def invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ls_env(fake: FakeLangSmith) -> dict[str, str]:
    return {"LANGSMITH_API_KEY": fake.api_key, "LANGSMITH_ENDPOINT": fake.url}


def test_fetch_then_show_round_trip(tmp_path: Path, fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    code, _, err = invoke(
        ["fetch", "--trace-id", recorded["rate_limited"], "--out", str(tmp_path)], ls_env(fake_langsmith)
    )
    assert code == 0, err
    out = tmp_path / f"{recorded['rate_limited']}.json"  # --out is a directory, as everywhere
    data = json.loads(out.read_text())
    assert data["id"] == recorded["rate_limited"] and len(data["runs"]) == 5

    code, stdout, _ = invoke(["show", str(out), "--no-color"])
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].startswith(f"trace {recorded['rate_limited']}  (langsmith, 5 runs, 4 errored")
    tool_line = next(i for i, line in enumerate(lines) if "search_flights" in line)
    assert lines[tool_line].startswith("      tool      search_flights  [error]")  # depth 3
    assert "! examples.agents.ToolError: HTTP 429 Too Many Requests" in lines[tool_line + 1]
    assert any("ChatOpenAI  [success]" in line and "412+38 tok" in line for line in lines)


def test_fetch_raw_writes_langsmith_records_that_load_back(
    tmp_path: Path, fake_langsmith: FakeLangSmith, recorded: dict[str, str]
) -> None:
    code, stdout, _ = invoke(["fetch", "--trace-id", recorded["wrong_answer"], "--raw"], ls_env(fake_langsmith))
    assert code == 0
    raw = json.loads(stdout)
    assert {"runs", "feedback", "example"} <= raw.keys()
    assert raw["runs"][0]["dotted_order"] and raw["feedback"][0]["key"] == "correctness"
    path = tmp_path / "raw.json"
    path.write_text(stdout)
    code, stdout, _ = invoke(["show", str(path), "--no-color"])
    assert code == 0 and "feedback correctness=0" in stdout


def test_show_by_trace_id_from_langsmith(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    code, stdout, _ = invoke(
        ["show", "--trace-id", recorded["looping"], "--no-color", "--max-depth", "1"], ls_env(fake_langsmith)
    )
    assert code == 0
    assert stdout.count("lookup_booking") == 0  # depth 2, hidden
    code, stdout, _ = invoke(["show", "--trace-id", recorded["looping"], "--no-color"], ls_env(fake_langsmith))
    assert stdout.count("lookup_booking") == 4


def test_select_table_and_json(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    env = {**ls_env(fake_langsmith), "LANGSMITH_PROJECT": "refinery-fixtures"}
    code, stdout, _ = invoke(["select", "--feedback-key", "correctness", "--max-score", "0.5", "--json"], env)
    assert code == 0
    selected = json.loads(stdout)
    assert [s["trace_id"] for s in selected] == [recorded["wrong_answer"], recorded["rate_limited"]]
    assert selected[0]["reasons"] == ["feedback correctness=0 ≤ 0.5"] and selected[0]["flaky"] is None
    code, stdout, _ = invoke(["select", "--feedback-key", "nothing-scored-this", "--json"], env)
    assert [s["trace_id"] for s in json.loads(stdout)] == [recorded["rate_limited"]]  # errors always count
    code, stdout, _ = invoke(["select", "--project", "refinery-fixtures", "--max-select", "1"], env)
    assert code == 0
    assert stdout.splitlines()[0].startswith("TRACE ID") and recorded["wrong_answer"] in stdout
    assert len(stdout.splitlines()) == 2
    code, stdout, _ = invoke(["select", "--project", "nope"], env)
    assert code == 1 and stdout == ""


@pytest.mark.parametrize(
    "args,env,code,message",
    [
        (["fetch", "--trace-id", "x"], {}, 2, "LANGSMITH_API_KEY"),
        (["show"], {}, 2, "Give a trace file (FILE or --trace-file FILE) or --trace-id ID."),
        (["analyze"], {}, 2, "Give a trace file (FILE or --trace-file FILE) or --trace-id ID"),
        (["show", "a.json", "--trace-file", "b.json"], {}, 2, "Two trace files given"),
        (["show", "missing.json"], {}, 1, "does not exist"),
        (["select"], {}, 2, "--project"),
        (["select", "--since", "someday", "--trace-file", "x.json"], {}, 2, "--since"),
        (["select", "--max-select", "0", "--trace-file", "x.json"], {}, 2, "option --max-select"),
    ],
)
def test_errors_are_one_line_with_exit_codes(args: list[str], env: dict[str, str], code: int, message: str) -> None:
    exit_code, _, stderr = invoke(args, env)
    assert exit_code == code
    assert stderr.startswith("error: ") and message in stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    code, _, stderr = invoke(["--debug", "show", str(bad)])
    assert code == 1 and "Traceback" in stderr and "TraceFormatError" in stderr


def runs_file(tmp_path: Path, *failing: str) -> Path:
    """A JSONL of root runs: one that passed, then one erroring root per name, a day apart."""
    runs = [{"id": "a", "trace_id": "a", "name": "ok", "run_type": "chain", "start_time": "2026-01-01T00:00:00Z"}]
    for day, name in enumerate(failing, start=2):
        run_id = chr(ord("a") + day - 1)
        runs.append(
            {
                "id": run_id,
                "trace_id": run_id,
                "name": name,
                "run_type": "chain",
                "start_time": f"2026-01-{day:02d}T00:00:00Z",
                "error": f"{name} failed",
            }
        )
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in runs))
    return path


def test_select_from_a_local_file(tmp_path: Path) -> None:
    path = runs_file(tmp_path, "bad")
    code, stdout, _ = invoke(["select", "--trace-file", str(path), "--json"])
    assert code == 0 and [s["trace_id"] for s in json.loads(stdout)] == ["b"]


def test_select_matrix_is_one_line_of_json(tmp_path: Path) -> None:
    path = runs_file(tmp_path, "bad", "bad2")
    done = CliRunner().invoke(cli, ["select", "--trace-file", str(path), "--matrix"], catch_exceptions=False)
    assert done.exit_code == 0 and done.stdout.count("\n") == 1
    assert json.loads(done.stdout) == {"include": [{"trace-id": "c", "name": "bad2"}, {"trace-id": "b", "name": "bad"}]}


def test_python_dash_m_and_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    done = subprocess.run(
        [sys.executable, "-m", "refinery", "fetch", "--trace-id", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: A key is needed to read traces from LangSmith")
    done = subprocess.run([sys.executable, "-m", "refinery", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("refinery, version ")


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_show_and_analyze_take_the_file_either_way(tmp_path: Path) -> None:
    example = str(EXAMPLES / "wrong-answer.json")
    _, positional, _ = invoke(["show", example, "--no-color"])
    code, option, _ = invoke(["show", "--trace-file", example, "--no-color"])
    assert code == 0 and option == positional and positional.startswith("trace ")
    code, stdout, stderr = invoke(["analyze", example, "--out", str(tmp_path / "a")])
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {tmp_path / 'a' / 'report.md'} (2 findings, offline)")


def test_counts_read_in_the_right_number(tmp_path: Path) -> None:
    code, _, _ = invoke(["analyze", str(EXAMPLES / "rate-limit-cascade.json"), "--out", str(tmp_path)])
    assert code == 0
    prompts = (tmp_path / "documents" / "prompts.md").read_text()
    assert "used by 1 run:" in prompts and "used by 1 runs" not in prompts
    code, _, _ = invoke(["analyze", str(EXAMPLES / "wrong-answer.json"), "--out", str(tmp_path / "w")])
    assert "2 findings over 4 runs" in (tmp_path / "w" / "documents" / "triage.md").read_text()
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"id": "r", "trace_id": "r", "name": "solo", "run_type": "chain"}))
    _, stdout, _ = invoke(["show", str(one), "--no-color"])
    assert "(file:langsmith, 1 run, 0 errored" in stdout


def test_the_summary_has_one_full_stop_after_a_quoted_verdict(tmp_path: Path) -> None:
    code, _, _ = invoke(["analyze", str(EXAMPLES / "wrong-answer.json"), "--out", str(tmp_path)])
    assert code == 0
    summary = next(line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("**Summary"))
    assert summary.endswith("instead of 17%`.") and ".`." not in summary


def test_every_option_of_every_command_has_help() -> None:
    import click

    assert isinstance(cli, click.Group)
    bare = [
        f"{name} {param.opts[0]}"
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert bare == []
    assert "provider" in [p.name for p in cli.commands["canary"].params]


def test_a_closed_pipe_ends_show_quietly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    big = EXAMPLES / "looping-agent.json"
    shell = f"{sys.executable} -m refinery show --no-color {big} | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.startswith("trace ") and done.stdout.count("\n") == 1
    assert done.stderr == "", done.stderr


def test_show_on_a_file_of_several_traces_lists_them(real_traces: Path) -> None:
    from refinery.cli import cli

    results = real_traces / "tau-bench" / "grok-3-airline-first24.json"
    done = CliRunner().invoke(cli, ["show", str(results), "--no-color"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "24 traces; pick one with --trace-id ID"
    failed = [line for line in lines[2:] if " failed " in line]
    assert len(failed) == 5 and failed[0].startswith("tau-bench-task8-trial0") and "r_actions 0" in failed[0]
    listed = CliRunner().invoke(cli, ["show", str(results), "--json"])
    rows = json.loads(listed.output)
    assert [r["trace_id"] for r in rows][:2] == ["tau-bench-task0-trial0", "tau-bench-task1-trial0"]
    assert {r["verdict"] for r in rows} == {"passed", "failed"} and all(r["runs"] > 0 for r in rows)
    one = CliRunner().invoke(cli, ["show", str(results), "--trace-id", "tau-bench-task8-trial0", "--no-color"])
    assert one.exit_code == 0 and "exchange_delivered_order_items" in one.output


@pytest.mark.parametrize(
    "command", ["analyze", "fetch", "select", "show", "init", "canary", "merge", "ask", "chat", "schema", "verify"]
)
def test_every_command_has_examples_and_takes_debug(command: str) -> None:
    from refinery.cli import cli

    done = CliRunner().invoke(cli, [command, "--help"])
    assert done.exit_code == 0
    assert "Examples:" in done.output and f"refinery {command}" in done.output.split("Examples:")[1]
    assert "--debug" in done.output
    # Every example's options exist on the command.
    examples = done.output.split("Examples:")[1].split("Options:")[0]
    for option in re.findall(r"(--[a-z-]+)", examples):
        assert option in done.output.split("Options:")[1], (command, option)


def test_debug_after_the_command_shows_the_traceback(tmp_path: Path) -> None:
    from refinery.cli import cli

    missing = str(tmp_path / "missing.json")
    quiet = CliRunner().invoke(cli, ["analyze", missing, "--offline"])
    loud = CliRunner().invoke(cli, ["analyze", missing, "--offline", "--debug"])
    assert quiet.exit_code == loud.exit_code != 0
    assert "Traceback" not in quiet.output + quiet.stderr and "Traceback" in loud.output + loud.stderr


def test_file_is_positional_wherever_a_trace_is_read(real_traces: Path) -> None:
    from refinery.cli import cli

    results = str(real_traces / "tau-bench" / "grok-3-airline-first24.json")
    by_position = CliRunner().invoke(cli, ["select", results, "--json"])
    by_option = CliRunner().invoke(cli, ["select", "--trace-file", results, "--json"])
    assert by_position.exit_code == by_option.exit_code == 0
    assert json.loads(by_position.output) == json.loads(by_option.output)
    assert {row["trace_id"] for row in json.loads(by_position.output)} == {
        f"tau-bench-task{n}-trial0" for n in (8, 14, 15, 19, 20)
    }
    # ask and chat read FILE too: with no model key the error is about the key, not about what to read.
    example = str(EXAMPLES / "wrong-answer.json")
    for args in (["ask", example, "Which step failed?"], ["chat", example]):
        done = CliRunner().invoke(cli, args, input="")
        assert done.exit_code == 2 and "OPENAI_API_KEY" in done.output + done.stderr, (args, done.output)
        assert "Nothing to read" not in done.output + done.stderr


def test_the_command_list_shows_every_summary_whole_and_defaults_one_way() -> None:
    from refinery.cli import cli

    listed = CliRunner().invoke(cli, ["--help"]).output.split("Commands:")[1]
    assert "..." not in listed and len(listed.strip().splitlines()) == 11
    for command in ("analyze", "select", "show", "fetch", "init"):
        text = CliRunner().invoke(cli, [command, "--help"]).output
        assert not re.search(r"\((?:default|defaults)\b|\[default (?!:)", text), command
        # click's own show_default writes "X.  [default: y]": one way means the help text says it.
        assert not re.search(r"\.\s+\[default:", text), command
        assert text.count("Examples:") == 1, command
        description = text.split("Examples:")[0]
        assert not re.search(r"\S {3,}\S", description), (command, description)
