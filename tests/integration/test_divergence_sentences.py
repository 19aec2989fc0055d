"""The first divergence in one exact sentence, on real tau-bench trials against a passing trial of the
same task (the task's expected actions replayed, as tau-bench writes a trial), and baselines refused
when they did not pass or ran another task."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchmarks.divergence import oracle_record
from refinery.cli import cli
from refinery.compare import compare_runs
from refinery.trace.files.tau_bench import load_tau_bench
from refinery.trace.model import Trace
from tests.conftest import SHARED

TAU = SHARED / "datasets" / "real-traces" / "tau-bench" / "grok-3-airline-first24.json"


def record(task: int) -> dict[str, Any]:
    if not TAU.is_file():
        pytest.skip(f"../shared is absent: no tau-bench file at {TAU} (set REFINERY_SHARED_DIR)")
    return copy.deepcopy(next(r for r in json.loads(TAU.read_text()) if r["task_id"] == task))


def sentence(failing: dict[str, Any], passing: dict[str, Any]) -> str:
    [here] = load_tau_bench([failing])
    [there] = load_tau_bench([passing])
    divergence = compare_runs(here, there, source="test").comparison.divergence
    assert divergence is not None
    assert "None" not in divergence.sentence
    return divergence.sentence


def test_other_arguments_name_only_what_differed_with_both_positions() -> None:
    failing = record(8)
    text = sentence(failing, oracle_record(failing))
    assert text.startswith("At step 7 (R0022) this run called exchange_delivered_order_items with item_ids=")
    assert '; the passing run called it with item_ids=["8384507844"]' in text
    assert text.endswith("(its step 6); order_id, payment_method_id were the same.")


def test_another_tool_names_both_calls_and_the_passing_runs_step() -> None:
    failing = record(15)
    text = sentence(failing, oracle_record(failing))
    assert text.startswith("At step 8 (R0020) this run called exchange_delivered_order_items(")
    assert "; the passing run called modify_pending_order_items(" in text and text.endswith("(its step 7).")


def test_a_call_the_passing_run_never_made() -> None:
    failing = record(19)
    passing = oracle_record(failing)
    text = sentence(failing, passing)
    assert text.startswith("This run called exchange_delivered_order_items(")
    assert text.endswith("at step 8 (R0021), which the passing run never did.")


def _truncated(failing: dict[str, Any], calls: int) -> dict[str, Any]:
    """The trial cut after its first ``calls`` tool calls (their results kept), then a final answer."""
    traj, seen = [], 0
    for message in failing["traj"]:
        if message.get("tool_calls"):
            if seen == calls:
                break
            seen += 1
        traj.append(message)
    return {**failing, "traj": [*traj, {"role": "assistant", "content": "I cannot do more."}]}


def test_a_run_that_stopped_calling_tools_says_where_and_what_the_passing_run_did_next() -> None:
    failing = record(8)
    passing = oracle_record(failing)
    text = sentence(_truncated(failing, 2), passing)
    assert text.startswith("After step 2 (R0006) this run stopped calling tools; the passing run went on with ")
    assert text.endswith("(its step 3).")


def test_a_run_with_no_tool_call_diverges_at_the_passing_runs_first_step_a_read_included() -> None:
    failing = record(8)
    passing = oracle_record(failing)
    text = sentence(_truncated(failing, 0), passing)
    first = passing["info"]["task"]["actions"][0]["name"]
    assert first.startswith(("find", "get"))  # a read: it counts because the run lacks the whole prefix
    assert text.startswith(f"This run made no tool call; the passing run began with {first}(")
    assert text.endswith("(its step 1).")


def _with_think(trial: dict[str, Any], thought: str, before: str) -> dict[str, Any]:
    """``trial`` with a think call (and its empty result) just before the first call to ``before``."""
    out = copy.deepcopy(trial)
    for index, message in enumerate(out["traj"]):
        names = [c["function"]["name"] for c in message.get("tool_calls") or []]
        if before in names:
            call = {"id": "think-1", "type": "function", "function": {"name": "think", "arguments": "{}"}}
            call["function"]["arguments"] = json.dumps({"thought": thought})
            out["traj"][index:index] = [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "think-1", "name": "think", "content": ""},
            ]
            return out
    raise AssertionError(f"no call to {before}")


def test_a_different_thought_before_the_wrong_write_is_not_the_divergence() -> None:
    failing = record(8)
    passing = oracle_record(failing)
    write = passing["info"]["task"]["actions"][-1]["name"]
    text = sentence(
        _with_think(failing, "Both items should be exchanged.", write),
        _with_think(passing, "Only the first item is to be exchanged.", write),
    )
    assert "think" not in text.split(";")[0] and text.startswith(f"At step 8 (R0024) this run called {write} with ")


def test_only_a_thought_differing_is_no_divergence() -> None:
    passing = oracle_record(record(8))
    write = passing["info"]["task"]["actions"][-1]["name"]
    [here] = load_tau_bench([_with_think(passing, "I will exchange it.", write)])
    [there] = load_tau_bench([_with_think(passing, "Exchanging the one item now.", write)])
    comparison = compare_runs(here, there, source="test").comparison
    assert comparison.differences and comparison.divergence is None


# -- baselines refused -----------------------------------------------------------------------------


def analyse(tmp_path: Path, failing: dict[str, Any], baseline: dict[str, Any] | list[Any]) -> Any:
    (tmp_path / "run.json").write_text(json.dumps([failing]))
    (tmp_path / "base.json").write_text(json.dumps(baseline))
    return CliRunner().invoke(
        cli,
        ["analyze", str(tmp_path / "run.json"), "--offline", "--baseline-file", str(tmp_path / "base.json")],
    )


def test_a_baseline_that_did_not_pass_is_refused_with_the_rule_it_failed(tmp_path: Path) -> None:
    failing = record(8)
    failed_trial = {**record(8), "trial": 5}  # the same task, and it failed too (r_actions 0)
    done = analyse(tmp_path, failing, [failed_trial])
    assert done.exit_code == 2
    assert "The baseline tau-bench-task8-trial5 failed: tau-bench r_actions 0 (a pass needs 1)" in done.stderr


def test_another_tasks_trace_as_baseline_is_refused(tmp_path: Path) -> None:
    failing = record(8)
    other = oracle_record(record(14))
    done = analyse(tmp_path, failing, [other])
    assert done.exit_code == 2
    assert "ran another example (14) than the failing trace tau-bench-task8-trial0 (8)" in done.stderr


def test_a_baseline_with_nothing_to_tell_the_task_by_is_refused() -> None:
    from refinery.compare import check_same_task, summarize
    from refinery.errors import ConfigError
    from refinery.trace.files.chat import load_chat

    def chat(trace_id: str, question: str) -> Trace:
        [trace] = load_chat({"id": trace_id, "messages": [{"role": "assistant", "content": question}]})
        return trace

    with pytest.raises(ConfigError) as refused:
        check_same_task(summarize(chat("math", "42")), summarize(chat("travel", "no fare found")))
    assert "share no example id, and math and travel record no inputs to compare" in refused.value.one_line()


def test_a_baseline_on_another_model_is_called_doubtful() -> None:
    from refinery.report.baseline import baseline_section

    failing = record(8)
    passing = oracle_record(failing)
    [here] = load_tau_bench([failing])
    [there] = load_tau_bench([passing])
    there = there.model_copy(
        update={"runs": [r.model_copy(update={"model": "gpt-4.1"}) if r.run_type == "llm" else r for r in there.runs]}
    )
    here = here.model_copy(
        update={"runs": [r.model_copy(update={"model": "grok-3"}) if r.run_type == "llm" else r for r in here.runs]}
    )
    text = "\n".join(baseline_section(compare_runs(here, there, source="test").comparison))
    assert "**A doubtful baseline:** it ran the same task on another model (this run used grok-3" in text
