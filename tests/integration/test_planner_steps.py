"""The planner's steps as a user meets them: what is said when nothing fails, when one input is
broken, when a trace's analysis stops, when the run is cancelled; what each publisher gets and when;
which traces the model stages run on. The planner is built as the entry points build it
(``wiring.build_services``), on the example traces, with the model stages on the OpenAI fake; the
log and the publisher are the planner's own seams (``PlanLog``, ``Publisher``)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from refinery.analysis.control import Cancelled, RunControl
from refinery.analysis.pack import PackSelection
from refinery.analysis.providers.base import AnalysisProvider
from refinery.analysis.ratelimit import RateGate
from refinery.analysis.schemas import Synthesis
from refinery.documents.redact import Redactor
from refinery.errors import RefineryError
from refinery.github.reporter import one_line_summary
from refinery.pipeline import PrepareOptions
from refinery.planner.analyse import BatchOptions, Job, analyse_traces, path_slug, trace_dir_name, trace_tag
from refinery.planner.enrich import OptionalSteps, proposed_fixes, verify_deadline
from refinery.planner.request import BaselineRequest, RunRequest
from refinery.planner.run import Planner
from refinery.planner.services import ChangeReader
from refinery.planner.triage import pack_selection, plan_analysis, triage_each
from refinery.report.clusters import short_id
from refinery.report.publisher import RunReport
from refinery.trace.bounds import InputLimits
from refinery.trace.files import load_trace_files
from refinery.trace.model import Trace
from refinery.trace.source import SelectedTrace, SelectionCriteria
from refinery.wiring import RunOptions, build_analysis_provider, build_services, diff_reader, load_settings
from tests.fakes import openai_api as F
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.test_changes import AFTER, RULE, failing_trace, make_repo
from tests.integration.test_coverage import SHAPES, copy_with_fresh_ids
from tests.integration.test_model_fixes import synthesis_with_fixes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Log:
    """The planner's log, kept: what the action's log or the CLI's stderr would show."""

    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    hook: Callable[[str], None] | None = None
    """Called with each line as it is said (a signal arriving at that moment)."""

    def info(self, message: str) -> None:
        self.infos.append(message)
        if self.hook is not None:
            self.hook(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.groups.append(title)
        yield


@dataclass
class Recorder:
    """A publisher that keeps what it was given, and reports ``problems`` as its own failures."""

    problems: list[str] = field(default_factory=list)
    started: list[RunReport] = field(default_factory=list)
    finished: list[tuple[RunReport, float | None]] = field(default_factory=list)
    name: str = "recorder"

    def start(self, report: RunReport) -> None:
        self.started.append(report)

    def finish(self, report: RunReport, *, time_left: float | None = None) -> list[str]:
        self.finished.append((report, time_left))
        return list(self.problems)


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def model_env(openai: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}


def make_planner(
    root: Path,
    *files: str,
    env: dict[str, str] | None = None,
    publishers: tuple[Recorder, ...] = (),
    control: RunControl | None = None,
    settings: dict[str, Any] | None = None,
    **request: Any,
) -> tuple[Planner, Log]:
    loaded = load_settings(env or {}, settings or {})
    control = control or RunControl()
    services = replace(build_services(loaded, RunOptions(control=control)), publishers=publishers)
    run_request = RunRequest(
        out_dir=root / "out", files=files, root=root, now=datetime(2026, 1, 2, tzinfo=UTC), **request
    )
    log = Log()
    return Planner(run_request, loaded, services, control, log), log


def copy_examples(root: Path, shapes: dict[str, int]) -> list[str]:
    """Each example ``count`` times, each copy another trace of the same failure."""
    names = []
    for example, count in shapes.items():
        for copy in range(count):
            name = f"{Path(example).stem}-{copy}.json"
            (root / name).write_text(copy_with_fresh_ids(example, copy))
            names.append(name)
    return names


def passing_copy(root: Path, name: str = "passing.json") -> str:
    """The wrong-answer example, scored 1 by its evaluator: a trace that passed."""
    data = json.loads((EXAMPLES / "wrong-answer.json").read_text())
    for item in data["feedback"]:
        item["score"] = 1
    (root / name).write_text(json.dumps(data))
    return name


# -- nothing to analyse ------------------------------------------------------------------------


def test_a_file_whose_trace_passed_says_so_with_the_count_and_the_score_limit(tmp_path: Path) -> None:
    planner, log = make_planner(tmp_path, passing_copy(tmp_path), settings={"max_score": 0.25})
    state = planner.run()
    expected = (
        "No failing traces among the 1 trace read: none errored, and no feedback scored at or below 0.25. "
        "Use --all (action input `all-traces`) or --trace-id to analyse them anyway."
    )
    assert state.idle == expected and expected not in log.infos  # said once, by the entry point
    # The action's closing line and `summary` output give the reason, made shell-safe.
    assert one_line_summary(state.report("never")).startswith(
        "No failing traces among the 1 trace read: none errored, and no feedback scored at or below 0.25."
    )
    assert (state.read, state.failing) == (1, 0)
    assert state.errors == [] and state.plan is None
    assert state.report("never").idle == expected and state.report("never").counts.triaged == 0
    planner.finish()
    assert not (tmp_path / "out" / "report.md").exists(), "nothing analysed, nothing to report"


def test_a_project_with_no_failing_traces_is_named_with_its_start(tmp_path: Path) -> None:
    since = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    planner, _ = make_planner(tmp_path, project="evals", since=since)
    assert planner.nothing_to_do() == "No failing traces in 'evals' started since 2026-03-04T05:06:00+00:00."
    planner, _ = make_planner(tmp_path, project="evals")
    assert planner.nothing_to_do() == "No failing traces in 'evals'."
    # A project beside files: the files were read, so the count is what the user is told.
    planner, _ = make_planner(tmp_path, "a.json", project="evals")
    planner.state.read = 2
    assert planner.nothing_to_do().startswith("No failing traces among the 2 traces read")
    planner, _ = make_planner(tmp_path, "a.json")
    assert planner.nothing_to_do() == "No traces were read."


# -- inputs that cannot be read ----------------------------------------------------------------


def test_the_one_input_that_cannot_be_read_is_the_runs_error_said_once(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{ not json")
    planner, log = make_planner(tmp_path, "broken.json")
    state = planner.run()
    assert isinstance(state.fatal, RefineryError)
    assert state.errors == [state.fatal.one_line()] and "broken.json" in state.errors[0]
    assert not any(w.startswith("Not analysed") for w in log.warnings), "said once, as the run's error"


def test_a_broken_file_beside_a_good_one_is_named_and_the_other_analysed(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{ not json")
    good = copy_examples(tmp_path, {"wrong-answer.json": 1})
    planner, log = make_planner(tmp_path, "broken.json", *good)
    state = planner.run()
    assert state.fatal is None and state.unanalysed == 1
    [line] = [w for w in log.warnings if w.startswith("Not analysed: ")]
    assert "broken.json" in line and state.errors == [line.removeprefix("Not analysed: ")]
    assert state.notices == state.errors
    assert (state.read, state.failing) == (1, 1) and len(state.results) == 1
    report = state.report("never")
    assert report.errors == state.errors and report.counts.unanalysed == 1 and report.idle is None


# -- triage, clusters, representatives ---------------------------------------------------------


def test_twelve_failures_offline_three_clusters_two_representatives_every_trace_written(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, SHAPES)
    planner, log = make_planner(tmp_path, *names, settings={"max_traces": 2})
    state = planner.run()
    assert log.groups[:2] == ["Refinery: collecting traces", "Refinery: triaging 12 traces"]
    assert (
        "3 failure clusters; 2 representatives, largest cluster first (max-traces); the others are triaged only."
        in log.infos
    )
    assert "3 failure clusters; triage only (no model)" in log.infos
    assert log.groups[2] == "Refinery: analysing 2 traces, 2 at a time"
    assert state.plan is not None and [len(g.trace_ids) for g in state.plan.groups] == [6, 4, 2]
    assert len(state.results) == 2 and (state.read, state.failing) == (12, 12)
    folders = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(folders) == 12 and all(f.startswith("trace-") for f in folders), "the others' triage is written too"
    generated = {
        json.loads((tmp_path / "out" / f / "hypothesis-pack.json").read_text())["generated_at"][:10] for f in folders
    }
    assert generated == {"2026-01-02"}, "the triage-only traces' packs carry the request's time too"
    numbers = sorted(int(f.split("-")[1]) for f in folders)
    assert numbers == list(range(1, 13)), "each folder numbered by the trace's place in the run"
    planner.finish()
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.splitlines()[0] == "<!-- refinery:sticky refinery||report -->"
    assert "**12 of 12 traces failed.** Leading cause: " in report, "the run knows how many it read"
    assert "| 6 of 12 |" in report and "| 2 of 12 |" in report
    final = planner.state.report(planner.settings.fail_on)
    assert (final.counts.read, final.counts.failing, final.counts.triaged, final.counts.analysed) == (12, 12, 12, 2)
    assert len(final.pack_paths) == 2 and all(p.is_file() for p in final.pack_paths)


def test_one_trace_run_flat_writes_straight_into_the_output_and_no_grouped_report(tmp_path: Path) -> None:
    [name] = copy_examples(tmp_path, {"wrong-answer.json": 1})
    planner, log = make_planner(tmp_path, name, flat=True)
    planner.run()
    own = (tmp_path / "out" / "report.md").read_text()
    planner.finish()
    out = tmp_path / "out"
    assert (out / "report.md").read_text() == own, "the trace's own report, not a grouped one over it"
    assert (out / "hypothesis-pack.json").is_file() and not list(out.glob("trace-*"))
    assert "report.md" in {p.name for p in out.iterdir()}, "the trace's own report"
    assert "failure cluster" not in (out / "report.md").read_text(), "not the grouped report over it"
    assert log.groups[-1] == "Refinery: analysing 1 trace, 1 at a time"


def test_flat_is_ignored_when_the_run_holds_several_traces(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    planner, _ = make_planner(tmp_path, *names, flat=True)
    planner.run()
    planner.finish()
    out = tmp_path / "out"
    assert len(list(out.glob("trace-*/hypothesis-pack.json"))) == 2 and (out / "report.md").is_file()
    assert not (out / "hypothesis-pack.json").exists()


# -- publishers --------------------------------------------------------------------------------


def test_offline_the_publishers_get_the_result_once_at_the_end(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})
    recorder = Recorder(problems=["recorder: the comment could not be posted"])
    planner, _ = make_planner(tmp_path, *names, publishers=(recorder,), settings={"fail_on": "finding"})
    planner.run()
    assert recorder.started == [] and recorder.finished == []
    planner.finish()
    [(report, time_left)] = recorder.finished
    assert time_left is None and report.running is None and len(report.items) == 1
    assert report.fail_on == "finding" and report.conclusion() == "failure"
    assert planner.state.errors == ["recorder: the comment could not be posted"], "a publisher's failure is an error"


def test_with_a_model_the_triage_goes_out_first_then_the_diagnosis(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    names = copy_examples(tmp_path, {"wrong-answer.json": 2, "rate-limit-cascade.json": 1})
    recorder = Recorder()
    planner, log = make_planner(
        tmp_path, *names, env=model_env(openai), publishers=(recorder,), settings={"fail_on": "error"}
    )
    state = planner.run()
    [early] = recorder.started
    assert early.fail_on == "error" and early.counts.triaged == 3 and early.counts.analysed == 2
    assert early.running == (
        "Diagnosis running: the model stages are analysing 2 representative traces; "
        "this comment is edited when they end."
    )
    assert [r.status for r in early.items] == ["offline", "offline"], "the triage, before any stage"
    assert all(r.selection is not None and r.selection.verdict == "failed" for r in early.items)
    assert "2 failure clusters; the model stages run on 2 representatives" in log.infos
    assert recorder.finished == [] and len(state.results) == 2
    assert all(r.status == "complete" for r in state.results), [r.status for r in state.results]
    planner.finish()
    [(final, _)] = recorder.finished
    assert final.running is None and [r.status for r in final.items] == ["complete", "complete"]


def test_a_trace_whose_stages_fail_keeps_its_triage_and_says_why(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    openai.script(F.http_error(400, "invalid_request_error", "the model refused the request"))
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})
    planner, log = make_planner(tmp_path, *names, env=model_env(openai))
    state = planner.run()
    [result] = state.results
    assert result.error is not None and state.unanalysed == 0
    [error] = state.errors
    assert error.startswith(f"trace {result.prepared.trace.id} (math_agent): ") and "refused" in error
    assert any("the model analysis failed; its triage is posted instead" in w for w in log.warnings)


def test_a_provider_that_cannot_be_built_leaves_the_trace_unanalysed_and_named(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})

    def broken() -> Any:
        raise RefineryError("no such model")

    def buggy() -> Any:
        raise KeyError("a bug")

    for factory, suffix in ((broken, ""), (buggy, "; please report it.")):
        planner, log = make_planner(tmp_path, *names, env={"OPENAI_API_KEY": "sk-test-0123456789abcdefghij"})
        planner.services = replace(planner.services, make_provider=factory)
        state = planner.run()
        assert state.results == [] and state.unanalysed == 1
        [warning] = [w for w in log.warnings if "could not be analysed" in w]
        assert warning.startswith("trace ") and "(math_agent) could not be analysed: " in warning
        assert warning.endswith(suffix) and (suffix or warning.endswith("could not be analysed: no such model"))
        [error] = state.errors
        assert error.startswith("trace ") and "(math_agent): " in error and not error.endswith("report it.")


# -- cancellation ------------------------------------------------------------------------------


def test_a_cancelled_run_leads_with_the_cancellation_and_gives_publishers_the_time_left(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    (tmp_path / "broken.json").write_text("[")
    recorder = Recorder()
    control = RunControl()
    planner, log = make_planner(tmp_path, *names, "broken.json", publishers=(recorder,), control=control)
    planner.run()

    def delete_store() -> list[str]:
        raise RuntimeError("the store API answered 503")

    control.own("vector store vs_1", delete_store)
    control.cancel("SIGTERM")
    planner.finish(cancel_budget_s=30.0)
    note = "The run was cancelled (SIGTERM): the triage is complete, the model stages are not."
    assert planner.state.notices[0] == note and planner.state.cancelled == note and note in log.warnings
    assert "broken.json" in planner.state.notices[1], "the cancellation leads, what came before follows"
    assert "Could not delete vector store vs_1: RuntimeError: the store API answered 503" in log.warnings
    [(report, time_left)] = recorder.finished
    assert report.cancelled == note and report.notices[0] == note
    assert time_left is not None and 25.0 < time_left <= 30.0
    assert note in (tmp_path / "out" / "report.md").read_text()


def test_a_run_cancelled_once_the_traces_are_read_says_how_many_were_triaged(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 2})
    control = RunControl()
    planner, log = make_planner(tmp_path, *names, control=control)
    log.hook = lambda line: control.cancel("SIGTERM") if "3 failing" in line else None
    state = planner.run()
    assert state.plan is not None and state.plan.triaged == []
    assert state.notices == [
        "Cancelled during the triage: 0 of 3 traces were triaged; the others are not in this report."
    ]
    assert state.results == [] and not (tmp_path / "out").exists()


# -- triage: which traces the model stages run on ----------------------------------------------


def read_traces(root: Path, names: list[str]) -> list[Trace]:
    return [t for name in names for t in load_trace_files(str(root / name), "auto", InputLimits())]


def test_representatives_are_the_largest_clusters_then_the_traces_named_that_did_not_fail(tmp_path: Path) -> None:
    traces = read_traces(tmp_path, [*copy_examples(tmp_path, SHAPES), passing_copy(tmp_path)])
    passed = traces[-1]
    selections = {
        t.id: SelectedTrace(trace_id=t.id, name=t.root.name, verdict="passed" if t is passed else "failed")
        for t in traces
    }
    lines: list[str] = []
    plan = plan_analysis(traces, options=PrepareOptions(), selections=selections, max_traces=4, log=lines.append)
    assert lines == [], "every cluster has its representative"
    assert [g.count for g in plan.groups] == [6, 4, 2]
    assert [r.trace.id for r in plan.representatives[:3]] == [g.trace_ids[0] for g in plan.groups]
    assert plan.representatives[3].trace.id == passed.id, "named although it passed: analysed after the clusters"
    chosen = {r.trace.id for r in plan.representatives}
    assert len(plan.others) == 13 - 4 and not {t.trace.id for t in plan.others} & chosen
    for group in plan.groups:
        assert [m.analysed for m in group.members] == [True] + [False] * (group.count - 1)
        assert passed.id not in group.trace_ids, "a trace that passed is in no cluster of failures"
    plan = plan_analysis(traces, options=PrepareOptions(), selections=selections, max_traces=3, log=lines.append)
    assert lines == [] and len(plan.representatives) == 3, "as many clusters as max-traces: nothing left out"
    plan = plan_analysis(traces, options=PrepareOptions(), selections=selections, max_traces=1, log=lines.append)
    assert lines == [
        "3 failure clusters; 1 representative, largest cluster first (max-traces); the others are triaged only."
    ]
    assert [r.trace.id for r in plan.representatives] == [plan.groups[0].trace_ids[0]]
    assert [any(m.analysed for m in g.members) for g in plan.groups] == [True, False, False]


def test_a_trace_whose_triage_fails_is_named_and_the_others_keep_their_place(tmp_path: Path) -> None:
    traces = read_traces(tmp_path, copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 2}))
    for problem, expected in (
        (RefineryError("the trace holds a string too large to redact"), "the trace holds a string too large"),
        (ValueError("unexpected\n   value"), "internal error ValueError: unexpected"),
    ):
        calls: list[int] = []

        def first_trace_fails(error: Exception = problem, calls: list[int] = calls) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise error

        triaged, failures = triage_each(traces, PrepareOptions(checkpoint=first_trace_fails), {})
        [failure] = failures
        assert failure.startswith(f"trace {traces[0].id} (math_agent): ") and expected in failure
        assert [t.number for t in triaged] == [2, 3] and [t.trace.id for t in triaged] == [t.id for t in traces[1:]]


def test_a_cancellation_during_the_triage_keeps_the_traces_triaged_before_it(tmp_path: Path) -> None:
    traces = read_traces(tmp_path, copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 2}))
    done: list[str] = []

    def cancel_in_the_second_trace() -> None:  # the redaction checks the run once per trace here
        done.append("x")
        if len(done) == 2:
            raise Cancelled("The run was cancelled (SIGTERM).")

    triaged, failures = triage_each(traces, PrepareOptions(checkpoint=cancel_in_the_second_trace), {})
    assert failures == [] and [t.trace.id for t in triaged] == [traces[0].id]
    assert len(done) == 2, "the third trace is not started"


def test_why_a_trace_was_chosen_is_redacted_like_the_trace() -> None:
    key = "sk-proj-" + "Z9y8X7w6V5u4T3s2R1q0" * 2
    selected = SelectedTrace(
        trace_id="t1",
        name="agent",
        reasons=[f"error: 401 for key {key}", "correctness 0"],
        verdict="failed",
        example_id="ex-1",
        repetitions=3,
        failed_trace_ids=["t1", "t2"],
        passed_trace_ids=["t3"],
    )
    shown = pack_selection(selected, Redactor())
    assert shown is not None and key not in " ".join(shown.reasons) and shown.reasons[1] == "correctness 0"
    assert (shown.verdict, shown.example_id, shown.repetitions, shown.failed_repetitions) == ("failed", "ex-1", 3, 2)
    assert shown.flaky == "flaky: failed 2 of 3 repetitions" and shown.passed_trace_ids == ["t3"]
    assert pack_selection(None) is None
    assert pack_selection(selected) is not None and pack_selection(selected).reasons[0].endswith(key)  # type: ignore[union-attr]


# -- optional steps ----------------------------------------------------------------------------


def test_an_optional_step_that_fails_is_one_named_warning_and_the_run_goes_on() -> None:
    said: list[str] = []
    steps = OptionalSteps(said.append)
    assert steps.run("the baseline", lambda: 7, baseline=True) == 7 and said == [] and steps.warnings == []

    def refused() -> None:
        raise RefineryError("the passing run is of another task")

    def bug() -> None:
        raise KeyError("x " * 400 + "\n\n  end")

    assert steps.run("trace t1: analysed without a passing run", refused, baseline=True) is None
    assert steps.run("trace t1: no fix proposed", bug) is None
    assert said == steps.warnings
    assert said[0] == "trace t1: analysed without a passing run: the passing run is of another task"
    assert said[1].startswith("trace t1: no fix proposed: internal error KeyError: 'x x x")
    assert "\n" not in said[1] and len(said[1].split("KeyError: ", 1)[1]) == 300
    assert steps.run("trace t2: analysed without a passing run", bug, baseline=True) is None
    assert [str(e) for e in steps.baseline_refusals] == ["the passing run is of another task"], "a bug is no refusal"


def test_the_verification_deadline_is_the_budget_or_each_run_of_one_fix_and_its_control() -> None:
    before = time.monotonic()
    budget = verify_deadline(load_settings({}, {"verify_budget": 100, "verify_runs": 3, "verify_timeout": 60}))
    assert before + 100 <= budget <= time.monotonic() + 100
    derived = verify_deadline(load_settings({}, {"verify_runs": 3, "verify_timeout": 60}))
    assert before + 360 <= derived <= time.monotonic() + 360


def test_the_models_fixes_carry_the_hypothesis_they_implement() -> None:
    assert proposed_fixes(None) == []
    synthesis = Synthesis.model_validate(synthesis_with_fixes())
    synthesis.fixes[1].hypothesis_id = "H9"
    first, second = proposed_fixes(synthesis)
    assert first.hypothesis == "H1: Tighten the fare rule"
    assert second.hypothesis == "H9: a hypothesis of the synthesis"
    assert (first.path, first.start_line, first.end_line) == (
        "prompts/agent.md",
        2,
        2,
    ) or first.path == "prompts/agent.md"
    assert first.original == synthesis.fixes[0].original and first.replacement == synthesis.fixes[0].replacement
    assert (second.start_line, second.end_line) == (2, 2)


# -- the batch: each trace on its own ----------------------------------------------------------


def jobs_of(root: Path, shapes: dict[str, int]) -> list[Job]:
    traces = read_traces(root, copy_examples(root, shapes))
    triaged, _ = triage_each(traces, PrepareOptions(), {})
    return [Job(t.prepared, None, t.number) for t in triaged]


def test_a_batch_comes_back_in_order_each_trace_in_its_own_folder(tmp_path: Path) -> None:
    jobs = jobs_of(tmp_path, {"wrong-answer.json": 2, "rate-limit-cascade.json": 1})
    lines: list[str] = []
    outcomes = analyse_traces(
        jobs, BatchOptions(out_dir=tmp_path / "out", concurrency=2), make_provider=None, log=lines.append
    )
    assert [o.index for o in outcomes] == [1, 2, 3] and [o.trace.id for o in outcomes] == [j.trace.id for j in jobs]
    for outcome, job in zip(outcomes, jobs, strict=True):
        assert outcome.error is None and not outcome.cancelled and outcome.artifacts is not None
        assert outcome.artifacts.out_dir == tmp_path / "out" / trace_dir_name(job.number, job.trace)
    assert sorted(line.split("]")[0] for line in lines) == sorted(
        f"[{o.index}/3 {short_id(o.trace.id)}" for o in outcomes
    )
    assert all(" done: offline: " in line for line in lines)
    assert trace_tag(2, 5, jobs[0].trace) == f"[2/5 {short_id(jobs[0].trace.id)}]"


def test_a_cancelled_batch_writes_each_traces_triage_with_the_cancellation(tmp_path: Path) -> None:
    jobs = jobs_of(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    chosen = PackSelection(reasons=["correctness 0"], verdict="failed", example_id="ex-7")
    jobs = [replace(job, selection=chosen) for job in jobs]
    control = RunControl()
    control.cancel("SIGTERM")
    when = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    options = BatchOptions(out_dir=tmp_path / "out", grace_s=0.0, now=when)
    outcomes = analyse_traces(jobs, options, make_provider=None, log=print, control=control)
    assert [(o.index, o.trace.id) for o in outcomes] == [(1, jobs[0].trace.id), (2, jobs[1].trace.id)]
    for outcome in outcomes:
        assert outcome.cancelled and outcome.error == (
            f"The run was cancelled (SIGTERM) before the model stages of trace {outcome.trace.id}."
        )
        assert outcome.result is not None and outcome.artifacts is not None and outcome.artifacts.pack.is_file()
        assert outcome.result.error is not None and outcome.result.error.one_line() == outcome.error
        assert (
            outcome.result.warnings[-1] == f"{outcome.error} The triage is complete; the model stages did not finish."
        )
        pack = json.loads(outcome.artifacts.pack.read_text())
        assert pack["generated_at"].startswith("2026-05-06T07:08:09") and pack["selection"]["example_id"] == "ex-7"


def test_one_trace_whose_analysis_crashes_never_sinks_the_others(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    jobs = jobs_of(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    settings = load_settings(model_env(openai))
    made: list[int] = []

    def second_is_broken() -> AnalysisProvider:
        made.append(1)
        if len(made) == 2:
            raise RefineryError("the provider refused the model")
        return build_analysis_provider(settings, gate=RateGate())

    outcomes = analyse_traces(
        jobs, BatchOptions(out_dir=tmp_path / "out", concurrency=1), make_provider=second_is_broken, log=print
    )
    assert outcomes[0].result is not None and outcomes[0].result.status == "complete"
    assert [o.index for o in outcomes] == [1, 2]
    assert outcomes[1].result is None and outcomes[1].error == "the provider refused the model"
    assert isinstance(outcomes[1].exception, RefineryError) and not outcomes[1].internal


# -- the state the publishers see --------------------------------------------------------------


def test_the_conclusion_follows_fail_on_and_what_was_found(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})
    planner, _ = make_planner(tmp_path, *names)
    state = planner.run()
    assert state.results[0].prepared.triage.findings
    assert [state.conclusion(f) for f in ("never", "error", "finding")] == ["neutral", "neutral", "failure"]
    state.fail("trace x: could not be read")
    assert [state.conclusion(f) for f in ("never", "error", "finding")] == ["neutral", "failure", "failure"]
    assert state.report("never").passed_only is False


def test_a_run_of_traces_that_all_passed_is_reported_as_such(tmp_path: Path) -> None:
    planner, _ = make_planner(tmp_path, passing_copy(tmp_path), settings={"all_traces": True})
    planner.request = replace(planner.request, trace_ids=())
    state = planner.run()
    report = state.report("never")
    assert len(report.items) == 1, state.idle
    assert report.passed_only is True and report.counts.analysed == 1


# -- the pull request's changes, the fixes and their verification -----------------------------


def refund_checkout(root: Path) -> tuple[Path, ChangeReader]:
    """The refund scenario of ``test_changes``: the pull request took the confirmation rule out, the
    agent refunded without confirming; the trace file sits in the checkout."""
    repo, base, head = make_repo(root)
    (repo / "failing.json").write_text(failing_trace(AFTER).model_dump_json())
    reader = diff_reader(None, f"{base}..{head}", repo)
    assert reader is not None
    return repo, reader


def refund_checkout_with_model_fixes(root: Path, openai: FakeOpenAI) -> tuple[Path, ChangeReader]:
    """The refund checkout, and a model whose synthesis proposes two fixes besides the revert fix:
    one that applies (the fare rule) and one whose lines the checkout does not hold."""
    openai.reset()
    openai.script(F.Step("auto"), F.Step("auto"), F.Step("auto"), F.reply(synthesis_with_fixes()))
    return refund_checkout(root)


def with_changes(planner: Planner, reader: ChangeReader) -> Planner:
    planner.services = replace(planner.services, read_changes=reader)
    return planner


def test_the_suspect_and_the_revert_fix_are_verified_with_the_users_eval(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    # The trace ran no dataset example: the eval is told so (an empty id), not given a made-up one.
    command = f'test -z "$REFINERY_EXAMPLE_ID" && grep -qF "{RULE}" prompts/agent.md'
    verify = {"verify_command": command, "verify_runs": 1, "verify_timeout": 30}
    planner, log = make_planner(repo, "failing.json", settings=verify)
    state = with_changes(planner, reader).run()
    [result] = state.results
    trace = result.prepared.trace.id
    top = result.prepared.top_suspect
    assert top is not None and top.path == "prompts/agent.md"
    assert f"trace {trace}: likely from prompts/agent.md L{top.start_line}-L{top.end_line} ({top.change_id}, " in (
        "\n".join(log.infos)
    )
    assert not any("likely from" in w for w in log.warnings), "what the trace got is information, not a warning"
    [fix] = result.prepared.fixes
    assert fix.verification is not None and fix.verification.verdict == "verified"
    assert f"trace {trace}: fix verified: it passes 1 of 1, 0 of 1 without" in log.infos
    assert state.warnings == [] and state.errors == []


def test_fixes_are_not_verified_where_the_request_refuses_it_and_the_run_says_why(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    verify = {"verify_command": "false", "verify_runs": 1}
    planner, log = make_planner(
        repo, "failing.json", settings=verify, verify_refused="the pull request comes from a fork"
    )
    state = with_changes(planner, reader).run()
    assert "The fixes were not verified: the pull request comes from a fork." in log.warnings
    [result] = state.results
    assert result.prepared.fixes and all(f.verification is None for f in result.prepared.fixes)


def test_changes_that_cannot_be_read_are_a_warning_and_the_trace_is_analysed(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})
    planner, log = make_planner(tmp_path, *names)

    def unreadable() -> None:
        raise RefineryError("git diff: unknown revision 'main..feature'")

    state = with_changes(planner, unreadable).run()
    expected = "The pull request's changes could not be read: git diff: unknown revision 'main..feature'"
    assert state.warnings == [expected] and expected in log.warnings
    assert len(state.results) == 1 and state.errors == [], "a warning, not an error of the run"
    assert planner.steps.baseline_refusals == [] and expected in state.report("never").notices


def test_the_models_fixes_are_checked_against_the_checkout_verified_and_written_with_the_trace(
    tmp_path: Path, openai: FakeOpenAI
) -> None:
    repo, reader = refund_checkout_with_model_fixes(tmp_path, openai)
    verify = {"verify_command": f'grep -qF "{RULE}" prompts/agent.md', "verify_runs": 1, "verify_timeout": 30}
    planner, _ = make_planner(repo, "failing.json", env=model_env(openai), flat=True, settings=verify)
    state = with_changes(planner, reader).run()
    [result] = state.results
    by_hypothesis = {f.hypothesis.split(":")[0]: f for f in result.prepared.fixes}
    assert by_hypothesis["H1"].hypothesis == "H1: Tighten the fare rule"
    assert by_hypothesis["H1"].in_diff, "its lines are in the pull request's diff: it can be suggested there"
    assert "H2" not in by_hypothesis, "its lines are not what the checkout holds"
    assert any("A line the prompt does not hold." in n or "H2" in n for n in result.prepared.fix_notes)
    # Each fix verified on its own: the revert fix passes the eval, the fare rule does not.
    verdicts = {f.hypothesis.split(":")[0]: f.verification.verdict for f in result.prepared.fixes if f.verification}
    assert verdicts["H1"] == "refuted" and list(verdicts.values()).count("verified") == 1, verdicts
    pack = json.loads((repo / "out" / "hypothesis-pack.json").read_text())
    written = [(f["hypothesis"], (f["verification"] or {}).get("verdict")) for f in pack["fixes"]]
    assert written == [(f.hypothesis, f.verification and f.verification.verdict) for f in result.prepared.fixes]


def test_the_users_eval_is_told_which_trace_failed_and_its_secret_never_comes_back(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    trace = failing_trace(AFTER)
    trace.metadata["reference_example_id"] = "ex-refund-1"  # the dataset example it ran
    (repo / "failing.json").write_text(trace.model_dump_json())
    seen = tmp_path / "seen.txt"
    key = "lsv2_pt_" + "0f1e2d3c4b5a69788796a5b4c3d2e1f0" + "_a1b2c3d4e5"
    # The eval records what it was told, prints the configured key (as a leaky eval would) and fails.
    command = (
        f'printf "%s|%s|" "$REFINERY_EXAMPLE_ID" "$REFINERY_TRACE_ID" >> {seen}; cat "$REFINERY_INPUTS" >> {seen}; '
        f'echo >> {seen}; echo "calling the API with {key}"; exit 1'
    )
    verify = {"verify_command": command, "verify_runs": 1, "verify_timeout": 30}
    planner, _ = make_planner(repo, "failing.json", env={"LANGSMITH_API_KEY": key}, settings=verify)
    state = with_changes(planner, reader).run()
    [result] = state.results
    [fix] = result.prepared.fixes
    assert fix.verification is not None and fix.verification.verdict == "refuted"
    assert "calling the API with" in fix.verification.note and key not in fix.verification.note
    lines = seen.read_text().splitlines()
    assert lines == [f"ex-refund-1|{result.prepared.trace.id}|" + json.dumps(result.prepared.trace.root.inputs)] * 2
    assert key not in json.dumps(json.loads((repo / "out" / "trace-1-r000" / "hypothesis-pack.json").read_text()))


def test_with_a_results_file_the_eval_passes_by_its_traces_not_its_exit_code(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    failing = repo / "failing.json"
    passing = tmp_path / "passing.json"
    data = json.loads(failing.read_text())
    data["feedback"][0]["score"] = 1
    passing.write_text(json.dumps(data))
    # The eval exits 1 however it went (as pytest does when some other test fails); its results say.
    command = (
        f'if grep -qF "{RULE}" prompts/agent.md; then cp {passing} out.json; else cp {failing} out.json; fi; exit 1'
    )
    verify = {"verify_command": command, "verify_runs": 1, "verify_results_file": "out.json"}
    planner, _ = make_planner(repo, "failing.json", settings=verify)
    [result] = with_changes(planner, reader).run().results
    [fix] = result.prepared.fixes
    assert fix.verification is not None and fix.verification.sentence == "passes 1 of 1, 0 of 1 without"


def test_verification_stops_at_the_runs_budget_and_says_so(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    verify = {"verify_command": "sleep 20", "verify_runs": 2, "verify_timeout": 60, "verify_budget": 1}
    planner, _ = make_planner(repo, "failing.json", settings=verify)
    started = time.monotonic()
    [result] = with_changes(planner, reader).run().results
    assert time.monotonic() - started < 15, "the budget, not each run's timeout"
    [fix] = result.prepared.fixes
    assert fix.verification is not None and fix.verification.verdict == "inconclusive"
    assert "time ran out" in fix.verification.note


def test_inputs_that_all_fail_are_listed_in_a_report_even_where_its_folder_is_not_made_yet(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text("{ not json")
    planner, _ = make_planner(tmp_path, "a.json", "b.json")
    planner.request = replace(planner.request, out_dir=tmp_path / "deep" / "er" / "out")
    state = planner.run()
    assert state.fatal is None and state.unanalysed == 2 and state.report("never").counts.triaged == 0
    planner.finish()
    report = (tmp_path / "deep" / "er" / "out" / "report.md").read_text()
    assert "a.json" in report and "b.json" in report


def test_merged_packs_are_reported_and_concluded_like_the_traces_they_came_from(tmp_path: Path) -> None:
    for number, example in enumerate(("wrong-answer.json", "rate-limit-cascade.json")):
        job = tmp_path / f"job{number}"
        job.mkdir()
        [name] = copy_examples(job, {example: 1})
        planner, _ = make_planner(job, name)
        planner.run()
        planner.finish()
    planner, log = make_planner(tmp_path, settings={"fail_on": "finding"})
    planner.merge(["job*/out/**/hypothesis-pack.json"], tmp_path)
    assert log.groups == ["Refinery: merging packs"] and log.infos == ["2 packs to merge"]
    state = planner.state
    assert len(state.entries) == 2
    report = state.report("finding")
    assert len(report.items) == 2 and report.passed_only is False
    assert state.conclusion("finding") == "failure" and state.conclusion("never") == "neutral"


def test_a_merged_pack_of_a_trace_that_passed_is_reported_as_passed(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    planner, _ = make_planner(job, passing_copy(job), settings={"all_traces": True})
    planner.run()
    planner.finish()
    planner, _ = make_planner(tmp_path)
    planner.merge(["job/out/**/hypothesis-pack.json"], tmp_path)
    assert planner.state.report("never").passed_only is True


def test_the_verification_budget_is_shared_by_the_revert_fix_and_the_models_fixes(
    tmp_path: Path, openai: FakeOpenAI
) -> None:
    repo, reader = refund_checkout_with_model_fixes(tmp_path, openai)
    verify = {"verify_command": "sleep 20", "verify_runs": 1, "verify_timeout": 60, "verify_budget": 1}
    planner, _ = make_planner(repo, "failing.json", env=model_env(openai), settings=verify)
    [result] = with_changes(planner, reader).run().results
    model_fix = next(f for f in result.prepared.fixes if f.hypothesis.startswith("H1"))
    assert model_fix.verification is not None
    assert (model_fix.verification.runs, model_fix.verification.control_runs) == (0, 0), "no time was left for it"


# -- where the passing run comes from ----------------------------------------------------------


def wrong_answer_pair(root: Path) -> tuple[str, str, dict[str, Any]]:
    """The wrong-answer example (failing) and a passing run of the same example: other run ids, the
    same dataset example, scored 1. Returns the two file names and the passing trace's data."""
    failing = json.loads((EXAMPLES / "wrong-answer.json").read_text())
    text = (EXAMPLES / "wrong-answer.json").read_text()
    for run in failing["runs"]:
        text = text.replace(run["id"], str(uuid.uuid5(uuid.NAMESPACE_URL, "passing/" + run["id"])))
    passing = json.loads(text)
    for item in passing["feedback"]:
        item["score"] = 1
    (root / "failing.json").write_text(json.dumps(failing))
    (root / "passing.json").write_text(json.dumps(passing))
    return "failing.json", "passing.json", passing


@dataclass
class PoolSource:
    """A trace source over traces in memory (the ``TraceSource`` interface the planner uses), keeping
    what it was asked."""

    traces: list[Trace]
    selected: list[SelectedTrace] = field(default_factory=list)
    asked: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fetch_trace(self, trace_id: str) -> Trace:
        self.asked.append(("fetch", trace_id))
        for trace in self.traces:
            if trace.id == trace_id or any(r.id == trace_id for r in trace.runs):
                return trace
        raise RefineryError(f"no trace {trace_id}")

    def fetch_raw(self, trace_id: str) -> Any:
        raise NotImplementedError

    def select_failing(self, criteria: SelectionCriteria) -> list[SelectedTrace]:
        self.asked.append(("select", str(criteria.max_score)))
        return self.selected

    def find_passing_run(self, experiment: str, example_id: str, criteria: SelectionCriteria) -> str | None:
        self.asked.append(("passing", experiment, example_id, str(criteria.max_score)))
        return self.traces[0].id if self.traces else None


def with_source(planner: Planner, source: PoolSource) -> list[tuple[str | None, bool | None]]:
    opened: list[tuple[str | None, bool | None]] = []

    def sources(project: str | None = None, *, experiment: bool | None = None) -> PoolSource:
        opened.append((project, experiment))
        return source

    planner.services = replace(planner.services, sources=sources)
    return opened


def compared_with(state: Any) -> tuple[str, str]:
    [result] = state.results
    comparison = result.prepared.comparison
    assert comparison is not None, state.warnings
    return comparison.trace, comparison.source


def test_a_passing_run_of_the_same_example_in_the_files_read_is_the_baseline(tmp_path: Path) -> None:
    failing, passing, data = wrong_answer_pair(tmp_path)
    planner, log = make_planner(tmp_path, failing, passing)
    state = planner.run()
    passing_id = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    trace, source = compared_with(state)
    assert (trace, source) == (passing_id, "repetition"), "a passing repetition of the failing example"
    assert any(
        line.startswith(f"trace {state.results[0].prepared.trace.id}: against passing run {passing_id} (")
        for line in log.infos
    )
    assert state.warnings == []


def test_a_baseline_file_named_is_read_and_compared_with(tmp_path: Path) -> None:
    failing, passing, data = wrong_answer_pair(tmp_path)
    planner, _ = make_planner(tmp_path, failing, baseline=BaselineRequest(file=str(tmp_path / passing)))
    state = planner.run()
    passing_id = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    assert compared_with(state) == (passing_id, "baseline-file") and state.warnings == []


def test_a_baseline_named_by_any_of_its_run_ids_is_found_among_the_files_read(tmp_path: Path) -> None:
    failing, passing, data = wrong_answer_pair(tmp_path)
    root = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    child = next(r["id"] for r in data["runs"] if r.get("parent_run_id"))
    planner, _ = make_planner(tmp_path, failing, passing, baseline=BaselineRequest(trace_id=child))
    opened = with_source(planner, PoolSource([]))
    state = planner.run()
    assert compared_with(state) == (root, "baseline-trace-id") and opened == [], "found without LangSmith"


def test_a_baseline_id_not_among_the_files_is_fetched_and_a_refused_one_is_a_warning(tmp_path: Path) -> None:
    failing, passing, data = wrong_answer_pair(tmp_path)
    root = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    planner, _ = make_planner(tmp_path, failing, baseline=BaselineRequest(trace_id=root))
    source = PoolSource(load_trace_files(str(tmp_path / passing), "auto", InputLimits()))
    with_source(planner, source)
    state = planner.run()
    assert compared_with(state) == (root, "baseline-trace-id") and source.asked == [("fetch", root)]
    # The failing run named as its own baseline: refused (it did not pass), and analysed without one.
    own = next(r["id"] for r in json.loads((tmp_path / failing).read_text())["runs"] if not r.get("parent_run_id"))
    planner, log = make_planner(tmp_path, failing, baseline=BaselineRequest(trace_id=own))
    state = planner.run()
    [warning] = state.warnings
    assert (
        warning.startswith(f"trace {own}: analysed without a passing run to compare with: ") and warning in log.warnings
    )
    assert state.results[0].prepared.comparison is None and len(planner.steps.baseline_refusals) == 1


def test_the_base_branchs_experiment_is_asked_for_a_passing_run_of_the_same_example(tmp_path: Path) -> None:
    failing, passing, data = wrong_answer_pair(tmp_path)
    root = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    example = next(r["reference_example_id"] for r in data["runs"] if r.get("reference_example_id"))
    planner, _ = make_planner(
        tmp_path, failing, baseline=BaselineRequest(experiment="main-branch"), settings={"max_score": 0.3}
    )
    source = PoolSource(load_trace_files(str(tmp_path / passing), "auto", InputLimits()))
    opened = with_source(planner, source)
    state = planner.run()
    assert compared_with(state) == (root, "baseline-experiment")
    assert opened == [("main-branch", True)]
    assert source.asked == [("passing", "main-branch", example, "0.3"), ("fetch", root)]


def test_a_trace_named_by_id_is_compared_with_its_passing_twin_from_the_same_files(tmp_path: Path) -> None:
    failing, passing, data = wrong_answer_pair(tmp_path)
    own = next(r["id"] for r in json.loads((tmp_path / failing).read_text())["runs"] if not r.get("parent_run_id"))
    passing_id = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    planner, log = make_planner(tmp_path, failing, passing, trace_ids=(own,), settings={"max_score": 0.0})
    state = planner.run()
    assert compared_with(state) == (passing_id, "file") and state.warnings == []
    assert f"trace {own}: against passing run {passing_id} (file): " in "\n".join(log.infos)
    # At a max-score it does not meet, the twin did not pass: no baseline, and nothing to warn about.
    planner, _ = make_planner(tmp_path, failing, passing, trace_ids=(own,), settings={"max_score": 1.0})
    state = planner.run()
    assert state.results[0].prepared.comparison is None and state.warnings == []


def test_a_baseline_of_another_task_is_refused_and_the_changes_still_ranked_and_fixed(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    _, passing, data = wrong_answer_pair(tmp_path)
    other = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    request = BaselineRequest(file=str(tmp_path / passing))
    planner, log = make_planner(repo, "failing.json", baseline=request)
    [result] = with_changes(planner, reader).run().results
    [warning] = planner.state.warnings
    assert warning.startswith(f"trace r000: analysed without the passing run {other}: ") and warning in log.warnings
    assert result.prepared.comparison is None
    assert result.prepared.top_suspect is not None and result.prepared.fixes, "the changes count without it"
    assert len(planner.steps.baseline_refusals) == 1
    # Without changes, the refused baseline leaves the trace as the triage made it.
    planner, _ = make_planner(repo, "failing.json", baseline=request)
    [result] = planner.run().results
    assert len(planner.state.warnings) == 1 and result.prepared.suspects == [] and result.prepared.fixes == []


def test_changes_that_touch_nothing_the_trace_used_give_no_suspect_and_no_fix_warning(tmp_path: Path) -> None:
    repo, base, head = make_repo(tmp_path, touch_prompt=False)
    (repo / "failing.json").write_text(failing_trace(AFTER).model_dump_json())
    reader = diff_reader(None, f"{base}..{head}", repo)
    assert reader is not None
    planner, log = make_planner(repo, "failing.json")
    [result] = with_changes(planner, reader).run().results
    assert result.prepared.top_suspect is None and result.prepared.fixes == []
    assert planner.state.warnings == [] and not any("likely from" in line for line in log.infos)


def test_a_checkout_verification_cannot_use_is_a_warning_and_the_fix_is_still_offered(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\necho 'this checkout refuses new worktrees' >&2\nexit 1\n")
    hook.chmod(0o755)
    verify = {"verify_command": "true", "verify_runs": 1}
    planner, log = make_planner(repo, "failing.json", settings=verify)
    [result] = with_changes(planner, reader).run().results
    [warning] = planner.state.warnings
    assert (
        warning.startswith("trace r000: the fix was not verified: Cannot make a worktree of ")
        and warning in log.warnings
    )
    assert planner.steps.baseline_refusals == []
    [fix] = result.prepared.fixes
    assert fix.verification is None, "offered, unverified"


def test_a_trace_folder_keeps_an_id_of_up_to_32_characters_whole_and_cuts_a_longer_one_to_12() -> None:
    assert path_slug("a" * 32) == "a" * 32
    assert path_slug("b" * 33) == "b" * 12
    assert path_slug("Xray/../Trial_7//") == "Xray-Trial_7", "capitals, digits, _ and - kept; the rest one -"
    assert path_slug("/..-x-..") == "x" and path_slug("///") == "trace"
    assert path_slug("X" * 40) == "X" * 12
    assert path_slug("0123456789a-/cdef" + "z" * 20) == "0123456789a", "never ending on a dash"


def test_a_worker_that_finished_writing_when_the_run_was_cancelled_keeps_its_own_artifacts(tmp_path: Path) -> None:
    [job] = jobs_of(tmp_path, {"wrong-answer.json": 1})
    control = RunControl()
    release = threading.Event()

    def cancel_once_written(line: str) -> None:  # SIGTERM arrives as the worker says it is done
        if " done: " in line:
            control.cancel("SIGTERM")
            release.wait(10)

    options = BatchOptions(out_dir=tmp_path / "out", grace_s=0.0)
    try:
        [outcome] = analyse_traces([job], options, make_provider=None, log=cancel_once_written, control=control)
    finally:
        release.set()
    assert (outcome.index, outcome.trace.id, outcome.cancelled) == (1, job.trace.id, True)
    assert outcome.error == "The run was cancelled (SIGTERM)." and outcome.result is None
    pack = json.loads((tmp_path / "out" / trace_dir_name(1, job.trace) / "hypothesis-pack.json").read_text())
    assert pack["status"] == "offline", "the worker's own artifacts, not the cancellation's"


def test_a_baseline_file_larger_than_the_input_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    failing, passing, _ = wrong_answer_pair(tmp_path)
    text = (tmp_path / passing).read_text()
    for size, refused in ((1024 * 1024, False), (1024 * 1024 + 1, True)):
        (tmp_path / passing).write_text(text + " " * (size - len(text.encode())))
        assert (tmp_path / passing).stat().st_size == size
        request = BaselineRequest(file=str(tmp_path / passing))
        planner, _ = make_planner(tmp_path, failing, baseline=request, settings={"max_input_mb": 1})
        state = planner.run()
        assert (state.results[0].prepared.comparison is None) is refused, (size, state.warnings)
        assert bool(state.warnings) is refused and (not refused or "1 MB" in state.warnings[0]), state.warnings


def test_each_run_of_the_eval_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    repo, reader = refund_checkout(tmp_path)
    verify = {"verify_command": "sleep 3", "verify_runs": 1, "verify_timeout": 1}
    planner, _ = make_planner(repo, "failing.json", settings=verify)
    [result] = with_changes(planner, reader).run().results
    [fix] = result.prepared.fixes
    assert fix.verification is not None and fix.verification.sentence == "passes 0 of 1, 0 of 1 without"
    assert all(d < 2.5 for d in fix.verification.durations), fix.verification.durations


def test_an_experiments_flaky_example_is_compared_with_its_passing_repetition_fetched_by_id(tmp_path: Path) -> None:
    failing, passing, _data = wrong_answer_pair(tmp_path)
    traces = [t for name in (failing, passing) for t in load_trace_files(str(tmp_path / name), "auto", InputLimits())]
    bad, good = traces
    flaky = SelectedTrace(
        trace_id=bad.id,
        name=bad.root.name,
        reasons=["correctness 0"],
        example_id="ex-1",
        repetitions=2,
        failed_trace_ids=[bad.id],
        passed_trace_ids=[good.id],
    )
    source = PoolSource(traces, selected=[flaky])
    planner, _log = make_planner(tmp_path, project="evals", experiment=True)
    opened = with_source(planner, source)
    state = planner.run()
    assert opened[0] == ("evals", True) and source.asked[0] == ("select", "0.5")
    assert compared_with(state) == (good.id, "repetition")
    assert source.asked[1:] == [("fetch", bad.id), ("fetch", good.id)], "the repetition fetched once, by its id"
    assert (
        state.results[0].selection is not None
        and state.results[0].selection.flaky == "flaky: failed 1 of 2 repetitions"
    )


# -- what the planner hands the batch, and what the model's fixes get --------------------------


def test_the_traces_stages_run_one_trace_at_a_time_at_concurrency_1(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    openai.latency_s = 0.02  # a model that takes its time: two workers would interleave their lines
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    planner, log = make_planner(tmp_path, *names, env=model_env(openai), settings={"concurrency": 1})
    state = planner.run()
    tagged = [line.split()[0] for line in log.infos if line.startswith("[")]
    assert tagged == sorted(tagged) and len(set(tagged)) == 2, "every line of the first trace before the second's"
    assert all(r.status == "complete" for r in state.results)
    pack = json.loads(state.outcomes[0].artifacts.pack.read_text())  # type: ignore[union-attr]
    assert pack["generated_at"].startswith("2026-01-02"), "the request's time (SOURCE_DATE_EPOCH)"


def test_the_runs_cost_cap_holds_every_traces_stages(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    planner, _ = make_planner(tmp_path, *names, env=model_env(openai), settings={"max_cost": 0})
    state = planner.run()
    assert [r.status for r in state.results] == ["partial", "partial"]
    assert all("would take this run past max-cost $0.00" in line for line in state.errors), state.errors
    assert openai.response_bodies() == [], "no stage was sent"


def test_a_cancellation_during_the_stages_reaches_the_traces_being_analysed(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})
    control = RunControl()
    planner, log = make_planner(tmp_path, *names, env=model_env(openai), control=control)
    log.hook = lambda line: control.cancel("SIGTERM") if "stage 1/4" in line else None
    state = planner.run()
    [result] = state.results
    assert result.status != "complete" and result.error is not None and "cancelled (SIGTERM)" in result.error.one_line()
    assert state.errors == [], "a cancellation is the run's notice, not a trace's error"


def test_a_vector_store_made_beforehand_is_used_and_kept(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    client = OpenAI(base_url=openai.url + "/v1", api_key=openai.api_key)
    store = client.vector_stores.create(name="made by refinery init")
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})
    planner, _ = make_planner(tmp_path, *names, env=model_env(openai), store_id=store.id)
    [result] = planner.run().results
    assert result.status == "complete" and list(openai.stores) == [store.id], "no store made, none deleted"
    searched = [
        tool["vector_store_ids"]
        for body in openai.response_bodies()
        for tool in body.get("tools", [])
        if tool.get("type") == "file_search"
    ]
    assert searched and all(ids == [store.id] for ids in searched)


def test_the_models_fixes_of_the_second_trace_are_checked_after_a_first_with_none(
    tmp_path: Path, openai: FakeOpenAI
) -> None:
    openai.reset()
    repo, reader = refund_checkout(tmp_path)
    copy_examples(repo, {"rate-limit-cascade.json": 1})
    # Concurrency 1: the first trace (the larger run) takes the first four answers, with no fix.
    openai.script(*[F.Step("auto")] * 7, F.reply(synthesis_with_fixes()))
    planner, _ = make_planner(
        repo, "failing.json", "rate-limit-cascade-0.json", env=model_env(openai), settings={"concurrency": 1}
    )
    state = with_changes(planner, reader).run()
    by_trace = {r.prepared.trace.id: r for r in state.results}
    assert [o.trace.id for o in state.outcomes][1] == "r000", "the refund trace is analysed second"
    assert any(f.hypothesis.startswith("H1") for f in by_trace["r000"].prepared.fixes)
    assert state.warnings == []


def test_the_models_fixes_without_a_verify_command_are_offered_unverified(tmp_path: Path, openai: FakeOpenAI) -> None:
    repo, reader = refund_checkout_with_model_fixes(tmp_path, openai)
    planner, _ = make_planner(repo, "failing.json", env=model_env(openai))
    [result] = with_changes(planner, reader).run().results
    assert any(f.hypothesis.startswith("H1") for f in result.prepared.fixes)
    assert all(f.verification is None for f in result.prepared.fixes) and planner.state.warnings == []


def test_the_models_fixes_are_verified_when_no_revert_fix_was(tmp_path: Path, openai: FakeOpenAI) -> None:
    repo, _ = refund_checkout_with_model_fixes(tmp_path, openai)
    trace = failing_trace(AFTER)
    trace.metadata["reference_example_id"] = "ex-refund-1"
    (repo / "failing.json").write_text(trace.model_dump_json())
    seen = tmp_path / "seen.txt"
    command = f'echo "$REFINERY_EXAMPLE_ID" >> {seen}; grep -qF "{RULE}" prompts/agent.md'
    verify = {"verify_command": command, "verify_runs": 1}
    planner, _ = make_planner(repo, "failing.json", env=model_env(openai), settings=verify, flat=True)
    [result] = planner.run().results  # no pull request's changes: no revert fix, only the model's
    [fix] = [f for f in result.prepared.fixes if f.hypothesis.startswith("H1")]
    assert fix.verification is not None and fix.verification.verdict == "refuted"
    assert seen.read_text().split() == ["ex-refund-1", "ex-refund-1"]
    pack = json.loads((repo / "out" / "hypothesis-pack.json").read_text())
    assert pack["generated_at"].startswith("2026-01-02") and pack["fixes"][0]["verification"]["verdict"] == "refuted"


def test_a_checkout_that_refuses_worktrees_leaves_the_models_fixes_unverified_with_a_warning(
    tmp_path: Path, openai: FakeOpenAI
) -> None:
    repo, reader = refund_checkout_with_model_fixes(tmp_path, openai)
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    planner, _ = make_planner(repo, "failing.json", env=model_env(openai), settings={"verify_command": "true"})
    [result] = with_changes(planner, reader).run().results
    assert [w.split(": Cannot make a worktree")[0] for w in planner.state.warnings] == [
        "trace r000: the fix was not verified",
        "trace r000: the model's fixes were not verified",
    ]
    assert all(f.verification is None for f in result.prepared.fixes) and len(result.prepared.fixes) == 2


def test_a_failing_provider_for_the_first_trace_leaves_the_second_analysed(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    planner, log = make_planner(tmp_path, *names, env=model_env(openai), settings={"concurrency": 1})
    made: list[int] = []
    real = planner.services.make_provider
    assert real is not None

    def first_fails() -> AnalysisProvider:
        made.append(1)
        if len(made) == 1:
            raise RefineryError("no such model")
        return real()

    planner.services = replace(planner.services, make_provider=first_fails)
    state = planner.run()
    first = state.outcomes[0].trace
    assert f"trace {first.id} ({first.root.name}) could not be analysed: no such model" in log.warnings
    assert [r.prepared.trace.id for r in state.results] == [state.outcomes[1].trace.id]


def test_the_runs_own_redaction_patterns_apply_to_the_baseline_and_the_diff(tmp_path: Path) -> None:
    failing, passing, data = wrong_answer_pair(tmp_path)
    root = next(r for r in data["runs"] if not r.get("parent_run_id"))
    root["outputs"] = {**(root.get("outputs") or {}), "ticket": "filed as ACME-1234"}
    (tmp_path / passing).write_text(json.dumps(data))
    diff = tmp_path / "pr.diff"
    diff.write_text(
        "diff --git a/prompts/math.md b/prompts/math.md\n--- a/prompts/math.md\n+++ b/prompts/math.md\n"
        "@@ -1,2 +1,1 @@\n You compute percentages.\n-Escalate to ACME-5678 when a percentage is asked.\n"
    )
    planner, _ = make_planner(tmp_path, failing, passing)
    planner.request = replace(planner.request, prepare=PrepareOptions(redact_patterns=(r"ACME-\d{4}",)))
    reader = diff_reader(str(diff), None, tmp_path)
    assert reader is not None
    [result] = with_changes(planner, reader).run().results
    assert result.prepared.comparison is not None and result.prepared.suspects
    written = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "ACME-1234" not in written and "ACME-5678" not in written
    assert result.prepared.redaction_counts, "what enrichment added was redacted and counted"


def test_a_baseline_file_of_several_traces_gives_the_one_named_else_the_passing_twin(tmp_path: Path) -> None:
    failing, _, data = wrong_answer_pair(tmp_path)
    older = json.loads(json.dumps(data))
    text = json.dumps(older)
    for run in older["runs"]:
        text = text.replace(run["id"], str(uuid.uuid5(uuid.NAMESPACE_URL, "older/" + run["id"])))
    older = json.loads(text)
    for run in older["runs"]:
        run["start_time"] = "2020-01-01T00:00:00Z"
        run["end_time"] = "2020-01-01T00:00:01Z"
    both = tmp_path / "baselines.json"  # one export of two traces (two roots)
    both.write_text(
        json.dumps({**data, "runs": data["runs"] + older["runs"], "feedback": data["feedback"] + older["feedback"]})
    )
    newer_id = next(r["id"] for r in data["runs"] if not r.get("parent_run_id"))
    older_id = next(r["id"] for r in older["runs"] if not r.get("parent_run_id"))
    for request, expected in (
        (BaselineRequest(file=str(both), trace_id=older_id), older_id),
        (BaselineRequest(file=str(both)), newer_id),
    ):
        planner, _ = make_planner(tmp_path, failing, baseline=request)
        state = planner.run()
        assert compared_with(state) == (expected, "baseline-file"), state.warnings


def test_a_trace_whose_triage_fails_is_listed_in_the_plan(tmp_path: Path) -> None:
    traces = read_traces(tmp_path, copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1}))
    calls: list[int] = []

    def first_fails() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RefineryError("too large to redact")

    plan = plan_analysis(traces, options=PrepareOptions(checkpoint=first_fails), selections={}, max_traces=3)
    assert plan.failures == [f"trace {traces[0].id} (math_agent): too large to redact"]
    assert [t.trace.id for t in plan.triaged] == [traces[1].id]


def test_a_cancellation_as_the_triage_ends_publishes_the_triage_and_runs_no_stage(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    control = RunControl()
    recorder = Recorder()
    planner, log = make_planner(tmp_path, *names, control=control, publishers=(recorder,), settings={"max_traces": 1})
    log.hook = lambda line: control.cancel("SIGTERM") if "(max-traces)" in line else None
    state = planner.run()
    assert state.plan is not None and len(state.plan.triaged) == 2
    assert state.notices == [], "every trace was triaged: no 'cancelled during the triage' notice"
    assert state.results == [] and recorder.started == []
    planner.finish()
    [(report, _)] = recorder.finished
    assert report.cancelled is not None and report.counts.triaged == 2


def test_why_a_trace_was_chosen_is_redacted_in_its_pack(tmp_path: Path) -> None:
    key = "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0" * 2
    data = json.loads((EXAMPLES / "wrong-answer.json").read_text())
    data["feedback"][0]["comment"] = f"the agent printed the key {key}"
    (tmp_path / "leaky.json").write_text(json.dumps(data))
    planner, _ = make_planner(tmp_path, "leaky.json")
    [result] = planner.run().results
    assert result.selection is not None and any("the agent printed the key" in r for r in result.selection.reasons)
    written = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert key not in written and key not in " ".join(result.selection.reasons)


def test_a_bug_in_one_traces_analysis_is_named_as_refinerys_own_in_one_line(tmp_path: Path) -> None:
    jobs = jobs_of(tmp_path, {"wrong-answer.json": 1})

    def buggy() -> AnalysisProvider:
        raise ValueError("line one\n   line two " + "x" * 400)

    [outcome] = analyse_traces(jobs, BatchOptions(out_dir=tmp_path / "out"), make_provider=buggy, log=print)
    assert outcome.index == 1 and outcome.internal and isinstance(outcome.exception, ValueError)
    assert outcome.error is not None and outcome.error.startswith("internal error ValueError: line one line two xxx")
    assert len(outcome.error) == len("internal error ValueError: ") + 300 and outcome.result is None


def test_a_run_cancelled_before_it_starts_reads_nothing_and_says_so(tmp_path: Path) -> None:
    names = copy_examples(tmp_path, {"wrong-answer.json": 1})
    control = RunControl()
    control.cancel("SIGTERM")
    planner, log = make_planner(tmp_path, *names, control=control)
    state = planner.run()
    expected = "The run was cancelled (SIGTERM) before it started."
    assert state.cancelled == expected and log.warnings == [expected]
    assert state.read == 0 and state.fatal is None and state.errors == []


def test_a_cancellation_between_two_traces_stops_the_second_before_its_stages(
    tmp_path: Path, openai: FakeOpenAI
) -> None:
    openai.reset()
    names = copy_examples(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    control = RunControl()
    planner, log = make_planner(tmp_path, *names, env=model_env(openai), control=control, settings={"concurrency": 1})
    log.hook = lambda line: control.cancel("SIGTERM") if " done: " in line else None
    state = planner.run()
    first, second = state.outcomes
    assert first.result is not None and first.result.status == "complete"
    assert second.cancelled and second.error == (
        f"The run was cancelled (SIGTERM) before the model stages of trace {second.trace.id}."
    )


def test_a_cancelled_batch_waits_no_longer_than_its_grace_and_writes_the_triage_of_traces_not_started(
    tmp_path: Path,
) -> None:
    jobs = jobs_of(tmp_path, {"wrong-answer.json": 1, "rate-limit-cascade.json": 1})
    control = RunControl()
    release = threading.Event()

    def stuck_after_the_first(line: str) -> None:  # SIGTERM as the first trace ends; its worker hangs
        if " done: " in line:
            control.cancel("SIGTERM")
            release.wait(10)

    when = datetime(2026, 5, 6, tzinfo=UTC)
    options = BatchOptions(out_dir=tmp_path / "out", concurrency=1, grace_s=0.0, now=when)
    started = time.monotonic()
    try:
        first, second = analyse_traces(jobs, options, make_provider=None, log=stuck_after_the_first, control=control)
    finally:
        release.set()
    assert time.monotonic() - started < 0.8, "the grace is the budget: a stuck worker is left behind"
    assert first.result is None and first.error == "The run was cancelled (SIGTERM)."
    assert second.cancelled and second.result is not None and second.artifacts is not None
    assert second.artifacts.out_dir == tmp_path / "out" / trace_dir_name(jobs[1].number, jobs[1].trace)
    pack = json.loads(second.artifacts.pack.read_text())
    assert pack["trace"]["id"] == jobs[1].trace.id and pack["generated_at"].startswith("2026-05-06")
    own = json.loads(
        (tmp_path / "out" / trace_dir_name(jobs[0].number, jobs[0].trace) / "hypothesis-pack.json").read_text()
    )
    assert own["trace"]["id"] == jobs[0].trace.id and own["status"] == "offline" and not own.get("error")


def test_the_runs_own_redaction_patterns_apply_to_a_diff_ranked_without_a_baseline(tmp_path: Path) -> None:
    data = json.loads((EXAMPLES / "wrong-answer.json").read_text())
    (tmp_path / "failing.json").write_text(json.dumps(data))
    diff = tmp_path / "pr.diff"
    diff.write_text(
        "diff --git a/prompts/math.md b/prompts/math.md\n--- a/prompts/math.md\n+++ b/prompts/math.md\n"
        "@@ -1,2 +1,1 @@\n You compute percentages.\n-Escalate to ACME-5678 when a percentage is asked.\n"
    )
    planner, _ = make_planner(tmp_path, "failing.json")
    planner.request = replace(planner.request, prepare=PrepareOptions(redact_patterns=(r"ACME-\d{4}",)))
    reader = diff_reader(str(diff), None, tmp_path)
    assert reader is not None
    [result] = with_changes(planner, reader).run().results
    assert result.prepared.comparison is None and result.prepared.suspects
    written = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "ACME-5678" not in written and "Escalate to" in written


def test_each_traces_analysis_watches_the_run_between_its_stages(tmp_path: Path, openai: FakeOpenAI) -> None:
    openai.reset()
    [job] = jobs_of(tmp_path, {"wrong-answer.json": 1})
    control = RunControl()
    # A provider that does not watch the run itself: the batch's own checks between stages must stop it.
    settings = load_settings(model_env(openai))

    def unwatched() -> AnalysisProvider:
        return build_analysis_provider(settings, gate=RateGate())

    def cancel_in_the_first_stage(line: str) -> None:
        if "stage 1/4" in line:
            control.cancel("SIGTERM")

    options = BatchOptions(out_dir=tmp_path / "out")
    [outcome] = analyse_traces([job], options, make_provider=unwatched, log=cancel_in_the_first_stage, control=control)
    assert outcome.result is not None and outcome.result.status == "partial" and outcome.cancelled
    assert outcome.error == "The run was cancelled (SIGTERM) before stage 2/4 gap_analysis."
