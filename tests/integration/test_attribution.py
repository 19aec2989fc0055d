"""Blame that holds up, on the attribution cases built from the shared tau-bench and tau2 failures
(``benchmarks/attribution``): distractors claim nothing, an unrelated rule is never "likely", a tie is
shown as one, the evidence is the failure's own words, and the committed bands are what the
development half gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from refinery.changes.diff import read_unified_diff
from refinery.pipeline import enrich, prepare
from tests.conftest import SHARED

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cases() -> list[Any]:
    from benchmarks.attribution import build_cases

    if not (SHARED / "datasets" / "real-traces").is_dir():
        pytest.skip(f"../shared is absent: no real traces at {SHARED / 'datasets'} (set REFINERY_SHARED_DIR)")
    return build_cases(SHARED)


def suspects(case: Any) -> list[Any]:
    from benchmarks.attribution import rank_case

    return rank_case(case)


def test_a_pull_request_of_distractors_only_claims_nothing(cases: list[Any]) -> None:
    only = [c for c in cases if c.truth is None]
    assert len(only) >= 8
    for case in only:
        ranked = suspects(case)
        assert all(s.band == "none" for s in ranked), (case.name, ranked[0])


def test_the_rule_that_explains_the_failure_is_likely_and_cites_the_failures_own_words(cases: list[Any]) -> None:
    case = next(c for c in cases if c.name == "tau-bench/tau-bench-task19-trial0/delete")
    top = suspects(case)[0]
    assert top.band == "likely" and top.removed[0] == case.truth.strip()
    # The action that went wrong (exchange_delivered_order_items), in the rule's own words.
    assert any(e.startswith("names the action that went wrong: ") and "exchang" in e for e in top.evidence)


def test_a_removed_unrelated_prompt_line_is_never_likely(cases: list[Any]) -> None:
    for case in (c for c in cases if c.truth is not None):
        for suspect in suspects(case):
            if suspect.path == "prompts/policy.md" and case.truth.strip() not in suspect.removed:
                assert suspect.band != "likely", (case.name, suspect)


def test_refinerys_own_sentences_are_never_evidence(cases: list[Any]) -> None:
    # A hunk whose words are only those of Refinery's divergence sentence ("this run called …, which the
    # passing run never did") matches nothing of the failure.
    case = next(c for c in cases if c.name == "tau-bench/tau-bench-task8-trial0/delete")
    words = "- The passing run never did this; which step, called at its step, was the same."
    diff = (
        "diff --git a/prompts/policy.md b/prompts/policy.md\n--- a/prompts/policy.md\n+++ b/prompts/policy.md\n"
        f"@@ -1,1 +1,2 @@\n # Retail agent policy\n+{words}\n"
    )
    [suspect] = enrich(prepare(case.trace), changes=read_unified_diff(diff, "test")).suspects
    assert suspect.evidence == [] and suspect.band == "none"


def test_two_hunks_with_the_same_evidence_are_shown_as_a_tie(cases: list[Any]) -> None:
    from refinery.report.changes import suspect_line

    case = next(c for c in cases if c.name == "tau-bench/tau-bench-task19-trial0/delete")
    # The same rule removed from two copies of the policy: nothing tells the two hunks apart.
    hunk = case.diff.split("diff --git a/prompts/policy.md")[1]
    twin = "diff --git a/prompts/policy.md" + hunk
    copy = twin.replace("prompts/policy.md", "prompts/policy-copy.md")
    first, second = enrich(prepare(case.trace), changes=read_unified_diff(twin + copy, "test")).suspects[:2]
    assert first.score == second.score and first.tied_with == [second.change_id]
    assert "(tied with " in suspect_line(first)


def test_the_committed_bands_are_what_the_development_half_gives(cases: list[Any]) -> None:
    from benchmarks.attribution import learn_thresholds, score_cases

    committed = json.loads((REPO / "refinery" / "changes" / "calibration.json").read_text())["thresholds"]
    learned = learn_thresholds(score_cases([c for c in cases if c.half == "development"]))
    assert committed == learned, "run `python -m benchmarks attribution --calibrate`"
