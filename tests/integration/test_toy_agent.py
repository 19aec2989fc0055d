"""The toy agent repository of ``benchmarks/fixes.py``, as tests: a deterministic agent that takes an
action only when its policy says so, its eval, and a pull request that breaks it.

The action runs in-process as the runner runs it, against the GitHub fake (the pull request's files
from the real diff) and the OpenAI fake, with ``verify-command: bash eval.sh`` and three runs. Each
case says what became of its fixes; the truth is known by construction.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.fixes import CASES, run_case
from tests.fakes.github_api import require_node_tools

BY_NAME = {case.name: case for case in CASES}


@pytest.mark.parametrize("name", ["rule removed", "rule weakened", "flaky eval", "wrong model fix"])
def test_the_fix_is_verified_refuted_or_inconclusive_as_the_truth_says(name: str, tmp_path: Path) -> None:
    require_node_tools()
    case = BY_NAME[name]
    result = run_case(case, tmp_path)
    assert result.got == case.truth
    # The restored rule is offered on the pull request unless the eval refuted it.
    assert result.suggestions == 1
    assert result.eval_runs["revert-suspect"] == 6  # three with the fix, three without


def test_a_pull_request_of_distractors_gets_no_fix(tmp_path: Path) -> None:
    require_node_tools()
    result = run_case(BY_NAME["distractor-only PR"], tmp_path)
    assert result.got == {} and result.suggestions == 0
