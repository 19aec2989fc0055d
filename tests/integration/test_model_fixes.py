"""Fixes the synthesis stage writes: checked like the revert fix, each verified on its own.

The scenario of ``test_changes``: the pull request took out the refund-confirmation rule and the
agent refunded without confirming. The scripted model proposes two fixes besides the revert fix
Refinery makes itself: a plausible but wrong one (it tightens the fare rule, which the eval does not
check) and one whose lines are not what the checkout holds. The action runs through the GitHub
fake behind Prism and the OpenAI fake, with the user's eval as ``verify-command``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from refinery.cli import cli
from tests.fakes import openai_api as F
from tests.fakes.github_api import FakeGitHub, require_node_tools
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.test_action_run import HEAD, run_action, verify_checkout_env
from tests.integration.test_changes import AFTER, RULE, _files, failing_trace, make_repo

FARE = "Never refund more than the fare paid."
EVAL = f'grep -qF "{RULE}" prompts/agent.md'


def synthesis_with_fixes() -> dict[str, Any]:
    line = AFTER.index(FARE) + 1
    hypothesis = {
        "title": "Tighten the fare rule",
        "category": "Instruction Non-compliance",
        "origin_run_id": "R0004",
        "rationale": "The refund went out at the full fare.",
        "proposed_change": {"kind": "prompt", "target": "prompts/agent.md", "before": FARE, "after": "stricter"},
        "expected_effect": "Smaller refunds.",
        "how_to_verify": "Rerun the eval.",
        "confidence": 0.4,
    }
    return {
        "summary": "The agent refunded without confirming the amount.",
        "top_findings": ["issue_refund ran before any confirmation"],
        "actions_next": ["Put the confirmation rule back"],
        "hypotheses": [{"id": "H1", **hypothesis}, {"id": "H2", **hypothesis, "title": "Reword the greeting"}],
        "fixes": [
            {
                "hypothesis_id": "H1",
                "path": "prompts/agent.md",
                "start_line": line,
                "end_line": line,
                "original": [FARE],
                "replacement": ["Never refund more than the fare paid, minus the booking fee."],
            },
            {
                "hypothesis_id": "H2",
                "path": "prompts/agent.md",
                "start_line": 2,
                "end_line": 2,
                "original": ["A line the prompt does not hold."],
                "replacement": ["Greet the customer."],
            },
        ],
    }


def test_the_models_fixes_are_checked_and_each_is_verified_on_its_own(tmp_path: Path) -> None:
    require_node_tools()
    repo, base, head = make_repo(tmp_path / "git")
    with FakeGitHub() as github, FakeOpenAI() as openai:
        github.add_pull(2, HEAD, files=_files(repo, base, head))
        openai.script(F.Step("auto"), F.Step("auto"), F.Step("auto"), F.reply(synthesis_with_fixes()))
        env = verify_checkout_env(tmp_path, github, openai, repo, EVAL, trace_file="failing.json", verify_runs="2")
        checkout = Path(env["GITHUB_WORKSPACE"])
        (checkout / "failing.json").write_text(failing_trace(AFTER).model_dump_json())
        code, log = run_action(env)
        assert code == 0, log
        body = github.comments_on(2)[0]["body"]
        suggestions = [c["body"] for c in github.review_comments_on(2)]
    folder = next((checkout / "refinery-artifacts").glob("trace-*"))
    pack = json.loads((folder / "hypothesis-pack.json").read_text())
    fixes = {f["id"]: f for f in pack["fixes"]}
    assert [(f["source"], f["verification"]["verdict"]) for f in fixes.values()] == [
        ("revert-suspect", "verified"),
        ("model", "refuted"),
    ]
    # The fare rule is a context line of the hunk, so it could be suggested on; being refuted, it is not.
    assert fixes["F2"]["hypothesis"] == "H1: Tighten the fare rule" and fixes["F2"]["in_diff"] is True
    [suggestion] = suggestions
    assert f"{RULE}\n```" in suggestion  # the restored rule, last line of the suggestion block
    assert "(revert-suspect, verified: your eval passes 2 of 2, 0 of 2 without)" in suggestion
    assert (fixes["F1"]["verification"]["passes"], fixes["F1"]["verification"]["control_passes"]) == (2, 0)
    assert (fixes["F2"]["verification"]["passes"], fixes["F2"]["verification"]["control_passes"]) == (0, 0)
    [note] = pack["fix_notes"]
    assert note.startswith("The model's fix 2 (H2, prompts/agent.md) was dropped: lines 2–2 of prompts/agent.md")
    # The comment leads with the fix that works and shows the refuted one for what it is.
    assert (
        "**Verified fix:** Restore the line C02 took out of prompts/agent.md" in body
        and "your eval passes 2 of 2, 0 of 2 without." in body
    )
    assert "(proposed by the model; refuted: your eval passes 0 of 2, 0 of 2 without):" in body
    assert "A line the prompt does not hold" not in body  # a dropped fix is never shown
    assert "try **Tighten the fare rule** (confidence 0.40; your eval refuted its fix)" in body
    # fix.patch holds both checked fixes, and git takes it.
    patch = (folder / "fix.patch").read_text()
    assert f"+{RULE}" in patch and "+Never refund more than the fare paid, minus the booking fee." in patch
    applied = subprocess.run(["git", "-C", str(repo), "apply", "--check", "-"], input=patch, text=True, check=False)
    assert applied.returncode == 0
    # `refinery verify --fix-id` checks one fix; an unknown id names the ones there are.
    runner = CliRunner()
    one = subprocess_free_verify(runner, repo, folder, ["--fix-id", "F1", "--runs", "1"])
    assert one.exit_code == 0 and one.output.startswith("F1 verified: the fix passes 1 of 1, 0 of 1 without")
    both = subprocess_free_verify(runner, repo, folder, ["--runs", "1"])
    assert both.exit_code == 1 and "F2 refuted" in both.output
    unknown = subprocess_free_verify(runner, repo, folder, ["--fix-id", "F9"])
    assert unknown.exit_code != 0 and "Its fixes: F1, F2." in unknown.output


def subprocess_free_verify(runner: CliRunner, repo: Path, folder: Path, extra: list[str]) -> Any:
    """``refinery verify`` in the repository, as a developer runs it after downloading the artifacts."""
    import os

    cwd = Path.cwd()
    os.chdir(repo)
    try:
        return runner.invoke(cli, ["verify", str(folder), "--command", EVAL, *extra])
    finally:
        os.chdir(cwd)
