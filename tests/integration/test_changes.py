"""What in the pull request did it: real git repositories, the GitHub API's files through Prism.

The scenario: a support agent's prompt lives in ``prompts/agent.md``. The pull request takes
out the rule "Always confirm the refund amount with the customer before calling issue_refund",
rewords the greeting further down the same prompt, and fixes a typo in the README. The agent,
running on the new prompt, refunds without confirming, and the evaluator says so. The removed
rule must rank first; the rewording and the README fix below it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from refinery.changes.diff import read_file_patches, read_unified_diff
from refinery.changes.git import read_git_range
from refinery.cli import cli
from refinery.pipeline import enrich, prepare
from refinery.trace.model import Feedback, Trace
from tests.builders import TraceBuilder
from tests.fakes.github_api import GITHUB_SPEC, FakeGitHub, require_node_tools, webhook_examples
from tests.fakes.prism import prism_proxy
from tests.integration.test_action_run import HEAD, action_env, pr_event, run_action

RULE = "Always confirm the refund amount with the customer before calling issue_refund."
FILLER = [f"Policy {n}: keep the tone of the support team, entry {n}." for n in range(1, 9)]
BEFORE = [
    "You are RefundBot, the support agent of Acme Travel.",
    "Answer questions about bookings and refunds.",
    RULE,
    "Never refund more than the fare paid.",
    *FILLER,
    "Greet the customer politely and by name.",
    "Sign every reply as RefundBot.",
]
AFTER = [line for line in BEFORE if line != RULE]
AFTER[AFTER.index("Greet the customer politely and by name.")] = "Greet the customer warmly, using their first name."
README_BEFORE = ["# Acme support agent", "", "Run the evals with `make evals`.", "Teh agent answers refunds."]
README_AFTER = [*README_BEFORE[:3], "The agent answers refunds."]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(tmp_path: Path, *, touch_prompt: bool = True) -> tuple[Path, str, str]:
    """A repository with the base commit and the PR's commit; returns (repo, base sha, head sha)."""
    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    (repo / "prompts" / "agent.md").write_text("\n".join(BEFORE) + "\n")
    (repo / "README.md").write_text("\n".join(README_BEFORE) + "\n")
    (repo / "agent.py").write_text("def run():\n    return 'ok'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    if touch_prompt:
        (repo / "prompts" / "agent.md").write_text("\n".join(AFTER) + "\n")
    else:
        (repo / "agent.py").write_text("def run():\n    return 'fine'\n")
    (repo / "README.md").write_text("\n".join(README_AFTER) + "\n")
    git(repo, "commit", "-q", "-am", "PR")
    return repo, base, git(repo, "rev-parse", "HEAD")


def failing_trace(prompt: list[str]) -> Trace:
    """The agent on ``prompt``: it looks the booking up and refunds at once, without confirming."""
    builder = TraceBuilder("refund_agent", inputs={"question": "Refund my booking ABC123"})
    builder.llm(builder.root, None, system="\n".join(prompt))
    builder.add(
        "get_booking", builder.root, "tool", inputs={"arguments": {"id": "ABC123"}}, outputs={"output": "fare 120"}
    )
    builder.llm(builder.root, None, system="\n".join(prompt))
    builder.add("issue_refund", builder.root, "tool", inputs={"arguments": {"id": "ABC123", "amount": 120}})
    builder.llm(builder.root, "Your refund of 120 is on its way.", system="\n".join(prompt))
    feedback = Feedback(
        key="policy_compliance",
        score=0,
        comment="The agent called issue_refund without confirming the refund amount with the customer first.",
    )
    return builder.build(feedback=[feedback])


def test_the_removed_rule_ranks_above_the_rewording_and_the_readme_fix(tmp_path: Path) -> None:
    repo, base, head = make_repo(tmp_path)
    changes = read_git_range(repo, f"{base}...{head}")
    assert sorted({h.path for h in changes.hunks}) == ["README.md", "prompts/agent.md"]
    assert len([h for h in changes.hunks if h.path == "prompts/agent.md"]) == 2  # two separate hunks
    prepared = enrich(prepare(failing_trace(AFTER)), changes=changes)
    ranked = prepared.suspects
    by_path = [(s.path, s.removed) for s in ranked]
    assert by_path[0] == ("prompts/agent.md", [RULE]), ranked
    rule, rewording, readme = ranked
    assert rule.score > rewording.score > readme.score
    assert prepared.top_suspect is rule
    assert rule.start_line == 3 and "removed lines from the prompt the trace used (P01)" in rule.reason
    # The evidence is the evaluator's own words, never a sentence Refinery wrote.
    [said] = rule.evidence
    assert said.startswith("names what the evaluator said went wrong: ") and "confirm" in said
    assert rule.band == "likely"
    assert rewording.used == ["system prompt P01"] and "changed lines in" in rewording.reason
    assert rewording.band == "none"  # it shares a word with the evaluator ("customer"), not enough to claim
    assert readme.used == [] and readme.reason.startswith("touches nothing the trace used")
    changes_md = prepared.documents.by_name("changes.md").text
    assert changes_md.index(f"## {rule.change_id} · prompts/agent.md L3–L3") < changes_md.index("README.md L")


def test_a_pr_that_touches_nothing_the_trace_used_claims_no_suspect(tmp_path: Path) -> None:
    repo, base, head = make_repo(tmp_path, touch_prompt=False)
    prepared = enrich(prepare(failing_trace(BEFORE)), changes=read_git_range(repo, f"{base}..{head}"))
    assert prepared.suspects and prepared.top_suspect is None
    assert all(not s.used for s in prepared.suspects)


def test_the_cli_ranks_a_diff_file_and_a_git_range_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, base, head = make_repo(tmp_path)
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(failing_trace(AFTER).model_dump_json())
    diff = tmp_path / "pr.diff"
    diff.write_text(git(repo, "diff", f"{base}...{head}") + "\n")
    packs = []
    for args in (["--diff", str(diff)], ["--git-range", f"{base}...{head}"]):
        out = tmp_path / f"out{len(packs)}"
        monkeypatch.chdir(repo)
        done = CliRunner().invoke(cli, ["analyze", str(trace_file), "--offline", "--out", str(out), *args])
        assert done.exit_code == 0, done.output
        packs.append(json.loads((out / "hypothesis-pack.json").read_text()))
        report = (out / "report.md").read_text()
        assert "**Likely from your change to `prompts/agent.md` L3**" in report
    assert [s["change_id"] for s in packs[0]["suspects"]] == [s["change_id"] for s in packs[1]["suspects"]]
    top = packs[0]["suspects"][0]
    assert {k: top[k] for k in ("path", "start_line", "end_line")} == {
        "path": "prompts/agent.md",
        "start_line": 3,
        "end_line": 3,
    }
    assert top["score"] >= packs[0]["suspect_threshold"] > packs[0]["suspects"][1]["score"] - 1
    # The claimed change took out a prompt line: the fix puts it back, as data, a patch and a diff to read.
    [fix] = packs[0]["fixes"]
    assert fix["source"] == "revert-suspect" and fix["change_id"] == top["change_id"]
    assert (fix["path"], fix["start_line"], fix["original"], fix["replacement"]) == (
        "prompts/agent.md",
        2,
        [BEFORE[1]],
        [BEFORE[1], RULE],
    )
    assert packs[1]["fixes"] == packs[0]["fixes"] and packs[0]["fix_notes"] == []
    report = (tmp_path / "out0" / "report.md").read_text()
    assert "Suggested fix: Restore the line C02 took out of prompts/agent.md" in report and f"+{RULE}" in report
    subprocess.run(["git", "-C", str(repo), "apply", "--check", str(tmp_path / "out0" / "fix.patch")], check=True)
    git(repo, "apply", str(tmp_path / "out0" / "fix.patch"))
    restored = (repo / "prompts" / "agent.md").read_text().splitlines()
    assert restored[:4] == BEFORE[:4]  # the rule is back where it was; the rewording is the PR's own


def test_binary_vendored_and_quoted_dash_lines_are_read_right() -> None:
    diff = "\n".join(
        [
            "diff --git a/q.sql b/q.sql",
            "--- a/q.sql",
            "+++ b/q.sql",
            "@@ -1,2 +1,1 @@",
            "--- an SQL comment, removed",
            " select 1;",
            "diff --git a/logo.png b/logo.png",
            "Binary files a/logo.png and b/logo.png differ",
            "diff --git a/package-lock.json b/package-lock.json",
            "--- a/package-lock.json",
            "+++ b/package-lock.json",
            "@@ -1 +1 @@",
            "-{}",
            '+{"a": 1}',
        ]
    )
    changes = read_unified_diff(diff, "test")
    [hunk] = changes.hunks
    assert (hunk.path, hunk.removed, hunk.context) == ("q.sql", ["-- an SQL comment, removed"], ["select 1;"])
    assert changes.skipped == ["logo.png: binary", "package-lock.json: vendored or generated"]
    api = read_file_patches([("big.bin", None, None), ("a.md", "@@ -1 +1 @@\n-x\n+y", "old.md")], "api")
    assert api.skipped == ["big.bin: binary, or too large for the API to show its patch"]
    assert api.hunks[0].old_path == "old.md"


def _files(repo: Path, base: str, head: str) -> list[dict[str, Any]]:
    """The PR's files as the GitHub API lists them (a patch per file), from the real diff; padded with
    unrelated files so that the list takes several pages."""
    files = []
    for path in git(repo, "diff", "--name-only", f"{base}...{head}").splitlines():
        patch = git(repo, "diff", f"{base}...{head}", "--", path).split("\n@@", 1)[1]
        files.append({"filename": path, "patch": "@@" + patch})
    files += [{"filename": f"docs/page{n}.md", "patch": f"@@ -1 +1 @@\n-old {n}\n+new {n}"} for n in range(230)]
    files.append({"filename": "assets/logo.png", "patch": None})
    return files


def test_the_action_reads_the_prs_files_through_githubs_contract_and_names_the_suspect(tmp_path: Path) -> None:
    require_node_tools()
    repo, base, head = make_repo(tmp_path / "git")
    with FakeGitHub() as fake, prism_proxy(GITHUB_SPEC, fake.direct_url, startup_timeout=240) as proxy:
        fake.public_url = proxy
        fake.add_pull(2, HEAD, files=_files(repo, base, head))
        env = action_env(tmp_path, fake, "pull_request", pr_event(fake.repo), trace_file="failing.json")
        workspace = Path(env["GITHUB_WORKSPACE"])
        (workspace / "failing.json").write_text(failing_trace(AFTER).model_dump_json())
        (workspace / "prompts").mkdir()
        (workspace / "prompts" / "agent.md").write_text("\n".join(AFTER) + "\n")
        code, log = run_action(env)
        assert code == 0, log
        pages = [r for r in fake.requests if r["path"].endswith("/pulls/2/files")]
        assert len(pages) == 3  # every page was read (100 files a page)
        body = fake.comments_on(2)[0]["body"]
        assert "**Likely from your change to `prompts/agent.md` L3** (removed: `" + RULE[:40] in body
        # The fix, checked against the workspace's head checkout, is in the comment as a diff to read,
        # and on the diff as a suggested change on the line the rule followed (the head commit's).
        assert (
            "<summary>Suggested fix: Restore the line C02 took out of prompts/agent.md" in body and f"+{RULE}" in body
        )
        [suggested] = fake.review_comments_on(2)
        assert (suggested["path"], suggested["line"], suggested["side"]) == ("prompts/agent.md", 2, "RIGHT")
        assert suggested["commit_id"] == HEAD and suggested["start_line"] is None
        assert f"```suggestion\n{BEFORE[1]}\n{RULE}\n```" in suggested["body"]
        assert suggested["body"].startswith("<!-- refinery:suggestion ")
        # A re-run edits nothing that did not change, withdraws its own stale suggestion, and never
        # touches a person's comment, even one quoting the marker.
        prefix = suggested["body"].split("prompts/agent.md", 1)[0]
        stale = fake.add_review_comment(2, prefix + "prompts/agent.md:9-9 -->\nold", "github-actions[bot]")
        person = fake.add_review_comment(2, prefix + "prompts/agent.md:9-9 -->\nquoted", "mallory")
        code, log = run_action(env)
        assert code == 0, log
        assert [c["id"] for c in fake.review_comments_on(2)] == [suggested["id"], person]
        assert stale not in fake.review_comments and "1 withdrawn" in log
        posts = [r for r in fake.requests if r["method"] == "POST" and r["path"].endswith("/pulls/2/comments")]
        assert len(posts) == 1  # created once, kept as it was on the re-run
        check = next(iter(fake.check_runs.values()))  # the first run's
        notes = [a for a in check["annotations"] if a["path"] == "prompts/agent.md" and a["start_line"] == 3]
        assert notes and "likely behind the failing eval" in notes[0]["title"]
    pack = json.loads(next((workspace / "refinery-artifacts").glob("trace-*/hypothesis-pack.json")).read_text())
    assert pack["suspects"][0]["path"] == "prompts/agent.md"
    assert [f["replacement"] for f in pack["fixes"]] == [[BEFORE[1], RULE]]
    assert next((workspace / "refinery-artifacts").glob("trace-*/fix.patch")).read_text().count(f"+{RULE}") == 1
    assert "changes.md" in [p.name for p in (workspace / "refinery-artifacts").glob("trace-*/documents/*.md")]


def test_verify_runs_the_eval_without_and_with_the_fix_in_throwaway_worktrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, base, head = make_repo(tmp_path)
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(failing_trace(AFTER).model_dump_json())
    diff = tmp_path / "pr.diff"
    diff.write_text(git(repo, "diff", f"{base}...{head}") + "\n")
    out = tmp_path / "out"
    monkeypatch.chdir(repo)
    done = CliRunner().invoke(cli, ["analyze", str(trace_file), "--offline", "--out", str(out), "--diff", str(diff)])
    assert done.exit_code == 0, done.output
    # The user's eval: passes when the prompt holds the confirmation rule (and says which example it ran).
    eval_command = f'test -n "$REFINERY_TRACE_ID" && test -f "$REFINERY_INPUTS" && grep -qF "{RULE}" prompts/agent.md'
    done = CliRunner().invoke(cli, ["verify", str(out), "--command", eval_command, "--runs", "2"])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("F1 verified: the fix passes 2 of 2, 0 of 2 without")
    [fix] = json.loads((out / "hypothesis-pack.json").read_text())["fixes"]
    verification = fix["verification"]
    assert (verification["verdict"], verification["passes"], verification["control_passes"]) == ("verified", 2, 0)
    assert len(verification["durations"]) == 4
    # The checkout is untouched and its throwaway worktrees are gone.
    assert git(repo, "status", "--porcelain") == "" and len(git(repo, "worktree", "list").splitlines()) == 1
    # An eval that fails either way refutes the fix; one that passes either way proves nothing.
    refuted = CliRunner().invoke(
        cli, ["verify", str(out), "--command", "echo key=sk-proj-" + "Zq9" * 16 + "; exit 3", "--runs", "1"]
    )
    assert refuted.exit_code == 1 and refuted.output.startswith("F1 refuted: the fix passes 0 of 1, 0 of 1 without")
    assert "sk-proj-Zq9" not in refuted.output and "REDACTED" in refuted.output  # the eval's output is untrusted
    both = CliRunner().invoke(cli, ["verify", str(out), "--command", "true", "--runs", "1"])
    assert both.exit_code == 1 and "inconclusive" in both.output and "did not reproduce" in both.output
    slow = CliRunner().invoke(cli, ["verify", str(out), "--command", "sleep 30", "--runs", "1", "--timeout", "1"])
    assert slow.exit_code == 1 and "stopped after 1 s" in slow.output


def test_the_action_verifies_the_fix_with_the_users_eval_and_leads_with_the_verdict(tmp_path: Path) -> None:
    require_node_tools()
    repo, base, head = make_repo(tmp_path / "git")
    with FakeGitHub() as fake:
        fake.add_pull(2, HEAD, files=_files(repo, base, head))
        eval_command = f'grep -qF "{RULE}" prompts/agent.md'
        env = action_env(
            tmp_path, fake, "pull_request", pr_event(fake.repo), trace_file="failing.json", verify_runs="2"
        )
        env["INPUT_VERIFY-COMMAND"] = eval_command
        workspace = Path(env["GITHUB_WORKSPACE"])
        subprocess.run(["git", "clone", "-q", str(repo), str(workspace / "checkout")], check=True)
        env["GITHUB_WORKSPACE"] = str(workspace / "checkout")
        (workspace / "checkout" / "failing.json").write_text(failing_trace(AFTER).model_dump_json())
        code, log = run_action(env)
        assert code == 0, log
        body = fake.comments_on(2)[0]["body"]
        assert "**Verified fix:** Restore the line C02 took out of prompts/agent.md" in body
        assert "your eval passes 2 of 2, 0 of 2 without." in body
        pack = json.loads(
            next((workspace / "checkout" / "refinery-artifacts").glob("trace-*/hypothesis-pack.json")).read_text()
        )
        assert pack["fixes"][0]["verification"]["verdict"] == "verified"
        # A fork's pull request on workflow_run: the base repository's secrets are here, so it is refused.
        event = webhook_examples("workflow_run")[0]
        event["workflow_run"].update(event="pull_request", pull_requests=[], head_sha=HEAD, head_branch="fix-prompt")
        event["workflow_run"]["head_repository"]["full_name"] = "forker/agent-repo"
        event["repository"]["full_name"] = fake.repo
        fake.add_pull(5, HEAD, files=_files(repo, base, head), head_owner="forker", head_ref="fix-prompt")
        (tmp_path / "fork").mkdir()
        fork = action_env(tmp_path / "fork", fake, "workflow_run", event, trace_file="failing.json")
        fork["INPUT_VERIFY-COMMAND"] = eval_command
        fork["INPUT_PR-NUMBER"] = "5"  # so that this run reads the pull request's changes
        fork["GITHUB_WORKSPACE"] = env["GITHUB_WORKSPACE"]
        code, log = run_action(fork)
        assert code == 0, log
        assert "The fixes were not verified: verification runs the pull request's code" in log
        assert (
            "Suggested fix" in fake.comments_on(5)[0]["body"] and "Verified fix" not in fake.comments_on(5)[0]["body"]
        )
