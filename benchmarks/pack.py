"""Inline pack sizes and packing time per provider (each provider's default model and window)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from benchmarks.child import run_child_on_synthetic
from benchmarks.tokens import count_tokens

PACK_GOAL_S = 2.0
MODELS = {"anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-pro", "openai-compatible": "llama-3.3-70b"}


def _budgets() -> dict[str, int]:
    from refinery.analysis.packing import OUTPUT_RESERVE, context_window

    return {p: context_window(m) - OUTPUT_RESERVE for p, m in MODELS.items()}


def report(paths: list[Path], label: str) -> None:
    from refinery.analysis.packing import pack_documents
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    budgets = _budgets()
    print(f"\n{label}: inline pack per provider (tokens by tiktoken o200k; budget = window - reserve)")
    print(
        f"{'provider':<18} {'budget':>9} {'median tok':>11} {'max tok':>9} {'omitted':>8} {'median ms':>10} {'max ms':>8}"
    )
    prepared = [prepare(load_trace_file(p)) for p in paths]
    for provider, budget in budgets.items():
        sizes, times, omitted = [], [], 0
        for item in prepared:
            t0 = time.perf_counter()
            pack = pack_documents(item.trace, item.triage, item.documents, budget)
            times.append((time.perf_counter() - t0) * 1000)
            sizes.append(count_tokens(pack.text))
            omitted += bool(pack.omitted)
        print(
            f"{provider:<18} {budget:>9,} {statistics.median(sizes):>11,.0f} {max(sizes):>9,} {omitted:>8} "
            f"{statistics.median(times):>10.1f} {max(times):>8.1f}"
        )


def _child(path: str) -> None:
    from refinery.analysis.packing import pack_documents
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    prepared = prepare(load_trace_file(path))
    out = {}
    for provider, budget in _budgets().items():
        t0 = time.perf_counter()
        pack = pack_documents(prepared.trace, prepared.triage, prepared.documents, budget)
        out[provider] = {
            "s": time.perf_counter() - t0,
            "est_tokens": pack.tokens,
            "omitted": len(pack.omitted),
            "included": len(pack.included),
        }
    print(json.dumps(out))


def report_large(size: int) -> None:
    data, _ = run_child_on_synthetic("_child-pack", size)
    print(f"\n{size:,}-run synthetic trace: packing time per provider (goal ≤{PACK_GOAL_S:g} s)")
    for provider, row in data.items():
        print(
            f"{provider:<18} {row['s']:.2f} s, ~{row['est_tokens']:,} tokens, {row['included']:,} sections in, "
            f"{row['omitted']:,} left out (listed in the prompt)"
        )
