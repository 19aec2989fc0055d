"""Every failure triaged and clustered, representatives analysed, the triage posted early, spend capped.

The action runs in-process against the fake GitHub and the fake OpenAI; the traces are the
bundled examples (recorded by the langsmith SDK), copied with fresh ids so that a run holds
several traces of one shape.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from refinery.analysis.cost import CostGuard
from refinery.analysis.orchestrator import analyze
from refinery.pipeline import prepare
from refinery.report.comment import build_comment
from refinery.trace.files import load_trace_file
from refinery.wiring import build_analysis_provider, load_settings
from tests.e2e.test_container import read_outputs
from tests.fakes.github_api import FakeGitHub
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.test_action_run import REPO, action_env, first_pack, github, model_inputs, pr_event, run_action

__all__ = ["github"]  # the fixture, shared with the action tests
SHAPES = {"rate-limit-cascade.json": 6, "wrong-answer.json": 4, "looping-agent.json": 2}


def copy_with_fresh_ids(example: str, copy: int) -> str:
    """The example with every run id replaced: the same failure, another trace."""
    text = (REPO / "examples" / example).read_text()
    data = json.loads(text)
    if example == "looping-agent.json":  # its test failed: pytest-langsmith records pass = 0
        data["feedback"] = [{"key": "pass", "score": 0, "run_id": data["runs"][0]["id"]}]
        text = json.dumps(data)
    ids = [run["id"] for run in data["runs"]]
    ids += [run["reference_example_id"] for run in data["runs"] if run.get("reference_example_id")]
    for old in ids:  # another example too: copies of one example would be its repetitions
        text = text.replace(old, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{example}/{copy}/{old}")))
    return text


def twelve_failures(workspace: Path) -> None:
    (workspace / "trace.json").unlink()
    for example, count in SHAPES.items():
        for copy in range(count):
            (workspace / f"{Path(example).stem}-{copy}.json").write_text(copy_with_fresh_ids(example, copy))


def test_twelve_failures_of_three_shapes_are_three_clusters_three_analyses_posted_early(
    github: FakeGitHub, tmp_path: Path
) -> None:
    with FakeOpenAI() as openai:
        openai.latency_s = 0.4  # a model that takes its time: the triage comment goes up meanwhile
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            trace_file="*.json",
            **model_inputs(openai),
        )
        twelve_failures(Path(env["GITHUB_WORKSPACE"]))
        code, log = run_action(env)
    assert code == 0, log
    # Twelve triaged (each has its artifacts), three analysed: one per cluster.
    artifacts = Path(env["GITHUB_WORKSPACE"]) / "refinery-artifacts"
    assert len(list(artifacts.glob("trace-*/triage.json"))) == 12
    assert len([r for r in openai.requests if r["method"] == "POST" and r["path"] == "/vector_stores"]) == 3
    assert read_outputs(tmp_path / "output")["traces-analyzed"] == "3"
    [comment] = github.comments_on(2)
    body = comment["body"]
    assert "**What broke** (12 failures, 3 clusters)" in body
    rows = [line.strip("| ").split(" | ") for line in body.splitlines() if re.match(r"^\| \d+ of 12 \|", line)]
    assert [int(row[0].split()[0]) for row in rows] == [6, 4, 2]  # largest first
    assert all(not row[2].startswith("triage only") for row in rows) and body.count("<details>") == 3
    assert all(row[3] != "—" for row in rows)  # each cluster names the members triage alone covered
    # Posted early: the triage comment went up before the stages ended, then was edited in place after.
    writes = [r for r in github.requests if r["method"] in ("POST", "PATCH") and "/comments" in r["path"]]
    assert [r["method"] for r in writes] == ["POST", "PATCH"]
    first, edit = writes
    assert "Diagnosis running" in first["body"]["body"] and "Diagnosis running" not in edit["body"]["body"]
    model = [r["at"] for r in openai.requests if r["path"].startswith("/responses")]
    assert first["at"] < max(model) and edit["at"] > max(model)
    # The check run started in progress with the triage, and was completed, not created twice.
    [check] = github.check_runs.values()
    assert check["status"] == "completed" and check["conclusion"] == "neutral"
    starts = [r for r in github.requests if r["method"] == "POST" and r["path"].endswith("/check-runs")]
    assert [s["body"]["status"] for s in starts] == ["in_progress"] and starts[0]["at"] < max(model)


def test_a_cost_cap_of_zero_runs_no_stage_and_says_so(github: FakeGitHub, tmp_path: Path) -> None:
    with FakeOpenAI() as openai:
        env = action_env(
            tmp_path,
            github,
            "pull_request",
            pr_event(github.repo),
            max_cost="0",
            **model_inputs(openai),
        )
        code, log = run_action(env)
    assert code == 0, log
    assert not [r for r in openai.requests if r["path"] == "/responses"]  # no stage was started
    body = github.comments_on(2)[0]["body"]
    assert "partial" in body and "max-cost $0.00" in body and "Stage trace_analysis was not started" in body
    pack = first_pack(env)
    assert pack["status"] == "partial" and [s["status"] for s in pack["stages"]] == ["skipped"] * 4
    assert any("max-cost $0.00" in w for w in pack["warnings"])


def test_the_cost_cap_stops_the_run_after_the_stage_that_fits(tmp_path: Path) -> None:
    prepared = prepare(load_trace_file(REPO / "examples" / "rate-limit-cascade.json"))
    with FakeOpenAI() as openai:
        settings = load_settings(
            {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
        )
        # Each stage's estimate and real cost on the fake, from a run without a cap: the cap below
        # admits the first two stages and refuses the third.
        estimates, costs = _estimates_and_costs(prepared, settings, openai)
        cap = max(estimates[0], costs[0] + estimates[1]) + 1e-6  # admits stages 1 and 2 …
        assert costs[0] + costs[1] + estimates[2] > cap  # … and not stage 3
        openai.reset()
        guard = CostGuard(cap)
        result = analyze(prepared, build_analysis_provider(settings), cost=guard)
    assert [s.status for s in result.stages] == ["ok", "ok", "skipped", "skipped"]
    assert result.status == "partial" and result.error is not None
    assert (
        "Stage diagnosis was not started" in result.error.one_line()
        and f"max-cost ${cap:.2f}" in result.error.one_line()
    )
    assert guard.spent <= cap
    body = build_comment([result], marker="<!-- t -->")
    assert "the model analysis stopped: Stage diagnosis was not started" in body


def _estimates_and_costs(prepared, settings, openai):  # type: ignore[no-untyped-def]
    """Each stage's estimate as the provider makes it and its real cost, from a run no cap limits."""
    seen: list[float] = []

    class Recording(CostGuard):
        def admit(self, stage, estimate):  # type: ignore[no-untyped-def]
            seen.append(estimate.usd)
            return super().admit(stage, estimate)

    result = analyze(prepared, build_analysis_provider(settings), cost=Recording(None))
    assert [s.status for s in result.stages] == ["ok"] * 4 and len(seen) == 4
    return seen, [s.cost_usd for s in result.stages]
