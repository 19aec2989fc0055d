"""One bad item never sinks the rest, and a publish error after retries is reported, not fatal.

The action runs in-process against the fake GitHub (and the fake LangSmith where ids are
fetched). Faults are scripted on the fakes; nothing in Refinery or an SDK is mocked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from refinery.analysis.ratelimit import RateGate
from refinery.github.publisher import Annotation, GitHubPublisher
from refinery.wiring import build_analysis_provider, build_github_client, load_settings
from tests.e2e.test_container import read_outputs
from tests.fakes import openai_api as F
from tests.fakes.github_api import FakeGitHub, require_node_tools
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.test_action_run import HEAD, action_env, langsmith_inputs, pr_event, run_action

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def github() -> Any:
    require_node_tools()
    with FakeGitHub() as fake:
        fake.add_pull(2, HEAD)
        yield fake


def bad_files(workspace: Path) -> None:
    (workspace / "truncated.json").write_text((REPO / "examples" / "looping-agent.json").read_text()[:300])
    (workspace / "dangling.json").symlink_to(workspace / "deleted.json")


@pytest.mark.parametrize("fail_on,code", [("never", 0), ("error", 1)])
def test_a_bad_file_in_the_glob_is_named_and_the_rest_analysed(
    github: FakeGitHub, tmp_path: Path, fail_on: str, code: int
) -> None:
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), trace_file="*.json", fail_on=fail_on)
    bad_files(Path(env["GITHUB_WORKSPACE"]))
    exit_code, log = run_action(env)
    assert exit_code == code, log
    outputs = read_outputs(tmp_path / "output")
    assert outputs["traces-analyzed"] == "1" and "2 not analysed" in outputs["summary"]
    body = github.comments_on(2)[0]["body"]
    assert "Not everything could be analysed" in body
    assert "trace-file truncated.json: " in body and "is not valid JSON" in body
    assert "trace-file dangling.json: " in body and "dangling symlink" in body
    assert "search_flights" in body  # the good trace is there in full
    assert re.search(r"^::warning::Not analysed: trace-file truncated\.json", log, re.M)
    summary = (tmp_path / "summary").read_text()
    assert "truncated.json" in summary and "dangling.json" in summary


def test_when_nothing_could_be_read_the_summary_says_so(github: FakeGitHub, tmp_path: Path) -> None:
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), trace_file="bad-*.json")
    workspace = Path(env["GITHUB_WORKSPACE"])
    (workspace / "bad-1.json").write_text("{")
    (workspace / "bad-2.json").write_text("[1, 2")
    code, log = run_action(env)
    assert code == 0, log
    outputs = read_outputs(tmp_path / "output")
    assert outputs["traces-analyzed"] == "0"
    assert outputs["summary"] == "2 traces or files could not be analysed"
    summary = (tmp_path / "summary").read_text()
    assert "No failing traces were found" not in summary and "bad-1.json" in summary and "bad-2.json" in summary
    assert "bad-2.json" in github.comments_on(2)[0]["body"]


def test_one_unknown_id_among_three_is_named_and_the_others_analysed(
    github: FakeGitHub, tmp_path: Path, fake_langsmith: Any, recorded: dict[str, str]
) -> None:
    ids = [recorded["rate_limited"], "00000000-0000-4000-8000-00000000dead", recorded["looping"]]
    inputs = langsmith_inputs(fake_langsmith, trace_id=" ".join(ids))
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), **inputs)
    code, log = run_action(env)
    assert code == 0, log
    assert read_outputs(tmp_path / "output")["traces-analyzed"] == "2"
    body = github.comments_on(2)[0]["body"]
    assert "trace 00000000-0000-4000-8000-00000000dead: " in body and "LangSmith has no such" in body


def test_a_comment_that_keeps_failing_neither_crashes_nor_skips_the_check_run(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.fail("POST", r"/issues/\d+/comments$", 502, times=10, message="upstream overloaded")
    code, log = run_action(action_env(tmp_path, github, "pull_request", pr_event(github.repo), fail_on="error"))
    assert code == 1, log  # a publish error is Refinery's own error
    assert "internal error" not in log
    assert re.search(r"::warning::The comment was not posted: GitHub failed to comment .*502: upstream overloaded", log)
    assert github.check_runs  # created all the same
    assert (tmp_path / "summary").read_text().count("upstream overloaded") == 1


def test_a_secondary_rate_limit_on_the_check_run_leaves_the_comment(github: FakeGitHub, tmp_path: Path) -> None:
    github.fail(
        "POST",
        r"/check-runs$",
        403,
        times=10,
        message="You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        Retry_After="0",
    )
    code, log = run_action(action_env(tmp_path, github, "pull_request", pr_event(github.repo)))
    assert code == 0, log
    assert github.comments_on(2) and not github.check_runs
    assert "GitHub rate-limited the request to create a check run" in log and "secondary rate limit" in log


def test_a_422_keeps_githubs_own_detail(github: FakeGitHub, tmp_path: Path) -> None:
    github.fail(
        "POST",
        r"/issues/\d+/comments$",
        422,
        message="Validation Failed",
        errors=[
            {
                "resource": "IssueComment",
                "code": "custom",
                "field": "body",
                "message": "body is too long (maximum is 65536 characters)",
            }
        ],
    )
    _, log = run_action(action_env(tmp_path, github, "pull_request", pr_event(github.repo)))
    assert "422: Validation Failed; body is too long (maximum is 65536 characters)" in log


@pytest.mark.parametrize("with_model", [False, True])
def test_a_read_only_token_is_one_warning_even_with_fail_on_error(
    github: FakeGitHub, tmp_path: Path, with_model: bool
) -> None:
    github.read_only = True
    with FakeOpenAI() as openai:
        # With a model key the triage is published early too: still one warning, not one per attempt.
        model = (
            {"openai_api_key": openai.api_key, "base_url": openai.url + "/v1", "model": "gpt-4.1"} if with_model else {}
        )
        code, log = run_action(
            action_env(tmp_path, github, "pull_request", pr_event(github.repo), fail_on="error", **model)
        )
    assert code == 0, log
    assert log.count("::warning::") == 1 and "workflow_run" in log
    assert "search_flights" in (tmp_path / "summary").read_text()


def test_annotations_go_fifty_per_request_and_none_is_lost(github: FakeGitHub) -> None:
    settings = load_settings({"GITHUB_TOKEN": github.token})
    publisher = GitHubPublisher(build_github_client(settings, github.url), github.repo)
    notes = [
        Annotation(path=f"f{i}.py", start_line=i + 1, end_line=i + 1, annotation_level="warning", message=f"m{i}")
        for i in range(120)
    ]
    publisher.publish_check_run(
        name="Refinery", head_sha=HEAD, title="t", summary="s", text=None, conclusion="neutral", annotations=notes
    )
    [run] = github.check_runs.values()
    sizes = [
        len((r["body"].get("output") or {}).get("annotations", []))
        for r in github.requests
        if "/check-runs" in r["path"] and r["method"] in ("POST", "PATCH")
    ]
    assert sizes == [50, 50, 20]
    assert [a["message"] for a in run["annotations"]] == [f"m{i}" for i in range(120)]


def test_the_rate_gate_is_wired_into_the_clients_the_composition_root_builds(tmp_path: Path) -> None:
    from refinery.analysis.orchestrator import analyze
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    with FakeOpenAI() as openai:
        env = {
            "OPENAI_API_KEY": openai.api_key,
            "OPENAI_BASE_URL": openai.url + "/v1",
            "REFINERY_MODEL": "gpt-4.1",
            "REFINERY_COMPATIBLE_BASE_URL": openai.url + "/v1",
            "REFINERY_COMPATIBLE_MODEL": "llama-3.3-70b",
            "REFINERY_COMPATIBLE_API_KEY": openai.api_key,
        }
        for provider in ("openai", "openai-compatible"):
            settings = load_settings({**env, "REFINERY_PROVIDER": provider})
            gate = RateGate(settings.tokens_per_minute)
            openai.script(F.http_error(429, "rate_limit_exceeded", "slow down", **{"retry-after-ms": "10"}))
            result = analyze(
                prepare(load_trace_file(REPO / "examples" / "rate-limit-cascade.json")),
                build_analysis_provider(settings, gate=gate),
            )
            assert result.error is None, result.error  # the SDK's own retry got through...
            assert gate.pauses == 1, provider  # ...and every worker sharing the gate saw the 429


def test_hypothesis_pack_for_a_bad_run_still_names_it(github: FakeGitHub, tmp_path: Path) -> None:
    env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), trace_file="*.json")
    bad_files(Path(env["GITHUB_WORKSPACE"]))
    run_action(env)
    packs = list((tmp_path / "ws" / "refinery-artifacts").glob("trace-*/hypothesis-pack.json"))
    assert len(packs) == 1 and json.loads(packs[0].read_text())["trace"]["name"] == "eval_case"
