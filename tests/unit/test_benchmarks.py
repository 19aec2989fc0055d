"""The scoring and reporting code behind ``python -m benchmarks`` (figures themselves are not tested)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.quality import Spend, configured_provider, model_method, strip_ground_truth, triage_method
from benchmarks.results import Results, write_document
from benchmarks.trail import TrailCase, category_f1, load_cases, score
from benchmarks.trail_sample import sample_rows, write_sample
from refinery.pipeline import prepare
from refinery.trace.files import load_trace_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_category_f1_is_support_weighted_over_categories() -> None:
    gold = [{"A"}, {"A", "B"}, {"C"}]
    pred = [{"A"}, {"B"}, set()]
    # A: tp 1, fn 1 -> 2/3 (support 2); B: 1.0 (support 1); C: 0 (support 1)
    assert category_f1(gold, pred) == pytest.approx((2 / 3 * 2 + 1.0 + 0.0) / 4)
    assert category_f1(gold, gold) == 1.0
    # A category only predicted has no support and adds nothing, but still costs the ones it displaces.
    assert category_f1([{"A"}], [{"A", "Z"}]) == 1.0


def test_location_and_joint_accuracy_average_over_traces_with_errors() -> None:
    cases = [
        TrailCase("t1", {}, frozenset({("s1", "A"), ("s2", "B")})),
        TrailCase("t2", {}, frozenset({("x", "C")})),
        TrailCase("t3", {}, frozenset()),  # no annotated error: not in the averages
    ]
    result = score(cases, [{("s1", "B")}, {("x", "C"), ("y", "D")}, {("z", "A")}])
    assert result.location_accuracy == pytest.approx((0.5 + 1.0) / 2)
    assert result.joint_accuracy == pytest.approx((0.0 + 1.0) / 2)
    with pytest.raises(ValueError, match="2 predictions for 3 traces"):
        score(cases, [set(), set()])


def test_trail_cases_load_from_jsonl_and_from_a_folder(tmp_path: Path) -> None:
    jsonl = write_sample(tmp_path / "sample.jsonl")
    from_jsonl = load_cases(jsonl)
    assert [c.trace_id for c in from_jsonl] == ["trail-sample-0", "trail-sample-1", "trail-sample-2"]
    assert ("trail-sample-0-tool", "Rate Limiting") in from_jsonl[0].errors

    folder = tmp_path / "trail"
    (folder / "traces").mkdir(parents=True)
    (folder / "labels").mkdir()
    for row in sample_rows():
        trace = json.loads(row["trace"])
        (folder / "traces" / f"{trace['trace_id']}.json").write_text(row["trace"])
        (folder / "labels" / f"{trace['trace_id']}.json").write_text(row["labels"])
    assert [c.errors for c in load_cases(folder)] == [c.errors for c in from_jsonl]

    (folder / "labels" / "trail-sample-1.json").unlink()
    with pytest.raises(ValueError, match=r"trail-sample-1\.json has no labels"):
        load_cases(folder)


def test_triage_blames_the_failing_span_with_its_trail_category(tmp_path: Path) -> None:
    cases = load_cases(write_sample(tmp_path / "sample.jsonl"))
    predictions = []
    for i, case in enumerate(cases):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(case.trace))
        predictions.append({(b.run_id, b.category) for b in triage_method(prepare(load_trace_file(path)))})
    assert ("trail-sample-1-tool", "Timeout Issues") in predictions[1]
    result = score(cases, predictions)
    # Each trace: the tool failure found, the hallucination not (triage cannot read meaning).
    assert result.location_accuracy == pytest.approx(0.5)
    assert result.joint_accuracy == pytest.approx(0.5)


def test_the_model_rows_map_the_diagnosis_section_to_the_run_and_its_step() -> None:
    prepared = prepare(load_trace_file(EXAMPLES / "rate-limit-cascade.json"))
    spend = Spend()
    with configured_provider({}, fake=True) as model:
        assert model is not None
        blames = model_method(model[1], spend)(prepared)
    assert spend.analyses == 1 and spend.input_tokens > 0 and not spend.errors
    last = max(prepared.trace.runs, key=lambda r: r.order)  # the fake blames the last run it saw cited
    assert blames and blames[0].run_id == last.id and blames[0].step == last.order
    assert blames[0].category == "Rate Limiting"


def test_no_key_means_no_model_rows() -> None:
    with configured_provider({}, fake=False) as model:
        assert model is None


@pytest.mark.needs_shared
def test_without_ground_truth_the_answer_reaches_no_document(who_and_when: list[Path]) -> None:
    path = next(p for p in who_and_when if len(str(json.loads(p.read_text()).get("ground_truth") or "")) >= 8)
    answer = str(json.loads(path.read_text())["ground_truth"])
    trace = load_trace_file(path)
    assert answer in prepare(trace).documents.by_name("evals.md").text
    stripped = strip_ground_truth(trace)
    assert stripped.reference_outputs is None
    assert answer not in prepare(stripped).documents.by_name("evals.md").text
    assert [f.score for f in stripped.feedback] == [f.score for f in trace.feedback]  # the verdict stays


def test_results_document_has_machine_headline_and_sections(tmp_path: Path) -> None:
    results = Results(echo=False)
    results.heading("Overhead")
    results.table(["trace", "s"], [["a|b", "0.10"]])
    results.figure("Overhead per trace", "0.10 s", "goal ≤1 s")
    results.failed("The action benchmark", "dockerd exited")
    path = tmp_path / "RESULTS.md"
    write_document(results, path, "python -m benchmarks all", smoke=True)
    text = path.read_text()
    assert "- **Command:** `python -m benchmarks all`" in text and "- **Python:** " in text
    assert "| Overhead per trace | 0.10 s | goal ≤1 s |" in text
    assert "| a\\|b | 0.10 |" in text  # a pipe in a cell cannot break the table
    assert "- The action benchmark: dockerd exited" in text
    assert "Smoke-size run" in text


def test_a_failed_model_analysis_is_a_miss_not_the_end_of_the_benchmark() -> None:
    from refinery.wiring import build_analysis_provider, load_settings
    from tests.fakes import openai_api as F

    prepared = prepare(load_trace_file(EXAMPLES / "rate-limit-cascade.json"))
    spend = Spend()
    with F.FakeOpenAI() as fake:
        fake.script(F.http_error(400, "invalid_request_error", "bad schema"))
        settings = load_settings({"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.url + "/v1"})
        blames = model_method(lambda: build_analysis_provider(settings), spend)(prepared)
    assert blames == []
    assert spend.analyses == 1 and len(spend.errors) == 1 and "bad schema" in spend.errors[0]


def test_a_mutants_key_survives_renumbering_and_the_report_leaves_equivalents_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import mutation
    from benchmarks.results import Results

    diff = "--- a.py\n+++ a.py\n@@ -1 +1 @@\n-    if n > 1:\n+    if n >= 1:\n"
    first = mutation.mutant_key({"name": "refinery.x.x_cap__mutmut_3", "diff": diff})
    assert first == mutation.mutant_key({"name": "refinery.x.x_cap__mutmut_17", "diff": diff})
    assert first != mutation.mutant_key({"name": "refinery.x.x_cap__mutmut_3", "diff": diff.replace(">=", "<")})
    stored = {
        "before": {"cost": {"killed": 2, "scored": 9}},
        "after": {
            "cost": {
                "killed": 9,
                "scored": 10,
                "equivalent": 1,
                "no_tests": 0,
                "seconds": 120,
                "commit": "abc1234",
                "equivalents": [{"key": first, "reason": "the cap is checked again below"}],
            }
        },
    }
    out = Results(echo=False)
    mutation.report(out, stored)
    text = "\n".join(out.lines)
    assert "| cost | analysis/cost.py | 2/9 (22.2%) | 9/10 (90.0%) | 1 | 0 | 2 min | abc1234 |" in text
    assert f"- `{first}`: the cap is checked again below" in text
    assert "| compare | compare/* | not run | not run |" in text
    assert "The whole run" not in text  # not every group has been run
    # A score just under the goal, or one survivor short of all, never reads as reaching it.
    stored["after"]["cost"].update(killed=1799, scored=2000)
    stored["after"]["compare"] = {**stored["after"]["cost"], "killed": 1182, "scored": 1183}
    out = Results(echo=False)
    mutation.report(out, stored)
    text = "\n".join(out.lines)
    assert "1799/2000 (89.9%)" in text and "1182/1183 (99.9%)" in text
    every = {name: {"killed": 9, "scored": 10, "seconds": 450, "commit": "abc1234"} for name in mutation.GROUPS}
    full = Results(echo=False)
    mutation.report(full, {"before": {}, "after": every})
    minutes = 7.5 * len(mutation.GROUPS)
    waiting = ", ".join(name for name, group in mutation.GROUPS.items() if group.waits)
    assert f"(two mutants at a time; four for {waiting}, whose tests mostly wait): {minutes:.0f} min (" in "\n".join(
        full.lines
    )
    assert ("within the hour" if minutes < 60 else "over the hour") in "\n".join(full.lines)
    # Survivors of the groups run are rewritten; another group's section is kept.
    monkeypatch.setattr(mutation, "SURVIVORS", tmp_path / "survivors.md")
    mutation._write_survivors({"cost": [{"name": "n1", "status": "survived", "key": first, "diff": diff}]})
    mutation._write_survivors({"compare": []})
    written = (tmp_path / "survivors.md").read_text()
    assert "## compare\n\nNone." in written and "### `n1` (survived" in written


def test_a_mutants_tests_run_fastest_first_by_the_durations_mutmut_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from benchmarks import mutation_order

    items = [SimpleNamespace(nodeid=n) for n in ("slow", "unmeasured", "fast")]
    monkeypatch.chdir(tmp_path)
    mutation_order.pytest_collection_modifyitems(None, None, items)
    assert [i.nodeid for i in items] == ["slow", "unmeasured", "fast"]  # no stats yet: left as collected
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": {"slow": 1.2, "fast": 0.01}}))
    mutation_order.pytest_collection_modifyitems(None, None, items)
    assert [i.nodeid for i in items] == ["unmeasured", "fast", "slow"]


def test_a_mutation_run_rewrites_only_its_own_section_of_results(tmp_path: Path) -> None:
    from benchmarks import mutation

    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n## Redaction\n\nfast\n\n## Mutation testing\n\nold table\n\n## Quality\n\nkept\n")
    mutation.update_results(path, ["## Mutation testing", "", "new table", ""])
    assert (
        path.read_text()
        == "# Results\n\n## Redaction\n\nfast\n\n## Mutation testing\n\nnew table\n\n## Quality\n\nkept\n"
    )
    last = tmp_path / "LAST.md"
    last.write_text("# Results\n\n## Mutation testing\n\nold\n")
    mutation.update_results(last, ["## Mutation testing", "", "new", ""])
    assert last.read_text() == "# Results\n\n## Mutation testing\n\nnew\n"
    none = tmp_path / "NONE.md"
    none.write_text("# Results\n\n## Quality\n\nkept\n")
    mutation.update_results(none, ["## Mutation testing", "", "new"])
    assert none.read_text() == "# Results\n\n## Quality\n\nkept\n\n## Mutation testing\n\nnew\n"
