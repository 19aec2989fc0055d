"""Choosing what to analyse from LangSmith, as the user of `refinery analyze` sees it: a project's failing
traces and why each was chosen, ids fetched by name whatever their verdict, an experiment's flaky
example, the cap on what is read, and the passing repetition a baseline is taken from. The real
langsmith SDK posts the runs and reads them back from the fake LangSmith API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from langsmith.run_trees import RunTree

from examples import agents
from refinery.cli import cli
from refinery.errors import SourceError, TraceFetchError
from refinery.trace.source import SelectionCriteria
from refinery.wiring import build_langsmith_source, load_settings
from tests.fakes.langsmith_api import FakeLangSmith


def analyze(fake: FakeLangSmith, out: Path, *args: str) -> Result:
    env = {"LANGSMITH_API_KEY": fake.api_key, "LANGSMITH_ENDPOINT": fake.url}
    return CliRunner().invoke(cli, ["analyze", "--offline", "--out", str(out), *args], env=env, catch_exceptions=False)


def chosen(out: Path) -> dict[str, tuple[str, list[str]]]:
    """Each analysed trace's id, with its verdict and the reasons it was chosen, from its pack."""
    packs = [json.loads(p.read_text()) for p in out.glob("**/hypothesis-pack.json")]
    return {p["trace"]["id"]: (p["selection"]["verdict"], p["selection"]["reasons"]) for p in packs}


def sdk(fake: FakeLangSmith) -> Any:
    """The langsmith SDK's client, writing to the fake as an instrumented agent does."""
    return agents.sdk_client(fake.direct_url, fake.api_key)


def scored_root(
    client: Any, project: str, example: str, key: str, score: float | None, *, error: str | None = None
) -> str:
    """One repetition of an example as an evaluator leaves it: a root run and its score."""
    root = RunTree(
        name="rep", run_type="chain", inputs={}, project_name=project, ls_client=client, reference_example_id=example
    )
    root.post()
    root.end(outputs={"a": 1}, error=error)
    root.patch()
    client.flush()
    if score is not None:
        session = client.read_project(project_name=project).id
        client.create_feedback(root.id, key=key, score=score, trace_id=root.id, session_id=session)
    return str(root.id)


def test_a_projects_failing_traces_are_fetched_and_each_says_why_it_was_chosen(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path
) -> None:
    done = analyze(fake_langsmith, tmp_path, "--project", agents.PROJECT, "--since", "2h")
    assert done.exit_code == 0, done.output
    packs = chosen(tmp_path)
    assert set(packs) == {recorded["wrong_answer"], recorded["rate_limited"]}  # the looping run passed
    assert packs[recorded["wrong_answer"]] == ("failed", ["feedback correctness=0 ≤ 0.5"])
    verdict, [reason] = packs[recorded["rate_limited"]]
    assert verdict == "failed" and reason.startswith("error: ToolError('HTTP 429")
    assert "2 traces triaged, 2 failing of 2 read" in done.stdout
    log = done.stderr.splitlines()
    assert log[0].startswith(f"selecting failing traces of {agents.PROJECT!r} started since 20")
    assert f"selected {recorded['wrong_answer']}: feedback correctness=0 ≤ 0.5" in log
    assert log.index(f"selected {recorded['wrong_answer']}: feedback correctness=0 ≤ 0.5") == 1  # newest first


def test_max_select_on_a_project_keeps_the_newest_failure(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path
) -> None:
    done = analyze(fake_langsmith, tmp_path, "--project", agents.PROJECT, "--max-select", "1")
    assert done.exit_code == 0, done.output
    assert list(chosen(tmp_path)) == [recorded["wrong_answer"]]
    assert done.stderr.splitlines()[0] == f"selecting failing traces of {agents.PROJECT!r}"  # no window given


def test_ids_named_are_fetched_whatever_their_verdict_and_counted(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path
) -> None:
    ids = ("--trace-id", recorded["looping"], "--trace-id", recorded["wrong_answer"])
    done = analyze(fake_langsmith, tmp_path / "both", *ids)
    assert done.exit_code == 0, done.output
    packs = chosen(tmp_path / "both")
    verdict, [reason] = packs[recorded["wrong_answer"]]
    # Read whole, the trace's feedback comment says what was expected.
    assert verdict == "failed" and reason.startswith("feedback correctness=0 ≤ 0.5 (Expected 397.8")
    assert packs[recorded["looping"]][0] == "unknown"  # no error, and nobody scored it
    # Nothing says the loop failed: its origin is said on that condition, never as "the failure".
    [loop_report] = [
        p.with_name("report.md")
        for p in (tmp_path / "both").glob("**/hypothesis-pack.json")
        if json.loads(p.read_text())["trace"]["id"] == recorded["looping"]
    ]
    summary = next(line for line in loop_report.read_text().splitlines() if line.startswith("**Summary.**"))
    assert "If this run failed, the failure most likely starts at **R0005** `lookup_booking`" in summary
    assert "2 traces triaged, 1 failing of 2 read" in done.stdout

    capped = analyze(fake_langsmith, tmp_path / "one", *ids, "--max-select", "1")
    assert list(chosen(tmp_path / "one")) == [recorded["looping"]]  # the first named, no other fetched
    assert "[1/1 " in capped.stderr
    assert "if this run failed, the failure most likely starts at R0005 lookup_booking" in capped.stdout
    fetched = {p.split("/runs/")[1] for m, p, _ in fake_langsmith.requests if m == "GET" and p.startswith("/runs/")}
    assert recorded["rate_limited"] not in fetched


def test_an_id_langsmith_does_not_have_is_named_and_the_others_are_analysed(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path
) -> None:
    missing = "00000000-0000-4000-8000-00000000abcd"
    done = analyze(fake_langsmith, tmp_path, "--trace-id", missing, "--trace-id", recorded["wrong_answer"])
    assert list(chosen(tmp_path)) == [recorded["wrong_answer"]]
    assert missing in done.output and "no such run" in done.output


def test_an_experiments_flaky_example_is_chosen_once_and_said_flaky(
    fake_langsmith: FakeLangSmith, tmp_path: Path
) -> None:
    client = sdk(fake_langsmith)
    example = str(agents.new_id("example-flaky"))
    reps = [scored_root(client, "exp-flaky", example, "correctness", score) for score in (1, 0, 1)]
    # An example whose other repetition nobody scored is not flaky: that one is unknown, not passing.
    unscored = str(agents.new_id("example-unscored"))
    failed, _ = (scored_root(client, "exp-flaky", unscored, "correctness", score) for score in (0, None))
    done = analyze(fake_langsmith, tmp_path, "--experiment", "exp-flaky")
    assert done.exit_code == 0, done.output
    assert set(chosen(tmp_path)) == {reps[1], failed}
    assert f"selected {reps[1]}: feedback correctness=0 ≤ 0.5 (flaky: failed 1 of 3 repetitions)" in done.stderr
    assert f"selected {failed}: feedback correctness=0 ≤ 0.5\n" in done.stderr


def test_past_the_scan_limit_the_newest_roots_are_read_and_the_user_told(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("refinery.trace.langsmith.SCAN_LIMIT", 2)
    done = analyze(fake_langsmith, tmp_path, "--project", agents.PROJECT)
    # The two newest roots are the wrong answer and the loop; the older rate-limited failure is not read.
    assert list(chosen(tmp_path)) == [recorded["wrong_answer"]]
    assert "warning: Only the newest 2 root runs were read; narrow with `since`." in done.stderr.splitlines()


def source_of(fake: FakeLangSmith, project: str | None = agents.PROJECT, *, allow_partial: bool = False) -> Any:
    settings = load_settings({"LANGSMITH_API_KEY": fake.api_key, "LANGSMITH_ENDPOINT": fake.url})
    return build_langsmith_source(settings, project=project, allow_partial=allow_partial)


def test_the_baseline_is_the_newest_repetition_that_passed(fake_langsmith: FakeLangSmith) -> None:
    client = sdk(fake_langsmith)
    example = str(agents.new_id("example-baseline"))
    older_pass = scored_root(client, "main-evals", example, "correctness", 1)
    newer_pass = scored_root(client, "main-evals", example, "correctness", 0.9)
    scored_root(client, "main-evals", example, "correctness", 1, error="Timeout")  # errored: no baseline
    scored_root(client, "main-evals", example, "helpfulness", 1)  # not scored on the key: unknown
    scored_root(client, "main-evals", example, "correctness", 0.2)  # newest, failed
    source = source_of(fake_langsmith)
    criteria = SelectionCriteria(feedback_keys=["correctness"])
    assert source.find_passing_run("main-evals", example, criteria) == newer_pass
    assert older_pass != newer_pass
    other = str(agents.new_id("example-never-passed"))
    scored_root(client, "main-evals", other, "correctness", 0)
    assert source.find_passing_run("main-evals", other, criteria) is None
    with pytest.raises(SourceError, match="no project 'nope'") as caught:
        source.find_passing_run("nope", example, criteria)
    assert "experiment" in (caught.value.hint or "")


def test_selecting_without_a_project_says_which_setting_to_give(fake_langsmith: FakeLangSmith) -> None:
    with pytest.raises(SourceError, match="No project to select from") as caught:
        source_of(fake_langsmith, project=None).select_failing(SelectionCriteria())
    assert "langsmith-project" in (caught.value.hint or "")


def test_a_trace_with_runs_whose_parents_are_missing_is_refused_unless_partial_is_allowed(
    fake_langsmith: FakeLangSmith,
) -> None:
    client = sdk(fake_langsmith)
    root = RunTree(name="root", run_type="chain", inputs={}, project_name=agents.PROJECT, ls_client=client)
    lost = root.create_child(name="never-posted", run_type="chain", inputs={})
    leaf = lost.create_child(name="leaf", run_type="tool", inputs={})
    for run in (root, leaf):
        run.end(outputs={})
        run.post()
    client.flush()
    with pytest.raises(TraceFetchError, match=r"1 run whose parents are missing") as caught:
        source_of(fake_langsmith).fetch_trace(str(root.id))
    assert caught.value.hint == (
        "Re-run (LangSmith may still be ingesting), or set `allow-partial: true` (CLI: --allow-partial)."
    )
    trace = source_of(fake_langsmith, allow_partial=True).fetch_trace(str(root.id))
    assert trace.partial and {r.name for r in trace.runs} == {"root", "leaf"}


def test_a_reference_example_that_is_gone_leaves_the_trace_without_reference_outputs(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str]
) -> None:
    client = sdk(fake_langsmith)
    gone = str(agents.new_id("deleted-example"))
    run_id = scored_root(client, agents.PROJECT, gone, "correctness", 0)
    trace = source_of(fake_langsmith).fetch_trace(run_id)
    assert trace.reference_outputs is None and "example_inputs" not in trace.metadata
    kept = source_of(fake_langsmith).fetch_trace(recorded["wrong_answer"])
    assert kept.reference_outputs == {"answer": "397.8"}


def test_only_the_named_projects_runs_are_selected(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path
) -> None:
    client = sdk(fake_langsmith)
    elsewhere = scored_root(client, "another-team", str(agents.new_id("theirs")), "correctness", 0)
    done = analyze(fake_langsmith, tmp_path, "--project", agents.PROJECT)
    assert done.exit_code == 0 and elsewhere not in chosen(tmp_path) and len(chosen(tmp_path)) == 2


def test_selecting_without_a_project_says_exactly_which_setting_to_give(fake_langsmith: FakeLangSmith) -> None:
    with pytest.raises(SourceError) as caught:
        source_of(fake_langsmith, project=None).select_failing(SelectionCriteria())
    assert caught.value.message == "No project to select from."
    assert caught.value.hint == "Set `langsmith-project` or `experiment` (CLI: --project, --experiment)."


def test_examples_are_listed_by_their_newest_failure_not_their_newest_run(fake_langsmith: FakeLangSmith) -> None:
    client = sdk(fake_langsmith)
    early, late = (str(agents.new_id(f"example-{n}")) for n in ("early", "late"))
    early_failure = scored_root(client, "exp-order", early, "correctness", 0)
    late_failure = scored_root(client, "exp-order", late, "correctness", 0)
    scored_root(client, "exp-order", early, "correctness", 1)  # the newest run of all, and it passed
    selected = source_of(fake_langsmith, "exp-order").select_failing(SelectionCriteria())
    assert [s.trace_id for s in selected] == [late_failure, early_failure]


def test_a_repetition_that_errored_is_no_passing_one_whatever_its_score(fake_langsmith: FakeLangSmith) -> None:
    client = sdk(fake_langsmith)
    example = str(agents.new_id("example-errored"))
    failed = scored_root(client, "exp-errored", example, "correctness", 0)
    scored_root(client, "exp-errored", example, "correctness", 1, error="TimeoutError: tool took too long")
    settings = load_settings({"LANGSMITH_API_KEY": fake_langsmith.api_key, "LANGSMITH_ENDPOINT": fake_langsmith.url})
    source = build_langsmith_source(settings, project="exp-errored", experiment=True)
    [selected] = source.select_failing(SelectionCriteria())
    assert selected.failed_trace_ids[-1] == failed and selected.passed_trace_ids == []
    assert selected.flaky_note is None and selected.repetitions == 2


def test_exactly_the_scan_limit_of_roots_is_read_whole_without_a_warning(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("refinery.trace.langsmith.SCAN_LIMIT", 3)  # the project holds three roots
    source = source_of(fake_langsmith)
    selected = source.select_failing(SelectionCriteria())
    assert {s.trace_id for s in selected} == {recorded["wrong_answer"], recorded["rate_limited"]}
    assert source.notes == []


def test_a_trace_fetched_by_a_child_carries_its_root_id_project_and_dataset(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str]
) -> None:
    client = sdk(fake_langsmith)
    dataset = client.create_dataset("support-evals")
    example = client.create_example(inputs={"q": "refund?"}, outputs={"a": "no"}, dataset_id=dataset.id)
    root = RunTree(
        name="case",
        run_type="chain",
        inputs={"q": "refund?"},
        project_name=agents.PROJECT,
        ls_client=client,
        reference_example_id=str(example.id),
    )
    child = root.create_child(name="answer", run_type="llm", inputs={})
    for run in (root, child):
        run.end(outputs={"a": "yes"})
        run.post()
    client.flush()
    trace = source_of(fake_langsmith).fetch_trace(str(child.id))
    assert trace.id == str(root.id) and trace.project == agents.PROJECT
    assert trace.metadata["dataset_id"] == str(dataset.id) and trace.reference_outputs == {"a": "no"}


def test_feedback_the_sdk_cannot_read_falls_back_to_the_runs_mean_scores() -> None:
    # Outside the contract (a score that is a word), as a proxy or an older server may answer: the
    # trace is still read, its scores taken from the run's feedback_stats, and said to come from there.
    with FakeLangSmith(contract=False) as fake:
        client = sdk(fake)
        run_id = scored_root(client, agents.PROJECT, str(agents.new_id("worded")), "correctness", 0)
        fake.feedback.append({"id": str(agents.new_id("word")), "run_id": run_id, "key": "grade", "score": "B"})
        trace = source_of(fake).fetch_trace(run_id)
    assert [(f.key, f.score, f.source, f.run_id) for f in trace.feedback] == [
        ("correctness", 0.0, "feedback_stats", run_id)
    ]


def test_each_refusal_says_what_was_being_read(fake_langsmith: FakeLangSmith, recorded: dict[str, str]) -> None:
    settings = load_settings(
        {"LANGSMITH_API_KEY": "lsv2_wrong", "LANGSMITH_ENDPOINT": fake_langsmith.url}, {"langsmith_max_retries": 0}
    )
    wrong_key = build_langsmith_source(settings, project=agents.PROJECT)
    with pytest.raises(SourceError) as selecting:
        wrong_key.select_failing(SelectionCriteria())
    assert selecting.value.message == f"LangSmith rejected the API key while reading project {agents.PROJECT!r} (401)."
    with pytest.raises(SourceError) as baseline:
        wrong_key.find_passing_run("main-evals", "ex-1", SelectionCriteria())
    assert baseline.value.message == "LangSmith rejected the API key while reading example ex-1 in 'main-evals' (401)."
    fake_langsmith.fail("POST", "^/runs/query$", 401, times=5)
    with pytest.raises(TraceFetchError) as runs:
        source_of(fake_langsmith).fetch_trace(recorded["looping"])
    assert runs.value.message == (
        f"Fetching trace {recorded['looping']} stopped after 0 runs: LangSmith rejected the API key while reading "
        f"the runs of trace {recorded['looping']} (401). Set a valid LANGSMITH_API_KEY (action input "
        "`langsmith-api-key`)."
    )


def test_an_unreachable_langsmith_is_named_by_its_address_whatever_was_being_read() -> None:
    settings = load_settings(
        {"LANGSMITH_API_KEY": "k", "LANGSMITH_ENDPOINT": "http://127.0.0.1:9"}, {"langsmith_max_retries": 0}
    )
    source = build_langsmith_source(settings, project="p")
    with pytest.raises(SourceError) as caught:
        source.find_passing_run("p", "ex-1", SelectionCriteria())
    assert caught.value.message == "Cannot reach LangSmith at http://127.0.0.1:9 while reading example ex-1 in 'p'."


def test_each_selected_trace_links_to_itself_and_names_its_example_only_when_it_has_one(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str]
) -> None:
    client = sdk(fake_langsmith)
    example = str(agents.new_id("example-linked"))
    of_example = scored_root(client, agents.PROJECT, example, "correctness", 0)
    selected = {s.trace_id: s for s in source_of(fake_langsmith).select_failing(SelectionCriteria())}
    assert selected[of_example].example_id == example
    assert selected[recorded["rate_limited"]].example_id is None  # a trace of no example is its own unit
    for trace_id, item in selected.items():
        assert item.url and item.url.endswith(f"/r/{trace_id}?trace_id={trace_id}")
        assert item.failed_trace_ids == [trace_id]


def test_counts_of_ids_named_say_how_many_of_them_failed(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path
) -> None:
    ids = [arg for name in ("looping", "wrong_answer", "rate_limited") for arg in ("--trace-id", recorded[name])]
    done = analyze(fake_langsmith, tmp_path, *ids)
    assert "3 traces triaged, 2 failing of 3 read" in done.stdout


def test_since_narrows_a_projects_selection_to_what_started_after_it(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str], tmp_path: Path
) -> None:
    done = analyze(fake_langsmith, tmp_path, "--project", agents.PROJECT, "--since", "2099-01-01T00:00:00Z")
    assert chosen(tmp_path) == {}
    assert done.stderr.startswith(f"selecting failing traces of {agents.PROJECT!r} started since 2099-01-01T00:00:00")


def test_an_experiment_narrowed_to_a_key_still_counts_its_passing_repetitions(
    fake_langsmith: FakeLangSmith, tmp_path: Path
) -> None:
    client = sdk(fake_langsmith)
    example = str(agents.new_id("example-keyed"))
    reps = [scored_root(client, "exp-keyed", example, "correctness", score) for score in (1, 0)]
    done = analyze(fake_langsmith, tmp_path, "--experiment", "exp-keyed", "--feedback-key", "correctness")
    # Every root of an experiment is read (no prefilter on the key): the passing repetition is seen.
    assert f"selected {reps[1]}: feedback correctness=0 ≤ 0.5 (flaky: failed 1 of 2 repetitions)" in done.stderr


def test_a_trace_fetched_by_one_of_its_runs_keeps_the_roots_feedback_and_reference(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str]
) -> None:
    source = source_of(fake_langsmith)
    whole = source.fetch_trace(recorded["wrong_answer"])
    child = next(r for r in whole.runs if r.parent_id is not None)
    by_child = source.fetch_trace(child.id)
    assert [(f.key, f.score) for f in by_child.feedback] == [("correctness", 0.0)]
    assert by_child.reference_outputs == {"answer": "397.8"} and by_child.id == whole.id


def test_a_project_langsmith_does_not_have_says_where_to_look(fake_langsmith: FakeLangSmith) -> None:
    with pytest.raises(SourceError) as caught:
        source_of(fake_langsmith, "no-such-project").select_failing(SelectionCriteria())
    assert caught.value.message == "LangSmith has no project 'no-such-project'."
    assert caught.value.hint == (
        "Check `langsmith-project` / `experiment` (CLI: --project, --experiment) and the key's workspace."
    )


def test_the_raw_records_name_the_project_they_came_from(
    fake_langsmith: FakeLangSmith, recorded: dict[str, str]
) -> None:
    raw = source_of(fake_langsmith).fetch_raw(recorded["wrong_answer"])
    assert raw["project_id"] == fake_langsmith.session_id(agents.PROJECT)
    assert raw["runs"][0]["id"] == recorded["wrong_answer"] and raw["partial"] is None
