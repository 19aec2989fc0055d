"""Against a passing run, end to end: tau-bench trials in files, LangSmith experiments through Prism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from langsmith.run_trees import RunTree

from benchmarks.divergence import oracle_record
from examples import agents
from refinery.cli import cli
from tests.conftest import SHARED
from tests.fakes.github_api import FakeGitHub
from tests.fakes.langsmith_api import FakeLangSmith
from tests.integration.test_action_run import action_env, first_pack, github, langsmith_inputs, pr_event, run_action

__all__ = ["github"]
TAU = SHARED / "datasets" / "real-traces" / "tau-bench" / "grok-3-airline-first24.json"


def tau_pair(tmp_path: Path, task: int) -> Path:
    """A failing tau-bench trial of ``task`` and a passing trial of the same task, in one results file."""
    import pytest

    if not TAU.is_file():
        pytest.skip(f"../shared is absent: no tau-bench file at {TAU} (set REFINERY_SHARED_DIR)")
    record = next(r for r in json.loads(TAU.read_text()) if r["task_id"] == task)
    path = tmp_path / f"task{task}.json"
    path.write_text(json.dumps([record, oracle_record(record)]))
    return path


def test_a_file_with_a_passing_trial_compares_against_it_without_being_asked(tmp_path: Path) -> None:
    path = tau_pair(tmp_path, 8)
    out = tmp_path / "out"
    done = CliRunner().invoke(cli, ["analyze", str(path), "--offline", "--out", str(out)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    # The failing trial is analysed (the passing one only as its baseline): one trace, written to out/.
    folder = out
    assert not list(out.glob("trace-*"))
    pack = json.loads((folder / "hypothesis-pack.json").read_text())
    baseline = pack["baseline"]
    # The passing trial is a repetition of the same task, found the same way by the CLI and the action.
    assert baseline["trace"] == "tau-bench-task8-trial100" and baseline["source"] == "repetition"
    divergence = baseline["divergence"]
    assert divergence["kind"] == "different_arguments" and divergence["section"] == "R0022"
    assert divergence["run_id"] and divergence["step"] == 7
    assert "exchange_delivered_order_items" in divergence["detail"] and '"8538875209"' in divergence["detail"]
    # The same divergence as a finding, a document and the report.
    triage = json.loads((folder / "triage.json").read_text())
    [finding] = [f for f in triage["findings"] if f["rule"] == "baseline_divergence"]
    assert finding["section"] == "R0022" and finding["category"] == "Goal Deviation"
    baseline_md = (folder / "documents" / "baseline.md").read_text()
    assert f"## {divergence['baseline_section']} · first divergence" in baseline_md
    assert "| → R0022 | exchange_delivered_order_items(" in baseline_md
    report = (folder / "report.md").read_text()
    assert "## Against the passing run" in report
    assert "**First divergence.** At step 7 (R0022) this run called exchange_delivered_order_items with " in report
    assert "(its step 6); order_id, payment_method_id were the same." in report
    # The table lists the headline's step first.
    rows = [line for line in report.split("## Against the passing run")[1].splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| **7 (R0022)** | different arguments")


def test_a_baseline_of_another_task_is_refused(tmp_path: Path) -> None:
    path = tau_pair(tmp_path, 8)
    other = tau_pair(tmp_path, 14)
    done = CliRunner().invoke(
        cli,
        ["analyze", str(path), "--offline", "--baseline-file", str(other)],
    )
    assert done.exit_code == 2 and "none is a passing run of the same example" in done.stderr
    done = CliRunner().invoke(
        cli,
        [
            *("analyze", str(path), "--offline", "--baseline-file", str(other)),
            *("--baseline-trace-id", "tau-bench-task14-trial100"),
        ],
    )
    assert done.exit_code == 2
    assert "ran another example (14) than the failing trace tau-bench-task8-trial0 (8)" in done.stderr


def _experiment_run(client: Any, project: str, example: str, calls: list[dict[str, Any]], score: float) -> str:
    """One repetition of ``example``, as the SDK posts it: the agent and its tool calls, then a score."""
    root = RunTree(
        name="refund_agent",
        run_type="chain",
        inputs={"question": "Refund order #9"},
        project_name=project,
        ls_client=client,
        reference_example_id=example,
    )
    root.post()
    for call in calls:
        child = root.create_child(name=call["name"], run_type="tool", inputs={"arguments": call["args"]})
        child.post()
        child.end(outputs={"output": "ok"})
        child.patch()
    root.end(outputs={"answer": "done"})
    root.patch()
    client.flush()
    session = client.read_project(project_name=project).id
    client.create_feedback(root.id, key="correctness", score=score, trace_id=root.id, session_id=session)
    return str(root.id)


GOOD = [{"name": "get_order", "args": {"id": 9}}, {"name": "refund", "args": {"id": 9, "amount": 120}}]
BAD = [{"name": "get_order", "args": {"id": 9}}, {"name": "refund", "args": {"id": 9, "amount": 12}}]


def test_a_flaky_example_is_compared_with_its_passing_repetition(
    github: FakeGitHub, fake_langsmith: FakeLangSmith, tmp_path: Path
) -> None:
    client = agents.sdk_client(fake_langsmith.direct_url, fake_langsmith.api_key)
    example = str(agents.new_id("refund-example"))
    runs = [
        _experiment_run(client, "refund-exp", example, calls, score)
        for calls, score in ((GOOD, 1), (BAD, 0), (GOOD, 1))
    ]
    env = action_env(
        tmp_path,
        github,
        "pull_request",
        pr_event(github.repo),
        **langsmith_inputs(fake_langsmith, experiment="refund-exp"),
    )
    code, log = run_action(env)
    assert code == 0, log
    body = github.comments_on(2)[0]["body"]
    assert "flaky: failed 1 of 3 repetitions" in body
    # One exact sentence, with both runs' positions and only the argument that differed.
    assert "against a passing run: At step 2 (R0002) this run called refund with amount=12; " in body
    assert "the passing run called it with amount=120 (its step 2); id was the same." in body
    assert "## Against the passing run" in body and 'refund({"amount":12,"id":9})' in body
    pack = first_pack(env)
    assert pack["trace"]["id"] == runs[1]
    assert pack["baseline"]["source"] == "repetition" and pack["baseline"]["trace"] in (runs[0], runs[2])
    assert pack["selection"]["flaky"] == "flaky: failed 1 of 3 repetitions"
    assert pack["groups"][0]["members"][0]["flaky"] == "flaky: failed 1 of 3 repetitions" if pack["groups"] else True


def test_the_base_branchs_experiment_gives_the_baseline(
    github: FakeGitHub, fake_langsmith: FakeLangSmith, tmp_path: Path
) -> None:
    client = agents.sdk_client(fake_langsmith.direct_url, fake_langsmith.api_key)
    example = str(agents.new_id("refund-example-2"))
    base = _experiment_run(client, "main-exp", example, GOOD, 1)
    _experiment_run(client, "main-exp", str(agents.new_id("other-example")), BAD, 1)  # another example: not it
    failing = _experiment_run(client, "pr-exp", example, BAD, 0)
    env = action_env(
        tmp_path,
        github,
        "pull_request",
        pr_event(github.repo),
        **langsmith_inputs(fake_langsmith, experiment="pr-exp", baseline_experiment="main-exp"),
    )
    code, log = run_action(env)
    assert code == 0, log
    pack = first_pack(env)
    assert pack["trace"]["id"] == failing
    assert pack["baseline"]["trace"] == base and pack["baseline"]["source"] == "baseline-experiment"
    assert pack["baseline"]["divergence"]["kind"] == "different_arguments"
    assert f"against passing run {base} (baseline-experiment)" in log
