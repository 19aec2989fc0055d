"""The container, end to end, run the way the Actions runner runs a Docker action.

The image is built from the repository's Dockerfile; the workspace, the event file and the
file-command files are mounted where the runner mounts them; inputs arrive as ``INPUT_*``
with the hyphens kept. The container talks to the fakes on the host's loopback.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.docker_env import IMAGE_TAG, build_image, docker_engine, ensure_base_image
from tests.fakes.github_api import FakeGitHub, webhook_examples
from tests.fakes.openai_api import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "rate-limit-cascade.json"
SYSTEM_PROMPT = "You are TravelBot. Answer questions about flights using the tools. Always cite the fare you found. Never invent prices."
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    with docker_engine() as client:
        yield client


@pytest.fixture(scope="module")
def image(docker_client: Any) -> Any:
    base = ensure_base_image(docker_client)
    started = time.monotonic()
    built = build_image(docker_client, base)
    print(f"\nimage {IMAGE_TAG}: {built.attrs['Size'] / 1e6:.0f} MB, built in {time.monotonic() - started:.0f} s")
    yield built
    docker_client.images.remove(IMAGE_TAG, force=True)


def runner_dirs(tmp_path: Path, event: dict[str, Any]) -> dict[str, Path]:
    dirs = {name: tmp_path / name for name in ("workspace", "workflow", "file_commands", "home")}
    for path in dirs.values():
        path.mkdir()
    (dirs["workflow"] / "event.json").write_text(json.dumps(event))
    shutil.copy(EXAMPLE, dirs["workspace"] / "failing-trace.json")
    prompts = dirs["workspace"] / "agent" / "prompts.py"
    prompts.parent.mkdir()
    prompts.write_text(f'"""Prompts of the travel agent."""\n\nSYSTEM = (\n    "{SYSTEM_PROMPT}"\n)\n')
    return dirs


def pull_request_event(repo: str) -> dict[str, Any]:
    event = webhook_examples("pull_request")[0]  # a real "opened" payload
    event["repository"]["full_name"] = repo
    event["pull_request"]["head"]["sha"] = HEAD_SHA
    event["pull_request"]["head"]["repo"]["full_name"] = repo
    return event


def container_env(github: Any, *, event: str = "pull_request", sha: str = HEAD_SHA, **inputs: str) -> dict[str, str]:
    """The event's variables and the action's inputs (``trace_file`` becomes ``INPUT_TRACE-FILE``)."""
    return {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REPOSITORY": github.repo,
        "GITHUB_SHA": sha,
        "GITHUB_API_URL": github.url,
        "GITHUB_SERVER_URL": github.url,
        "INPUT_GITHUB-TOKEN": github.token,
        **{f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()},
    }


def start_container(client: Any, dirs: dict[str, Path], env: dict[str, str]) -> Any:
    """Start the image detached, as the runner does: its GITHUB_* variables, mounts and host network."""
    output_id = uuid.uuid4().hex
    runner_env = {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "HOME": "/github/home",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_OUTPUT": f"/github/file_commands/set_output_{output_id}",
        "GITHUB_STEP_SUMMARY": f"/github/file_commands/step_summary_{output_id}",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_WORKFLOW": "agent-evals",
        "GITHUB_JOB": "evals",
        **env,
    }
    return client.containers.run(
        IMAGE_TAG,
        detach=True,
        network_mode="host",
        working_dir="/github/workspace",
        environment=runner_env,
        volumes={
            str(dirs["workspace"]): {"bind": "/github/workspace", "mode": "rw"},
            str(dirs["workflow"]): {"bind": "/github/workflow", "mode": "rw"},
            str(dirs["file_commands"]): {"bind": "/github/file_commands", "mode": "rw"},
            str(dirs["home"]): {"bind": "/github/home", "mode": "rw"},
        },
    )


def run_container(client: Any, dirs: dict[str, Path], env: dict[str, str]) -> tuple[int, str]:
    container = start_container(client, dirs, env)
    try:
        status = container.wait(timeout=300)["StatusCode"]
        logs = container.logs().decode("utf-8", errors="replace")
    finally:
        container.remove(force=True)
    return status, logs


def read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = path.read_text().split("\n")
    index = 0
    while index < len(lines):
        if "<<" in lines[index]:
            name, delimiter = lines[index].split("<<", 1)
            end = lines.index(delimiter, index + 1)
            outputs[name] = "\n".join(lines[index + 1 : end])
            index = end
        index += 1
    return outputs


def test_the_action_container_comments_checks_and_writes_artifacts(
    image: Any, docker_client: Any, tmp_path: Path
) -> None:
    with FakeGitHub() as github, FakeOpenAI() as openai:
        github.add_pull(2, HEAD_SHA)
        github.add_comments(2, [f"unrelated comment {i}" for i in range(105)])
        dirs = runner_dirs(tmp_path, pull_request_event(github.repo))
        env = {
            **container_env(
                github,
                sha="0" * 40,
                trace_file="failing-trace.json",
                openai_api_key=openai.api_key,
                base_url=openai.url + "/v1",
                model="gpt-4.1",
            ),
            "INPUT_COMMENT": "update",
            "INPUT_CHECK-RUN": "true",
            "INPUT_ANNOTATIONS": "true",
            "INPUT_OUTPUT-DIR": "refinery-artifacts",
            "INPUT_FAIL-ON": "never",
            "INPUT_REDACT": "true",
            "INPUT_MAX-TRACES": "3",
            "INPUT_PROVIDER": "openai",
            "INPUT_REASONING-EFFORT": "medium",
            "INPUT_COMMENT-UNUSED": "",
        }
        status, logs = run_container(docker_client, dirs, env)
        assert status == 0, logs
        assert "::group::Refinery: collecting traces" in logs
        assert f"::add-mask::{openai.api_key}" in logs and logs.count(openai.api_key) == 1  # only the mask line

        [comment] = [c for c in github.comments_on(2) if "<!-- refinery:sticky" in c["body"]]
        assert "### Refinery: why the eval failed" in comment["body"]
        assert "Retry rate-limited searches" in comment["body"]  # the model's hypothesis, from the fake
        assert "<details>" in comment["body"] and "```mermaid" in comment["body"]
        [check] = github.check_runs.values()
        assert check["head_sha"] == HEAD_SHA and check["conclusion"] == "neutral"  # the PR head, not GITHUB_SHA
        paths = {a["path"] for a in check["annotations"]}
        assert "agent/prompts.py" in paths
        annotation = next(a for a in check["annotations"] if a["path"] == "agent/prompts.py")
        assert annotation["start_line"] == 4 and annotation["annotation_level"] == "warning"

        outputs = read_outputs(next(dirs["file_commands"].glob("set_output_*")))
        assert outputs["traces-analyzed"] == "1" and outputs["conclusion"] == "neutral"
        assert outputs["comment-url"].startswith(github.url) and outputs["check-run-url"].startswith(github.url)
        assert outputs["report-path"] == "/github/workspace/refinery-artifacts/report.md"
        summary = next(dirs["file_commands"].glob("step_summary_*")).read_text()
        assert "Refinery: why the eval failed" in summary
        artifacts = dirs["workspace"] / "refinery-artifacts"
        pack = json.loads(next(artifacts.glob("trace-1-*/hypothesis-pack.json")).read_text())
        assert pack["status"] == "complete" and pack["hypotheses"]

        # A second run edits the same comment instead of adding one.
        status, logs = run_container(docker_client, dirs, env)
        assert status == 0, logs
        assert len([c for c in github.comments_on(2) if "<!-- refinery:sticky" in c["body"]]) == 1
        assert any(r["method"] == "PATCH" and "/issues/comments/" in r["path"] for r in github.requests)


def test_a_fork_pr_read_only_token_degrades_to_the_summary(image: Any, docker_client: Any, tmp_path: Path) -> None:
    with FakeGitHub() as github:
        github.read_only = True
        github.add_pull(2, HEAD_SHA)
        dirs = runner_dirs(tmp_path, pull_request_event(github.repo))
        env = container_env(
            github,
            trace_file="*.json",
            comment="update",
            check_run="true",
            fail_on="error",
            output_dir="out",
            redact="true",
            max_traces="3",
        )
        status, logs = run_container(docker_client, dirs, env)
        assert status == 0, logs  # a read-only token is not an error, even with fail-on: error
        assert logs.count("::warning::") == 1 and "workflow_run" in logs
        assert github.comments_on(2) == [] and github.check_runs == {}
        summary = next(dirs["file_commands"].glob("step_summary_*")).read_text()
        assert "search_flights" in summary  # the offline triage, since there is no model key
        assert (dirs["workspace"] / "out" / "report.md").is_file()


def test_a_dispatched_trace_id_is_fetched_from_langsmith_inside_the_image(
    image: Any, docker_client: Any, tmp_path: Path, fake_langsmith: Any, recorded: dict[str, str]
) -> None:
    # The image leaves out zstandard (langsmith needs it only to upload traces); reading must still work.
    with FakeGitHub() as github:
        event = webhook_examples("workflow_dispatch")[0]
        event["repository"]["full_name"] = github.repo
        event["inputs"] = {"trace-id": recorded["rate_limited"]}
        dirs = runner_dirs(tmp_path, event)
        env = container_env(
            github,
            event="workflow_dispatch",
            trace_id=recorded["rate_limited"],
            langsmith_api_key=fake_langsmith.api_key,
            langsmith_endpoint=fake_langsmith.url,
            output_dir="out",
        )
        status, logs = run_container(docker_client, dirs, env)
    assert status == 0, logs
    assert "::error" not in logs and fake_langsmith.api_key not in logs.replace(
        f"::add-mask::{fake_langsmith.api_key}", ""
    )
    assert any(recorded["rate_limited"] in path for _, path, _ in fake_langsmith.requests)
    outputs = read_outputs(next(dirs["file_commands"].glob("set_output_*")))
    assert outputs["traces-analyzed"] == "1"
    summary = next(dirs["file_commands"].glob("step_summary_*")).read_text()
    assert "search_flights" in summary and "Rate Limiting" in summary


def test_sigterm_to_the_container_as_pid_1_cleans_up_and_reports(
    image: Any, docker_client: Any, tmp_path: Path
) -> None:
    from tests.fakes import openai_api as F

    with FakeGitHub() as github, FakeOpenAI() as openai:
        github.add_pull(2, HEAD_SHA)
        openai.script(F.never_completes())
        dirs = runner_dirs(tmp_path, pull_request_event(github.repo))
        env = container_env(
            github,
            trace_file="failing-trace.json",
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-5",
            output_dir="out",
        )
        container = start_container(docker_client, dirs, env)
        try:
            deadline = time.monotonic() + 120
            while not any(r["method"] == "GET" and r["path"].startswith("/responses/") for r in openai.requests):
                assert time.monotonic() < deadline, container.logs().decode()
                time.sleep(0.1)
            container.kill(signal="SIGTERM")
            status = container.wait(timeout=60)["StatusCode"]
            logs = container.logs().decode("utf-8", errors="replace")
        finally:
            container.remove(force=True)
        assert status == 0, logs  # handled as PID 1, not ignored, and not a failure of the job
        assert "Traceback" not in logs and "The run was cancelled (SIGTERM received)" in logs
        assert openai.stores == {} and openai.files == {}
        [comment] = github.comments_on(2)
        assert "cancelled (SIGTERM received)" in comment["body"]
    summary = next(dirs["file_commands"].glob("step_summary_*")).read_text()
    assert "cancelled" in summary and "search_flights" in summary
    pack = json.loads(next((dirs["workspace"] / "out").glob("trace-1-*/hypothesis-pack.json")).read_text())
    assert "cancelled" in pack["error"]
