"""A run that is stopped still cleans up and reports: a real signal sent to the real process.

The model stages run in background mode against responses that never complete, so the run
is mid-stage when the signal arrives. Whether it ends in time is measured by the action
benchmark; here a generous timeout only catches a hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from refinery.analysis.control import Cancelled, RunControl
from tests.e2e.test_container import read_outputs
from tests.fakes import openai_api as F
from tests.fakes.github_api import FakeGitHub, require_node_tools
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.test_action_run import action_env, pr_event

REPO = Path(__file__).resolve().parents[2]
HANG_S = 30


def wait_for(condition: Any, what: str, timeout: float = HANG_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def polling(openai: FakeOpenAI, n: int) -> bool:
    """Whether ``n`` stages are polling their background responses."""
    return (
        len({r["path"] for r in openai.requests if r["method"] == "GET" and r["path"].startswith("/responses/")}) >= n
    )


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "OPENAI_", "GITHUB_", "INPUT_"))}
    return {**keep, **extra, "PYTHONPATH": str(REPO)}


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """The real process, as a runner or a terminal starts it."""
    return subprocess.Popen(command, env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def two_traces(workspace: Path) -> None:
    # Two failures of two shapes (an error; a correctness score of 0): two clusters, two representatives.
    for name in ("rate-limit-cascade.json", "wrong-answer.json"):
        (workspace / name).write_text((REPO / "examples" / name).read_text())


def assert_nothing_left(openai: FakeOpenAI) -> None:
    assert openai.stores == {} and openai.files == {}, (openai.stores, openai.files)
    cancels = [r for r in openai.requests if r["path"].endswith("/cancel")]
    assert cancels, "the background responses were left running"


def test_sigterm_to_the_action_process_cleans_up_and_reports(tmp_path: Path) -> None:
    require_node_tools()
    with FakeGitHub() as github, FakeOpenAI() as openai:
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        openai.script(F.never_completes(), F.never_completes())
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            trace_file="*.json",
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-5",
            concurrency="2",
        )
        two_traces(Path(env["GITHUB_WORKSPACE"]))
        process = spawn([sys.executable, str(REPO / "entrypoint.py")], env)
        wait_for(lambda: polling(openai, 2), "both traces to reach a stage")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=HANG_S)
        assert process.returncode == 0, stderr  # fail-on: never
        assert "Traceback" not in stderr and "Traceback" not in stdout
        assert_nothing_left(openai)
        [comment] = github.comments_on(2)
    assert "cancelled (SIGTERM received)" in comment["body"] and "## Findings" in comment["body"]
    packs = [
        json.loads(p.read_text()) for p in (tmp_path / "ws" / "refinery-artifacts").glob("trace-*/hypothesis-pack.json")
    ]
    assert len(packs) == 2
    assert all("cancelled" in (p["error"] or "") and p["triage"]["findings"] for p in packs)
    assert "cancelled (SIGTERM received)" in (tmp_path / "summary").read_text()
    assert read_outputs(tmp_path / "output")["summary"].startswith("cancelled: 2 traces")
    assert "::warning::The run was cancelled" in stdout


def test_sigint_to_the_cli_cleans_up_and_exits_130(tmp_path: Path) -> None:
    runs = []
    for name in ("rate-limit-cascade.json", "looping-agent.json"):
        runs.extend(json.loads((REPO / "examples" / name).read_text())["runs"])
    traces = tmp_path / "two.jsonl"
    traces.write_text("\n".join(json.dumps(r) for r in runs))
    with FakeOpenAI() as openai:
        openai.script(F.never_completes(), F.never_completes())
        env = {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.url + "/v1", "REFINERY_MODEL": "gpt-5"}
        args = ["analyze", str(traces), "--all", "--out", str(tmp_path / "out")]  # the looping one did not fail
        process = spawn([sys.executable, "-m", "refinery", *args], env)
        wait_for(lambda: polling(openai, 2), "both traces to reach a stage")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=HANG_S)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr and "error: The run was cancelled" in stderr
        assert_nothing_left(openai)
    assert len(list((tmp_path / "out").glob("trace-*/triage.json"))) == 2


def test_a_run_control_wakes_waiters_and_gives_up_on_a_stuck_cleanup() -> None:
    control = RunControl()
    control.own("vector store vs_1", lambda: ["deleted with a warning"])
    control.own("vector store vs_2", lambda: (time.sleep(3), [])[1])
    control.cancel("SIGTERM received")
    with pytest.raises(Cancelled, match="SIGTERM received"):
        control.sleep(60, "the stage finished")  # returns at once, then raises
    warnings = control.clean_up(0.3)
    assert "deleted with a warning" in warnings
    assert any("vs_2 in time" in w for w in warnings)
    with pytest.raises(Cancelled):
        control.check("stage 2/4 gap_analysis")


def test_a_worker_stuck_in_a_request_does_not_hold_the_exit_nor_keep_its_store(tmp_path: Path) -> None:
    require_node_tools()
    with FakeGitHub() as github, FakeOpenAI() as openai:
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        openai.latency_s = 60  # every stage request hangs: the worker is inside the SDK when the signal comes
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-4.1",
        )
        process = spawn([sys.executable, str(REPO / "entrypoint.py")], env)
        wait_for(lambda: any(r["path"] == "/responses" for r in openai.requests), "the first stage request")
        assert openai.stores  # the documents are up
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=HANG_S)
        assert process.returncode == 0 and "Traceback" not in stderr, stderr
        assert openai.stores == {} and openai.files == {}  # deleted by the main thread, not the stuck worker
    pack = json.loads(next((tmp_path / "ws" / "refinery-artifacts").glob("trace-*/hypothesis-pack.json")).read_text())
    assert "cancelled" in pack["error"] and pack["triage"]["origin"]["name"] == "search_flights"


def test_sigterm_while_redacting_huge_strings_publishes_the_triage_done_within_seconds(tmp_path: Path) -> None:
    """Redaction is CPU work: it checks the run between rules and runs, so a SIGTERM in the middle of a
    2 MB string of the shapes that cost the most still ends the process in seconds, with what was
    triaged published."""
    require_node_tools()
    hostile = "password: see " * 150_000  # 2.1 MB: a name whose value is rejected, again and again
    with FakeGitHub() as github:
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), trace_file="*.json")
        workspace = Path(env["GITHUB_WORKSPACE"])
        (workspace / "trace.json").unlink()
        for index in range(8):
            data = json.loads((REPO / "examples" / "rate-limit-cascade.json").read_text())
            for run in data["runs"]:
                run["id"] = run["id"][:-4] + f"{index:04d}"
                run["trace_id"] = run["trace_id"][:-4] + f"{index:04d}"
                if run.get("parent_run_id"):
                    run["parent_run_id"] = run["parent_run_id"][:-4] + f"{index:04d}"
            data["runs"][-1]["outputs"] = {"output": hostile}
            (workspace / f"huge-{index}.json").write_text(json.dumps(data))
        process = spawn([sys.executable, str(REPO / "entrypoint.py")], env)
        assert process.stdout is not None
        while "Refinery: triaging" not in process.stdout.readline():
            pass
        time.sleep(1.0)  # inside the redaction of the first huge strings
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, stderr = process.communicate(timeout=HANG_S)
        elapsed = time.monotonic() - signalled
    assert process.returncode == 0, stderr
    assert elapsed <= 5.0, f"{elapsed:.1f} s from SIGTERM to exit"
    summary = (tmp_path / "summary").read_text()
    assert "cancelled" in summary.lower()
    assert "Cancelled during the triage" in summary or "search_flights" in summary
