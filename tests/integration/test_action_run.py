"""The action in-process (``refinery.action.run``) with PyGithub against the fake GitHub API,
part of it through Prism checking GitHub's official OpenAPI description (npm @octokit/openapi)."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from refinery.action import run
from tests.e2e.test_container import read_outputs
from tests.fakes import openai_api as F
from tests.fakes.github_api import GITHUB_SPEC, FakeGitHub, require_node_tools, webhook_examples
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.prism import prism_proxy

REPO = Path(__file__).resolve().parents[2]
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "trace.json").write_text((REPO / "examples" / "rate-limit-cascade.json").read_text())
    return ws


def action_env(
    tmp_path: Path, github: FakeGitHub, event_name: str, event: dict[str, Any], **inputs: str
) -> dict[str, str]:
    (tmp_path / "event.json").write_text(json.dumps(event))
    env = {
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_REPOSITORY": github.repo,
        "GITHUB_SHA": HEAD,
        "GITHUB_API_URL": github.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "99",
        "GITHUB_WORKFLOW": "evals",
        "GITHUB_JOB": "test",
        "GITHUB_WORKSPACE": str(workspace(tmp_path)),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "INPUT_GITHUB-TOKEN": github.token,
        "INPUT_TRACE-FILE": "trace.json",
    }
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    return env


def langsmith_inputs(fake: Any, **inputs: str) -> dict[str, str]:
    """Inputs that read traces from the fake LangSmith instead of a workspace file."""
    return {"trace_file": "", "langsmith_api_key": fake.api_key, "langsmith_endpoint": fake.url, **inputs}


def model_inputs(openai: FakeOpenAI, model: str = "gpt-4.1") -> dict[str, str]:
    """Inputs that run the four stages on the fake OpenAI."""
    return {"openai_api_key": openai.api_key, "base_url": openai.url + "/v1", "model": model}


def verify_checkout_env(
    tmp_path: Path, github: FakeGitHub, openai: FakeOpenAI, repo: Path, command: str, **inputs: str
) -> dict[str, str]:
    """A pull_request run on a clone of ``repo`` (the workspace), four stages on the fake OpenAI, and
    ``command`` as verify-command."""
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), **model_inputs(openai), **inputs)
    env["INPUT_VERIFY-COMMAND"] = command
    checkout = Path(env["GITHUB_WORKSPACE"]) / "checkout"
    subprocess.run(["git", "clone", "-q", str(repo), str(checkout)], check=True)
    env["GITHUB_WORKSPACE"] = str(checkout)
    return env


def first_pack(env: dict[str, str]) -> dict[str, Any]:
    """The Hypothesis Pack of the (only, or first) trace the action analysed."""
    path = next((Path(env["GITHUB_WORKSPACE"]) / "refinery-artifacts").glob("trace-*/hypothesis-pack.json"))
    return dict(json.loads(path.read_text()))


def pr_event(repo: str, number: int = 2) -> dict[str, Any]:
    event = webhook_examples("pull_request")[0]
    event["number"] = number
    event["pull_request"]["number"] = number
    event["pull_request"]["head"]["sha"] = HEAD
    event["repository"]["full_name"] = event["pull_request"]["head"]["repo"]["full_name"] = repo
    return event


def run_action(env: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    code = run(env, out)
    return code, out.getvalue()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    require_node_tools()
    with FakeGitHub() as fake:
        fake.add_pull(2, HEAD)
        yield fake


def test_offline_run_comments_checks_and_writes_outputs(github: FakeGitHub, tmp_path: Path) -> None:
    code, log = run_action(action_env(tmp_path, github, "pull_request", pr_event(github.repo)))
    assert code == 0, log
    outputs = read_outputs(tmp_path / "output")
    assert outputs["conclusion"] == "neutral" and outputs["traces-analyzed"] == "1"
    assert "the failure starts at R0004 search_flights" in outputs["summary"]
    [comment] = github.comments_on(2)
    assert comment["body"].startswith("<!-- refinery:sticky evals|test|trace.json -->")
    assert "Set OPENAI_API_KEY" in comment["body"]  # offline: says what a key would add
    [check] = github.check_runs.values()
    assert check["conclusion"] == "neutral" and check["head_sha"] == HEAD
    assert check["output"]["summary"].startswith("### Refinery: why the eval failed")
    assert "<details>" not in check["output"]["summary"] and "## Findings" in check["output"]["text"]
    assert "::group::Refinery: collecting traces" in log and "::endgroup::" in log
    assert (tmp_path / "summary").read_text().startswith("<!-- refinery:sticky")


@pytest.mark.parametrize(
    "fail_on,script,code,conclusion",
    [
        ("never", [F.http_error(429, "insufficient_quota")], 0, "neutral"),
        ("error", [F.http_error(429, "insufficient_quota")], 1, "failure"),
        ("error", [], 0, "neutral"),
        ("finding", [], 1, "failure"),
    ],
)
def test_fail_on(
    github: FakeGitHub, tmp_path: Path, fail_on: str, script: list[Any], code: int, conclusion: str
) -> None:
    with FakeOpenAI() as openai:
        openai.script(*script)
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            fail_on=fail_on,
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-4.1",
        )
        exit_code, log = run_action(env)
    assert exit_code == code, log
    outputs = read_outputs(tmp_path / "output")
    assert outputs["conclusion"] == conclusion
    [check] = github.check_runs.values()
    assert check["conclusion"] == conclusion
    body = github.comments_on(2)[0]["body"]
    if script:  # the analysis failed: the triage is posted with the error, never nothing
        assert "The model analysis stopped at trace_analysis" in body and "## Findings" in body
        # The warning names the trace it is about.
        assert re.search(r"^::warning::trace [\w-]+ \(eval_case\): the model analysis failed; its triage", log, re.M)
    else:
        assert "## Fix hypotheses" in body


def test_comment_modes(github: FakeGitHub, tmp_path: Path) -> None:
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), comment="new")
    run_action(env)
    run_action(env)
    assert len(github.comments_on(2)) == 2
    github.comments.clear()
    run_action({**env, "INPUT_COMMENT": "off"})
    assert github.comments_on(2) == []
    github.add_comments(
        2, ["<!-- refinery:sticky evals|test|trace.json -->\nhuman quoting the marker"], login="mallory"
    )
    run_action({**env, "INPUT_COMMENT": "update"})
    mallory = next(c for c in github.comments_on(2) if c["login"] == "mallory")
    assert "human quoting the marker" in mallory["body"]  # never edits a person's comment
    assert len(github.comments_on(2)) == 2


def test_workflow_run_from_a_fork_finds_the_pr_by_head(github: FakeGitHub, tmp_path: Path) -> None:
    event = webhook_examples("workflow_run")[0]
    run_payload = event["workflow_run"]
    run_payload.update(event="pull_request", pull_requests=[], head_sha=HEAD, head_branch="fix-prompt")
    run_payload["head_repository"]["full_name"] = "forker/agent-repo"
    run_payload["head_repository"]["owner"]["login"] = "forker"
    event["repository"]["full_name"] = github.repo
    github.add_pull(5, HEAD, head_owner="forker", head_ref="fix-prompt")
    code, log = run_action(action_env(tmp_path, github, "workflow_run", event))
    assert code == 0, log
    assert len(github.comments_on(5)) == 1
    lookup = next(r for r in github.requests if r["path"].endswith("/pulls"))
    assert lookup["query"]["head"] == "forker:fix-prompt"
    assert "Failing eval run" in github.comments_on(5)[0]["body"]


def test_push_has_no_pr_so_only_a_check_run(github: FakeGitHub, tmp_path: Path) -> None:
    push = webhook_examples("push")[0]
    push["after"] = HEAD
    code, _ = run_action(action_env(tmp_path, github, "push", push))
    assert code == 0 and github.comments == {} and len(github.check_runs) == 1


def test_bad_input_is_one_error_and_does_not_fail_the_job(github: FakeGitHub, tmp_path: Path) -> None:
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), comment="sometimes")
    code, log = run_action(env)
    assert code == 0 and log.count("::error::") == 1 and "comment" in log
    code, _ = run_action({**env, "INPUT_FAIL-ON": "error"})
    assert code == 1
    code, log = run_action({**env, "INPUT_COMMENT": "update", "INPUT_TRACE-FILE": "missing/*.json"})
    assert code == 0 and "matches no file" in log
    assert "matches no file" in (tmp_path / "summary").read_text()


# -- through Prism --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def github_behind_prism() -> Iterator[tuple[FakeGitHub, str]]:
    require_node_tools()
    with FakeGitHub() as fake, prism_proxy(GITHUB_SPEC, fake.direct_url, startup_timeout=240) as proxy:
        fake.public_url = proxy
        yield fake, proxy


def test_the_action_is_within_githubs_contract(github_behind_prism: tuple[FakeGitHub, str], tmp_path: Path) -> None:
    fake, _proxy = github_behind_prism
    fake.reset()
    fake.add_pull(2, HEAD)
    fake.add_comments(2, [f"earlier comment {i}" for i in range(120)])
    # A prompt file in the workspace gives the check run an annotation.
    env = action_env(tmp_path, fake, "pull_request", pr_event(fake.repo))
    (Path(env["GITHUB_WORKSPACE"]) / "agent.py").write_text(
        'SYSTEM = "You are TravelBot. Answer questions about flights using the tools. Always cite the fare you found. '
        'Never invent prices."\n'
    )
    code, log = run_action(env)
    assert code == 0, log
    outputs = read_outputs(tmp_path / "output")
    assert outputs["comment-url"] and outputs["check-run-url"], log
    [check] = fake.check_runs.values()
    assert [a["path"] for a in check["annotations"]] == ["agent.py"]
    code, log = run_action(env)  # the sticky update: paginated search (page 2) and PATCH, all through Prism
    assert code == 0, log
    assert len([c for c in fake.comments_on(2) if c["login"].endswith("[bot]")]) == 1


@pytest.mark.parametrize(
    "output,problem",
    [
        (
            {
                "title": "t",
                "summary": "s",
                "annotations": [
                    {"path": "a.py", "start_line": 1, "end_line": 1, "annotation_level": "error", "message": "m"}
                ],
            },
            "annotation_level",
        ),
        (
            {
                "title": "t",
                "summary": "s",
                "annotations": [
                    {"path": "a.py", "start_line": 1, "end_line": 1, "annotation_level": "warning", "message": "m"}
                ]
                * 51,
            },
            "annotations",
        ),
        ({"title": "t", "summary": "s" * 65_536}, "summary"),
    ],
)
def test_prism_rejects_what_github_would(
    github_behind_prism: tuple[FakeGitHub, str], output: dict[str, Any], problem: str
) -> None:
    fake, proxy = github_behind_prism
    fake.reset()
    answer = httpx2.post(
        f"{proxy}/repos/{fake.repo}/check-runs",
        json={"name": "Refinery", "head_sha": HEAD, "status": "completed", "conclusion": "neutral", "output": output},
        headers={"Authorization": f"token {fake.token}", "Accept": "application/vnd.github+json"},
        timeout=60,
    )
    assert answer.status_code == 422, answer.text
    assert problem in answer.text
    assert fake.check_runs == {}  # it never reached the fake


def test_selecting_from_langsmith_since_this_run_started(
    github: FakeGitHub, tmp_path: Path, fake_langsmith: Any, recorded: dict[str, str]
) -> None:
    inputs = langsmith_inputs(fake_langsmith, langsmith_project="refinery-fixtures", feedback_key="correctness")
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), **inputs)
    github.run_started_at = "2020-01-01T00:00:00Z"  # before the recorded traces
    code, log = run_action(env)
    assert code == 0, log
    assert "started since 2020-01-01T00:00:00+00:00" in log
    assert read_outputs(tmp_path / "output")["traces-analyzed"] == "2"  # the errored one and the graded one
    body = github.comments_on(2)[0]["body"]
    assert "2 failing traces analysed" in body and body.count("<details>") == 2
    github.run_started_at = "2099-01-01T00:00:00Z"  # after them: nothing to do
    (tmp_path / "output").unlink()
    code, log = run_action(env)
    outputs = read_outputs(tmp_path / "output")
    assert code == 0 and outputs["traces-analyzed"] == "0" and outputs["conclusion"] == "success"
    assert "No failing traces" in (tmp_path / "summary").read_text()


def test_traces_are_analysed_concurrently_and_one_failure_sinks_none(github: FakeGitHub, tmp_path: Path) -> None:
    with FakeOpenAI() as openai:
        openai.script(F.http_error(400, "invalid_request_error", "scripted bad request"))  # whichever trace asks first
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            trace_file="*.json",
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-4.1",
            concurrency="3",
        )
        for example in ("looping-agent.json", "wrong-answer.json"):
            (Path(env["GITHUB_WORKSPACE"]) / example).write_text((REPO / "examples" / example).read_text())
        # The looping trace failed its test: pytest-langsmith records that as feedback pass = 0.
        looping = json.loads((REPO / "examples" / "looping-agent.json").read_text())
        looping["feedback"] = [{"key": "pass", "score": 0, "run_id": looping["runs"][0]["id"]}]
        (Path(env["GITHUB_WORKSPACE"]) / "looping-agent.json").write_text(json.dumps(looping))
        code, log = run_action(env)
    assert code == 0, log
    assert "analysing 3 traces, 3 at a time" in log
    outputs = read_outputs(tmp_path / "output")
    assert outputs["traces-analyzed"] == "3"
    body = github.comments_on(2)[0]["body"]
    assert body.count("<details>") == 3 and "**What broke** (3 failures, 3 clusters)" in body
    assert body.count("The model analysis stopped") == 1  # the one that failed shows its triage and error
    assert body.count("## Fix hypotheses") == 2  # the others completed
    assert log.count("done: complete") == 2 and log.count("done: partial") == 1


def test_fan_out_matrix_jobs_then_a_merge_gives_one_grouped_comment(github: FakeGitHub, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from refinery.cli import cli

    # Three matrix jobs, one trace each, no comment; their artifacts land in the merge job's workspace.
    artifacts = tmp_path / "downloaded"
    for index, example in enumerate(("rate-limit-cascade.json", "rate-limit-cascade.json", "wrong-answer.json")):
        job = tmp_path / f"job{index}"
        job.mkdir()
        env = action_env(
            job,
            github,
            "pull_request",
            pr_event(github.repo),
            comment="off",
            check_run="false",
            output_dir=str(artifacts / f"job{index}"),
        )
        (Path(env["GITHUB_WORKSPACE"]) / "trace.json").write_text((REPO / "examples" / example).read_text())
        assert run_action(env)[0] == 0
    assert github.comments_on(2) == []
    merge_env = action_env(
        tmp_path, github, "pull_request", pr_event(github.repo), trace_file="", merge_from=str(artifacts)
    )
    code, log = run_action(merge_env)
    assert code == 0, log
    assert "3 packs to merge" in log
    body = github.comments_on(2)[0]["body"]
    assert "- **2 of 3 failures**: tool `search_flights`: Rate Limiting" in body
    assert body.count("<details>") == 3
    assert read_outputs(tmp_path / "output")["traces-analyzed"] == "3"
    # The same merge from the CLI.
    out = tmp_path / "merged"
    done = CliRunner().invoke(cli, ["merge", str(artifacts), "--out", str(out)], catch_exceptions=False)
    assert done.exit_code == 0 and "3 traces in 2 groups" in done.stdout
    assert "2 of 3 failures" in (out / "report.md").read_text()  # --out is a directory, as everywhere
    done = CliRunner().invoke(cli, ["merge", str(tmp_path / "nothing-here")])
    assert done.exit_code == 2 and "No Hypothesis Pack found" in done.stderr
