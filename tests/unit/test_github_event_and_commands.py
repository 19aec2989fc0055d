"""Events from real webhook payloads (@octokit/webhooks-examples), and workflow-command escaping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from refinery.errors import ConfigError
from refinery.github.commands import SUMMARY_LIMIT, command, write_outputs, write_summary
from refinery.github.event import load_event
from tests.fakes.github_api import webhook_examples


def env_for(tmp_path: Path, name: str, payload: dict[str, Any], **extra: str) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return {
        "GITHUB_EVENT_NAME": name,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": payload.get("repository", {}).get("full_name", "octo-org/octo-repo"),
        "GITHUB_SHA": "f" * 40,
        "GITHUB_RUN_ID": "77",
        "GITHUB_SERVER_URL": "https://github.example.com",
        **extra,
    }


def test_pull_request_uses_the_head_sha_not_github_sha(tmp_path: Path) -> None:
    payload = webhook_examples("pull_request")[0]
    ctx = load_event(env_for(tmp_path, "pull_request", payload))
    assert ctx.head_sha == payload["pull_request"]["head"]["sha"] != "f" * 40
    assert ctx.pr_number == payload["number"] and not ctx.fork
    assert ctx.run_url == f"https://github.example.com/{payload['repository']['full_name']}/actions/runs/77"


def test_pull_request_target_from_a_fork(tmp_path: Path) -> None:
    payload = webhook_examples("pull_request")[0]
    payload["pull_request"]["head"]["repo"]["full_name"] = "forker/Hello-World"
    ctx = load_event(env_for(tmp_path, "pull_request_target", payload))
    assert ctx.fork and ctx.pr_number == payload["number"]


def test_workflow_run_takes_head_sha_and_the_pr_from_the_payload(tmp_path: Path) -> None:
    payload = next(p for p in webhook_examples("workflow_run") if p["workflow_run"]["pull_requests"])
    ctx = load_event(env_for(tmp_path, "workflow_run", payload))
    assert ctx.head_sha == payload["workflow_run"]["head_sha"]
    assert ctx.pr_number == payload["workflow_run"]["pull_requests"][0]["number"]
    assert ctx.started_at is not None and ctx.started_at.isoformat().startswith(
        payload["workflow_run"]["run_started_at"][:19]
    )
    assert not ctx.needs_pr_lookup


def test_workflow_run_from_a_fork_pr_needs_a_lookup(tmp_path: Path) -> None:
    payload = webhook_examples("workflow_run")[0]
    run = payload["workflow_run"]
    run["event"] = "pull_request"
    run["pull_requests"] = []  # what GitHub sends for fork PRs
    run["head_repository"]["full_name"] = "forker/octo-repo"
    run["head_repository"]["owner"]["login"] = "forker"
    ctx = load_event(env_for(tmp_path, "workflow_run", payload))
    assert ctx.pr_number is None and ctx.needs_pr_lookup and ctx.fork
    assert (ctx.head_owner, ctx.head_branch) == ("forker", run["head_branch"])


def test_workflow_dispatch_inputs_and_push(tmp_path: Path) -> None:
    payload = webhook_examples("workflow_dispatch")[0]
    payload["inputs"] = {"trace-id": "abc def", "pr-number": "12"}
    ctx = load_event(env_for(tmp_path, "workflow_dispatch", payload))
    assert ctx.pr_number == 12 and ctx.dispatch_inputs["trace-id"] == "abc def"
    push = webhook_examples("push")[0]
    ctx = load_event(env_for(tmp_path, "push", push))
    assert ctx.head_sha == push["after"] and ctx.pr_number is None
    ctx = load_event(env_for(tmp_path, "schedule", {"schedule": "0 3 * * *"}))
    assert ctx.head_sha == "f" * 40 and ctx.pr_number is None


def test_outside_actions_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="Not running in GitHub Actions"):
        load_event({})


def test_workflow_command_escaping() -> None:
    assert (
        command("warning", "50% done\r\nnext", file="a:b,c.py", line=3)
        == "::warning file=a%3Ab%2Cc.py,line=3::50%25 done%0D%0Anext"
    )
    assert command("add-mask", "s3cr%t") == "::add-mask::s3cr%25t"


def test_outputs_survive_multi_line_values_and_fake_delimiters(tmp_path: Path) -> None:
    path = tmp_path / "out"
    write_outputs(path, {"summary": "line 1\nghadelimiter_x\nEOF\nline 4", "conclusion": "neutral"})
    lines = path.read_text().split("\n")
    name, delimiter = lines[0].split("<<")
    assert name == "summary" and delimiter.startswith("ghadelimiter_") and len(delimiter) > 20
    assert lines[1:5] == ["line 1", "ghadelimiter_x", "EOF", "line 4"] and lines[5] == delimiter


def test_summary_stays_under_one_mib_without_an_open_fence(tmp_path: Path) -> None:
    path = tmp_path / "summary"
    write_summary(path, "intro\n```text\n" + "x" * (2 * SUMMARY_LIMIT))
    data = path.read_bytes()
    assert len(data) <= SUMMARY_LIMIT
    assert data.decode().count("```") % 2 == 0 and b"1 MiB limit" in data
