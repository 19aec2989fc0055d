"""The container as the runner runs it: image size, cold start to the first log line, the whole
action for one trace against zero-latency fakes (GitHub, OpenAI), all four stages, and a
cancellation: SIGTERM while two stages are running, the seconds to exit and what was left."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.results import Results

REPO = Path(__file__).resolve().parents[1]

START_GOAL_S = 1.5
RUN_GOAL_S = 5.0
SIZE_GOAL_MB = 250
CANCEL_GOAL_S = 5.0


def _cancelled_run(client: Any, github: Any, openai: Any) -> tuple[float, int, int, bool]:
    """(seconds from SIGTERM to exit, exit status, stores + files left on the fake, comment posted)."""
    from tests.e2e.test_container import container_env, pull_request_event, runner_dirs, start_container
    from tests.fakes import openai_api as F

    openai.script(F.never_completes(), F.never_completes())
    with tempfile.TemporaryDirectory() as tmp:
        dirs = runner_dirs(Path(tmp), pull_request_event(github.repo))
        # A second failure of another shape: two clusters, so two representatives reach the stages.
        (dirs["workspace"] / "second-trace.json").write_bytes((REPO / "examples" / "wrong-answer.json").read_bytes())
        env = container_env(
            github, trace_file="*.json", openai_api_key=openai.api_key, base_url=openai.url + "/v1", model="gpt-5"
        )
        container = start_container(client, dirs, env)
        try:
            deadline = time.monotonic() + 120
            while (
                len(
                    {r["path"] for r in openai.requests if r["method"] == "GET" and r["path"].startswith("/responses/")}
                )
                < 2
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("the stages never started: " + container.logs().decode()[-2000:])
                time.sleep(0.05)
            signalled = time.monotonic()
            seen = len(github.requests)
            container.kill(signal="SIGTERM")
            status = container.wait(timeout=60)["StatusCode"]
            seconds = time.monotonic() - signalled
        finally:
            container.remove(force=True)
        commented = any(
            r["method"] in ("POST", "PATCH") and "/issues/" in r["path"] and "/comments" in r["path"]
            for r in github.requests[seen:]
        )
        return seconds, status, len(openai.stores) + len(openai.files), commented


def _one_run(client: Any, github: Any, openai: Any) -> tuple[float, float, int, float, float]:
    """(seconds to the first log line, seconds in all, exit status, seconds to the first comment,
    seconds to the end of the last stage) of one action run."""
    from tests.e2e.test_container import container_env, pull_request_event, runner_dirs, start_container

    with tempfile.TemporaryDirectory() as tmp:
        dirs = runner_dirs(Path(tmp), pull_request_event(github.repo))
        env = container_env(
            github,
            trace_file="failing-trace.json",
            openai_api_key=openai.api_key,
            base_url=openai.url + "/v1",
            model="gpt-4.1",
        )
        seen = len(github.requests)
        started = time.monotonic()
        container = start_container(client, dirs, env)
        try:
            first_line = None
            for _ in container.logs(stream=True, follow=True):
                if first_line is None:
                    first_line = time.monotonic() - started
            status = container.wait()["StatusCode"]
            total = time.monotonic() - started
        finally:
            container.remove(force=True)
        comments = [
            r["at"] - started
            for r in github.requests[seen:]
            # Created (POST …/issues/2/comments) or, the sticky one of an earlier run, edited (PATCH …/issues/comments/N).
            if (r["method"] == "POST" and r["path"].endswith("/comments"))
            or (r["method"] == "PATCH" and "/issues/comments/" in r["path"])
        ]
        stages = [r["at"] - started for r in openai.requests if r["path"].startswith("/responses")]
        return first_line or total, total, status, min(comments, default=total), max(stages, default=total)


def run(out: Results, runs: int = 3) -> None:
    import pytest

    from tests.e2e.docker_env import build_image, docker_engine, ensure_base_image
    from tests.fakes.github_api import FakeGitHub
    from tests.fakes.openai_api import FakeOpenAI

    out.heading("Action: the container as the runner runs it")
    try:
        engine = docker_engine()
        client = engine.__enter__()
    except pytest.skip.Exception as exc:  # no engine here: a skip, said as such, not a failure
        out.skipped("The action benchmark", str(exc))
        return
    try:
        base = ensure_base_image(client)
        t0 = time.monotonic()
        image = build_image(client, base)
        build_s = time.monotonic() - t0
        size_mb = image.attrs["Size"] / 1e6
        base_mb = client.images.get(base).attrs["Size"] / 1e6
        version = client.version().get("Version", "unknown")
        starts, totals, comments, stage_ends = [], [], [], []
        with FakeGitHub() as github, FakeOpenAI() as openai:
            github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
            for _ in range(runs):
                openai.reset()
                first, total, status, comment, stages_end = _one_run(client, github, openai)
                if status != 0:
                    raise RuntimeError(f"the action exited {status}")
                starts.append(first)
                totals.append(total)
                comments.append(comment)
                stage_ends.append(stages_end)
            cancels = []
            for _ in range(runs):
                openai.reset()
                cancels.append(_cancelled_run(client, github, openai))
    finally:
        engine.__exit__(None, None, None)
    out.para(
        f"Docker Engine {version} (Debian's docker.io, private dockerd). The base image is Debian trixie "
        "debootstrapped locally (the public registry is unreachable here), standing in for the pinned "
        f"`python:3.13-slim`. The image was built in {build_s:.0f} s with the base cached. Each run is the "
        "container started as the Actions runner starts it (mounts, event file, file commands, `INPUT_*`), "
        f"analysing one trace through all four stages against zero-latency GitHub and OpenAI fakes; {runs} runs."
    )
    out.table(
        ["measure", "median", "min", "max", "goal"],
        [
            [
                "image size, MB",
                f"{size_mb:.0f}",
                "",
                "",
                f"≤{SIZE_GOAL_MB} (base {base_mb:.0f}, Refinery's layers {size_mb - base_mb:.0f})",
            ],
            [
                "cold start to first log line, s",
                f"{statistics.median(starts):.2f}",
                f"{min(starts):.2f}",
                f"{max(starts):.2f}",
                f"≤{START_GOAL_S}",
            ],
            [
                "start to the first comment (the triage, stages still running), s",
                f"{statistics.median(comments):.2f}",
                f"{min(comments):.2f}",
                f"{max(comments):.2f}",
                f"before the stages end (median {statistics.median(stage_ends):.2f} s)",
            ],
            [
                "whole action, one trace, s",
                f"{statistics.median(totals):.2f}",
                f"{min(totals):.2f}",
                f"{max(totals):.2f}",
                f"≤{RUN_GOAL_S}",
            ],
            [
                "SIGTERM mid-stage (PID 1, 2 traces) to exit, s",
                f"{statistics.median(c[0] for c in cancels):.2f}",
                f"{min(c[0] for c in cancels):.2f}",
                f"{max(c[0] for c in cancels):.2f}",
                f"≤{CANCEL_GOAL_S}",
            ],
        ],
    )
    left = sum(c[2] for c in cancels)
    out.para(
        f"**Cancellation**: SIGTERM sent to the container while both traces' stages were polling background "
        f"responses that never complete; {runs} runs. Exit statuses {sorted({c[1] for c in cancels})}; vector stores "
        f"and files left on the fake afterwards: {left}; the sticky comment was written with the triage and the "
        f"cancelled note after the signal in {sum(c[3] for c in cancels)} of {runs}."
    )
    out.figure(
        "SIGTERM to exit, median; left behind",
        f"{statistics.median(c[0] for c in cancels):.2f} s; {left} stores or files",
        f"goal ≤{CANCEL_GOAL_S} s, nothing",
    )
    out.figure("Container image size", f"{size_mb:.0f} MB", f"goal ≤{SIZE_GOAL_MB} MB")
    out.figure(
        "Cold start to the first log line, median", f"{statistics.median(starts):.2f} s", f"goal ≤{START_GOAL_S} s"
    )
    out.figure(
        "Whole action, one trace, four stages, median", f"{statistics.median(totals):.2f} s", f"goal ≤{RUN_GOAL_S} s"
    )
    out.figure(
        "Start to the first comment (triage posted early), median",
        f"{statistics.median(comments):.2f} s; stages end at {statistics.median(stage_ends):.2f} s",
        "before the stages end",
    )
