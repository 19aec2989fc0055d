"""Every channel redacted, every optional step isolated, every setting's error published.

A pull request's changes are redacted before anything shows them (hunks, file names, skipped
files), with invisible characters written out; hostile answers from the GitHub API or a
baseline without error text are warnings at most, never the end of the run; scores that are
no number are unknown, never passing, whether a file or the LangSmith API holds them; an
invalid setting still tells the pull request what to change.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from refinery.cli import cli
from tests.e2e.test_container import read_outputs
from tests.fakes.github_api import FakeGitHub
from tests.integration.test_action_run import REPO, action_env, github, langsmith_inputs, pr_event, run_action

__all__ = ["github"]
EXAMPLES = REPO / "examples"
TOKEN = "ghp_" + "Zq8Xw2Lk5Nv7Bt3Rm9Pd4Hs6Jf1Gc0Ya8Ue4"  # ghp_ and 36 characters, as GitHub issues them
RLO = "\u202e"


def analyze(cwd: Path, *args: str) -> tuple[int, str]:
    here = Path.cwd()
    os.chdir(cwd)
    try:
        done = CliRunner().invoke(cli, ["analyze", *args], catch_exceptions=False)
    finally:
        os.chdir(here)
    return done.exit_code, done.stdout + done.stderr


def everything(out: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


def test_a_secret_in_a_hunk_or_a_skipped_file_name_reaches_no_artifact(tmp_path: Path) -> None:
    diff = tmp_path / "pr.diff"
    diff.write_text(
        "diff --git a/prompts/agent.md b/prompts/agent.md\n--- a/prompts/agent.md\n+++ b/prompts/agent.md\n"
        f"@@ -1,2 +1,2 @@\n You book flights.\n-Retry search_flights after a 429.\n+Use token {TOKEN} for search.\n"
        f"diff --git a/assets/{TOKEN}.png b/assets/{TOKEN}.png\nBinary files a/assets/{TOKEN}.png and "
        f"b/assets/{TOKEN}.png differ\n"
        f"diff --git a/docs/read{RLO}me.md b/docs/read{RLO}me.md\n--- a/docs/read{RLO}me.md\n+++ b/docs/read{RLO}me.md\n"
        "@@ -1 +1 @@\n-old\n+new\n"
    )
    code, output = analyze(
        tmp_path, str(EXAMPLES / "rate-limit-cascade.json"), "--offline", "--diff", str(diff), "--out", "out"
    )
    assert code == 0, output
    produced = everything(tmp_path / "out") + output
    assert TOKEN not in produced and TOKEN[:12] not in produced
    assert RLO not in produced
    changes = (tmp_path / "out" / "documents" / "changes.md").read_text()
    assert "read<U+202E>me.md" in changes and "[REDACTED:" in changes


def test_hostile_pull_request_file_answers_leave_the_triage_posted(github: FakeGitHub, tmp_path: Path) -> None:
    """A count that is missing or a string, a patch that is not text: read with defaults, and the run
    goes on (the real API is held to its description by Prism elsewhere; these come from proxies)."""
    github.pulls[2]["files"] = [
        {"filename": "prompts/agent.md", "patch": "@@ -1 +1 @@\n-Always retry.\n+Never retry."},
        {"filename": "data/blob.bin", "patch": 42},
    ]
    for index, raw in enumerate(({"changed_files": None}, {"changed_files": "2"}, {"changed_files": "many"})):
        github.pulls[2]["raw"] = raw
        run_dir = tmp_path / str(index)
        run_dir.mkdir()
        code, log = run_action(action_env(run_dir, github, "pull_request", pr_event(github.repo)))
        assert code == 0 and "internal error" not in log, log
        assert "changes: 2 files" in log or "changes: 1 files" in log, log
        body = github.comments_on(2)[-1]["body"]
        assert "search_flights" in body
    changes = next((run_dir / "ws" / "refinery-artifacts").glob("trace-*/documents/changes.md")).read_text()
    assert "data/blob.bin" in changes  # named as skipped: its patch was no text


def test_a_baseline_run_marked_errored_without_error_text_is_compared(tmp_path: Path) -> None:
    failing = json.loads((EXAMPLES / "rate-limit-cascade.json").read_text())
    passing = json.loads((EXAMPLES / "rate-limit-cascade.json").read_text())
    for run in passing["runs"]:
        run["error"] = None
        run["status"] = "success"
    # A baseline must pass by the selection's rule: the evaluator scored it 1.
    root = next(r for r in passing["runs"] if not r.get("parent_run_id"))
    passing["feedback"] = [{"key": "correctness", "score": 1, "run_id": root["id"], "trace_id": root["id"]}]
    child = next(r for r in passing["runs"] if r.get("parent_run_id"))
    child["status"], child["error"] = "error", None  # errored, and says nothing
    for trace in (failing, passing):  # the same task: both runs record the same inputs
        next(r for r in trace["runs"] if not r.get("parent_run_id"))["inputs"] = {"question": "Book SFO-JFK"}
    (tmp_path / "failing.json").write_text(json.dumps(failing))
    (tmp_path / "passing.json").write_text(json.dumps(passing))
    code, output = analyze(tmp_path, "failing.json", "--offline", "--baseline-file", "passing.json", "--out", "out")
    assert code == 0, output
    pack = json.loads((tmp_path / "out" / "hypothesis-pack.json").read_text())
    assert pack["baseline"] is not None


def test_scores_that_are_no_number_are_unknown_in_a_file(tmp_path: Path) -> None:
    for score, verdict in (("0.1", "failed"), ("0.9", "passed"), ("NaN", "unknown"), ("high", "unknown")):
        data = json.loads((EXAMPLES / "wrong-answer.json").read_text())
        for item in data["feedback"]:
            item["score"] = score
        (tmp_path / "t.json").write_text(json.dumps(data))
        code, output = analyze(tmp_path, "t.json", "--all", "--offline", "--out", f"out-{score}")
        assert code == 0, output
        pack = json.loads((tmp_path / f"out-{score}" / "hypothesis-pack.json").read_text())
        assert pack["selection"]["verdict"] == verdict, (score, pack["selection"])
    nan = json.loads((EXAMPLES / "wrong-answer.json").read_text())
    for item in nan["feedback"]:
        item["score"] = math.inf
    (tmp_path / "inf.json").write_text(json.dumps(nan))  # Python writes Infinity, which JSON readers take
    code, output = analyze(tmp_path, "inf.json", "--out", "out-inf")
    assert code == 0 and "No failing traces" in output  # never failing, and …
    code, output = analyze(tmp_path, "inf.json", "--all", "--offline", "--out", "out-inf-all")
    pack = json.loads((tmp_path / "out-inf-all" / "hypothesis-pack.json").read_text())
    assert pack["selection"]["verdict"] == "unknown" and "is not a number" in pack["selection"]["reasons"][0]


def test_scores_that_are_no_number_are_unknown_from_the_langsmith_api(
    github: FakeGitHub, tmp_path: Path, fake_langsmith: Any, recorded: dict[str, str]
) -> None:
    """The API fake answers directly here: a string or NaN score is outside LangSmith's description,
    which Prism would refuse, and exactly what a reader must survive."""
    fake_langsmith.contract = False
    trace_id = recorded["looping"]
    for index, score in enumerate(("0.1", math.nan, math.inf)):
        fake_langsmith.feedback = [f for f in fake_langsmith.feedback if f.get("key") != "quality"]
        fake_langsmith.feedback.append({"id": f"fb-{index}", "run_id": trace_id, "key": "quality", "score": score})
        run_dir = tmp_path / str(index)
        run_dir.mkdir()
        env = action_env(run_dir, github, "pull_request", pr_event(github.repo), **langsmith_inputs(fake_langsmith))
        env["INPUT_TRACE-ID"] = trace_id
        code, log = run_action(env)
        assert code == 0 and "internal error" not in log, log
        artifacts = run_dir / "ws" / "refinery-artifacts"
        pack = json.loads(next(artifacts.glob("trace-*/hypothesis-pack.json")).read_text())
        assert pack["selection"]["verdict"] in ("failed", "unknown"), pack["selection"]
        assert pack["selection"]["verdict"] != "passed"


def test_an_invalid_setting_still_publishes_its_error(github: FakeGitHub, tmp_path: Path) -> None:
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), max_cost="abc", fail_on="error")
    code, log = run_action(env)
    assert code == 1, log
    [comment] = github.comments_on(2)
    assert "Refinery could not start" in comment["body"] and "max-cost" in comment["body"]
    [check] = github.check_runs.values()
    assert check["conclusion"] == "failure"
    assert "max-cost" in (tmp_path / "summary").read_text()
    assert read_outputs(tmp_path / "output")["conclusion"] == "failure"
