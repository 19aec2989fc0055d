"""The cost cap at its edges: which stage starts and what the run is billed (analysis/cost.py)."""

from __future__ import annotations

import pytest

from refinery.analysis.cost import CostGuard, StageEstimate, text_tokens
from refinery.errors import CostCapReached

# gpt-4.1 is $2 per million input tokens and $8 per million output tokens in prices.json.
ONE_DOLLAR = StageEstimate("gpt-4.1", input_tokens=100_000, output_tokens=100_000)


def test_an_estimate_prices_input_output_and_searches() -> None:
    assert ONE_DOLLAR.usd == pytest.approx(1.0)
    searched = StageEstimate("gpt-4.1", input_tokens=100_000, output_tokens=100_000, searches=4)
    assert searched.usd == pytest.approx(1.0 + 4 * 0.0025)
    # A provider prefix and a dated snapshot are the same model's price.
    assert StageEstimate("openai/gpt-4.1-2025-04-14", 100_000, 100_000).usd == pytest.approx(1.0)
    assert StageEstimate("a-model-nobody-prices", 100_000, 100_000).usd is None


def test_tokens_are_counted_conservatively_from_the_texts_sent() -> None:
    assert text_tokens("x" * 35) == 11  # 3.5 characters a token, rounded up
    assert text_tokens("x" * 35, "", "x" * 7) == 11 + 3
    assert text_tokens() == 0 and text_tokens("") == 0


def test_spend_plus_estimate_exactly_at_the_cap_is_admitted_and_a_cent_over_is_not() -> None:
    guard = CostGuard(cap_usd=2.0)
    guard.settle(guard.admit("timeline", ONE_DOLLAR), 1.0)
    assert guard.admit("gap", ONE_DOLLAR) == pytest.approx(1.0)  # 1.0 spent + 1.0 estimated == 2.0
    guard = CostGuard(cap_usd=1.99)
    guard.settle(guard.admit("timeline", StageEstimate("gpt-4.1", 0, 0)), 1.0)
    with pytest.raises(CostCapReached) as caught:
        guard.admit("root_cause", ONE_DOLLAR)
    message = str(caught.value)
    assert "Stage root_cause was not started" in message
    assert "$1.0000" in message and "max-cost $1.99" in message and "$1.0000 spent or committed" in message
    assert (caught.value.hint or "").startswith("Raise `max-cost` (CLI: --max-cost)")


def test_stages_running_at_once_reserve_their_estimates_against_the_cap() -> None:
    guard = CostGuard(cap_usd=2.5)
    first = guard.admit("timeline", ONE_DOLLAR)  # another trace's stage, still running
    guard.admit("timeline", ONE_DOLLAR)
    with pytest.raises(CostCapReached):
        guard.admit("timeline", ONE_DOLLAR)  # 2.0 committed + 1.0 > 2.5
    guard.settle(first, 0.25)  # it cost less than estimated: room again
    assert guard.admit("gap", ONE_DOLLAR) == pytest.approx(1.0)
    assert guard.spent == pytest.approx(0.25)
    with pytest.raises(CostCapReached, match=r"\$2\.2500 spent or committed"):  # 0.25 spent + 2.0 running
        guard.admit("synthesis", ONE_DOLLAR)


def test_a_stage_that_failed_is_billed_its_estimate_and_a_finished_one_its_real_cost() -> None:
    guard = CostGuard(cap_usd=None)
    guard.settle(guard.admit("timeline", ONE_DOLLAR), None)  # failed: no usage came back
    assert guard.spent == pytest.approx(1.0)
    guard.settle(guard.admit("gap", ONE_DOLLAR), 0.3)
    assert guard.spent == pytest.approx(1.3)
    # With no cap, any estimate is admitted.
    assert guard.admit("synthesis", StageEstimate("gpt-4.1", 10**9, 10**9)) > 1000


def test_a_model_without_a_price_runs_uncapped_and_is_named() -> None:
    guard = CostGuard(cap_usd=0.0)
    assert guard.admit("timeline", StageEstimate("my-local-llama", 10**6, 10**6)) == 0.0
    assert guard.unpriced == {"my-local-llama"}
    with pytest.raises(CostCapReached):  # a priced stage still meets the cap of 0
        guard.admit("gap", StageEstimate("gpt-4.1", 1, 1))
    assert guard.spent == 0.0
