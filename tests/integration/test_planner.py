"""One planner for the CLI and the action: the same files give the same clusters, representatives,
counts and selections; each trace is redacted once, and enrichment keeps its redaction counts."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from refinery.cli import cli
from refinery.trace.files.tau_bench import task_checks
from tests.e2e.test_container import read_outputs
from tests.fakes.github_api import FakeGitHub
from tests.integration.test_action_run import REPO, action_env, github, pr_event, run_action
from tests.integration.test_coverage import copy_with_fresh_ids, twelve_failures

__all__ = ["github"]  # the fixture, shared with the action tests
EXAMPLES = REPO / "examples"


def cli_analyze(workspace: Path, *args: str) -> tuple[int, str, str]:
    """``refinery analyze`` run from ``workspace`` (globs are resolved there, as the action resolves them)."""
    here = Path.cwd()
    os.chdir(workspace)
    try:
        done = CliRunner().invoke(cli, ["analyze", *args], catch_exceptions=False)
    finally:
        os.chdir(here)
    return done.exit_code, done.stdout, done.stderr


def plan_of(out: Path) -> dict[str, Any]:
    """What a run decided, read from its artifacts: each trace's selection and whether the model would
    have run on it (the representatives), and the cluster lines of the grouped report."""
    traces = {}
    for pack_path in sorted(out.glob("trace-*/hypothesis-pack.json")):
        pack = json.loads(pack_path.read_text())
        traces[pack["trace"]["id"]] = {"folder": pack_path.parent.name, "selection": pack["selection"]}
    report = (out / "report.md").read_text()
    rows = [line.strip("| ").split(" | ") for line in report.splitlines() if re.match(r"^\| \d+ of \d+ \|", line)]
    clusters = [(row[0], row[1]) for row in rows]
    analysed = [row[2] for row in rows if not row[2].startswith("triage only")]
    return {"traces": traces, "clusters": clusters, "analysed": analysed, "headline": report.splitlines()[3]}


def test_the_cli_and_the_action_plan_twelve_failures_alike(github: FakeGitHub, tmp_path: Path) -> None:
    (tmp_path / "action").mkdir()
    env = action_env(tmp_path / "action", github, "pull_request", pr_event(github.repo), trace_file="*.json")
    workspace = Path(env["GITHUB_WORKSPACE"])
    twelve_failures(workspace)
    code, log = run_action(env)
    assert code == 0, log
    cli_workspace = tmp_path / "cli"
    shutil.copytree(workspace, cli_workspace, ignore=shutil.ignore_patterns("refinery-artifacts"))
    code, stdout, stderr = cli_analyze(cli_workspace, "*.json", "--offline", "--out", "out")
    assert code == 0, stderr
    from_action = plan_of(workspace / "refinery-artifacts")
    from_cli = plan_of(cli_workspace / "out")
    assert from_cli == from_action
    assert [c[0] for c in from_cli["clusters"]] == ["6 of 12", "4 of 12", "2 of 12"]
    assert len(from_cli["traces"]) == 12 and len(from_cli["analysed"]) == 3
    assert "wrote out/report.md (12 traces triaged, 12 failing of 12 read; 3 clusters; 3 analysed)" in stdout
    assert read_outputs(tmp_path / "action" / "output")["traces-analyzed"] == "3"
    # --max-traces means clusters in both: two clusters get a representative, the third is triage only.
    code, stdout, _ = cli_analyze(cli_workspace, "*.json", "--offline", "--max-traces", "2", "--out", "two")
    assert code == 0 and "3 clusters; 2 analysed" in stdout
    assert len(list((cli_workspace / "two").glob("trace-*/hypothesis-pack.json"))) == 12


@pytest.mark.needs_shared
def test_the_cli_and_the_action_plan_the_tau_bench_file_alike(
    github: FakeGitHub, tmp_path: Path, real_traces: Path
) -> None:
    results = real_traces / "tau-bench" / "grok-3-airline-first24.json"
    records = json.loads(results.read_text())
    # tau-bench's task checks decide (a reward lowered by an efficiency penalty is not a failure).
    failing_tasks = {r["task_id"] for r in records if min(task_checks(r["info"]["reward_info"]).values()) < 1}
    (tmp_path / "action").mkdir()
    env = action_env(tmp_path / "action", github, "pull_request", pr_event(github.repo), trace_file="results.json")
    workspace = Path(env["GITHUB_WORKSPACE"])
    (workspace / "trace.json").unlink()
    shutil.copy(results, workspace / "results.json")
    code, log = run_action(env)
    assert code == 0, log
    code, stdout, stderr = cli_analyze(workspace, "results.json", "--offline", "--out", "cli-out")
    assert code == 0, stderr
    from_action = plan_of(workspace / "refinery-artifacts")
    from_cli = plan_of(workspace / "cli-out")
    assert from_cli == from_action
    # Every failing task is triaged once (its trials grouped), up to max-select; passing trials would be
    # their baselines, never cases of their own.
    assert len(from_cli["traces"]) == len(failing_tasks) and len(from_cli["analysed"]) == 3
    assert all(t["selection"]["verdict"] == "failed" for t in from_cli["traces"].values())
    assert f"{len(failing_tasks)} failing of {len(records)} read" in stdout
    assert "failing traces analysed" not in from_cli["headline"]


def test_a_representative_keeps_its_redaction_counts_through_its_baseline_and_the_diff(tmp_path: Path) -> None:
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
    data = json.loads((EXAMPLES / "rate-limit-cascade.json").read_text())
    child = next(r for r in data["runs"] if r.get("parent_run_id"))
    child["inputs"] = {**(child["inputs"] or {}), "note": f"called with {key}"}
    passing = json.loads((EXAMPLES / "rate-limit-cascade.json").read_text())
    for run in passing["runs"]:
        run["error"], run["status"] = None, "success"
    # A baseline must pass by the selection's rule (the evaluator scored it 1) and ran the same task.
    root = next(r for r in passing["runs"] if not r.get("parent_run_id"))
    passing["feedback"] = [{"key": "correctness", "score": 1, "run_id": root["id"], "trace_id": root["id"]}]
    for trace in (data, passing):
        next(r for r in trace["runs"] if not r.get("parent_run_id"))["inputs"] = {"question": "Book SFO-JFK"}
    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps(data))
    baseline = tmp_path / "passing.json"
    baseline.write_text(json.dumps(passing))
    diff = tmp_path / "pr.diff"
    diff.write_text(
        "diff --git a/prompts/agent.md b/prompts/agent.md\n--- a/prompts/agent.md\n+++ b/prompts/agent.md\n"
        "@@ -1,2 +1,1 @@\n You book flights.\n-Retry search_flights after a 429, waiting as the error says.\n"
    )
    out = tmp_path / "out"
    code, _, stderr = cli_analyze(
        tmp_path, str(failing), "--offline", "--baseline-file", str(baseline), "--diff", str(diff), "--out", str(out)
    )
    assert code == 0, stderr
    triage = json.loads((out / "triage.json").read_text())
    assert triage["redaction"]["counts"].get("openai_key") == 1, triage["redaction"]
    pack = json.loads((out / "hypothesis-pack.json").read_text())
    assert pack["baseline"] is not None and pack["suspects"], "the enrichment ran"
    assert key not in "".join(p.read_text() for p in out.rglob("*") if p.is_file())


def test_several_files_and_a_glob_one_broken_is_named_and_the_rest_analysed(tmp_path: Path) -> None:
    for name in ("rate-limit-cascade.json", "wrong-answer.json"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "again.json").write_text(copy_with_fresh_ids("rate-limit-cascade.json", 1))
    (tmp_path / "evals" / "broken.json").write_text('{"runs": [{"id": ')
    code, stdout, stderr = cli_analyze(
        tmp_path, "rate-limit-cascade.json", "wrong-answer.json", "evals/*.json", "--offline", "--out", "out"
    )
    assert code == 1, stderr  # something could not be read: said in the exit code, after the rest was analysed
    assert "evals/broken.json" in stderr and "is not valid JSON" in stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert "evals/broken.json" in report
    assert len(list((tmp_path / "out").glob("trace-*/triage.json"))) == 3
    assert "3 failing of 3 read" in stdout


def test_a_file_whose_traces_all_passed_says_so_and_all_analyses_them(tmp_path: Path) -> None:
    passing = json.loads((EXAMPLES / "wrong-answer.json").read_text())
    for item in passing["feedback"]:
        item["score"] = 1
    path = tmp_path / "passed.json"
    path.write_text(json.dumps(passing))
    code, stdout, stderr = cli_analyze(tmp_path, str(path), "--out", "out")
    assert code == 0, stderr
    assert stdout.startswith("No failing traces among the 1 trace read") and not (tmp_path / "out").exists()
    code, stdout, stderr = cli_analyze(tmp_path, str(path), "--all", "--out", "out")
    assert code == 0, stderr
    pack = json.loads((tmp_path / "out" / "hypothesis-pack.json").read_text())
    assert pack["selection"]["verdict"] == "passed" and "correctness=1" in pack["selection"]["reasons"][0]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "**Verdict.** Passed (feedback correctness=1, above 0.5)" in report and "failing trace" not in report


def test_the_action_says_no_failing_traces_with_the_count_read(github: FakeGitHub, tmp_path: Path) -> None:
    passing = json.loads((EXAMPLES / "wrong-answer.json").read_text())
    for item in passing["feedback"]:
        item["score"] = 1
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo))
    (Path(env["GITHUB_WORKSPACE"]) / "trace.json").write_text(json.dumps(passing))
    code, log = run_action(env)
    assert code == 0, log
    summary = (tmp_path / "summary").read_text()
    assert "No failing traces among the 1 trace read" in summary
    assert github.comments_on(2) == []  # nothing to say on the pull request
    assert read_outputs(tmp_path / "output")["traces-analyzed"] == "0"


def test_a_slow_early_publish_never_makes_a_second_check_run(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final publishing waits behind the early one on the same worker: when GitHub is slow to start
    the check run, the final step says so and never starts another; the first is completed once it exists."""
    import time

    from refinery.github import reporter
    from tests.fakes.openai_api import FakeOpenAI
    from tests.integration.test_action_run import model_inputs

    monkeypatch.setattr(reporter, "EARLY_WAIT_S", 0.1)
    github.delay("POST", r"/check-runs$", 3.0)  # the in-progress check run hangs
    with FakeOpenAI() as openai:
        env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), **model_inputs(openai))
        code, log = run_action(env)
    assert code == 0, log
    assert "GitHub did not answer in time" in log
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(c["status"] == "completed" for c in github.check_runs.values()):
        time.sleep(0.1)
    starts = [r for r in github.requests if r["method"] == "POST" and r["path"].endswith("/check-runs")]
    assert len(starts) == 1 and len(github.check_runs) == 1
    [check] = github.check_runs.values()
    assert check["status"] == "completed"


def test_errors_carry_the_services_status_and_request_id(github: FakeGitHub, tmp_path: Path) -> None:
    from refinery.analysis.orchestrator import analyze
    from refinery.errors import ProviderError
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file
    from refinery.wiring import build_analysis_provider, load_settings
    from tests.fakes import openai_api as F
    from tests.fakes.openai_api import FakeOpenAI

    with FakeOpenAI() as openai:
        openai.script(F.http_error(403, "model_not_found", "no access to gpt-4.1"))
        settings = load_settings(
            {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
        )
        result = analyze(prepare(load_trace_file(EXAMPLES / "wrong-answer.json")), build_analysis_provider(settings))
    error = result.error
    assert isinstance(error, ProviderError)
    assert error.status_code == 403 and error.code == "model_not_found"
    assert error.request_id is not None and error.request_id.startswith("req_fake")
    assert error.one_line().endswith(f"(request id {error.request_id})")
    # GitHub's errors too: the comment that failed is named with GitHub's request id.
    github.fail("POST", r"/issues/\d+/comments$", 502, times=10, message="upstream overloaded")
    code, log = run_action(action_env(tmp_path, github, "pull_request", pr_event(github.repo)))
    assert code == 0 and re.search(r"The comment was not posted: .*502.*\(request id FAKE:\d+\)", log), log
