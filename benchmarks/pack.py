"""Inline pack sizes and packing time per provider (each provider's default model and window)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from benchmarks.child import run_child_on_synthetic
from benchmarks.counting import count_tokens
from benchmarks.results import Results

PACK_GOAL_S = 2.0
MODELS = {"anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-pro", "openai-compatible": "llama-3.3-70b"}


def _budgets() -> dict[str, int]:
    from refinery.analysis.packing import OUTPUT_RESERVE, context_window

    return {p: context_window(m) - OUTPUT_RESERVE for p, m in MODELS.items()}


def report(out: Results, paths: list[Path], label: str) -> None:
    from refinery.analysis.packing import pack_documents
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    budgets = _budgets()
    prepared = [prepare(load_trace_file(p)) for p in paths]
    rows = []
    for provider, budget in budgets.items():
        sizes, times, omitted = [], [], 0
        for item in prepared:
            t0 = time.perf_counter()
            pack = pack_documents(item.trace, item.triage, item.documents, budget)
            times.append((time.perf_counter() - t0) * 1000)
            sizes.append(count_tokens(pack.text))
            omitted += bool(pack.omitted)
        rows.append(
            [
                f"{provider} ({MODELS[provider]})",
                f"{budget:,}",
                f"{statistics.median(sizes):,.0f}",
                f"{max(sizes):,}",
                omitted,
                f"{statistics.median(times):.1f}",
                f"{max(times):.1f}",
            ]
        )
    out.para(
        f"**{label}** ({len(paths)} traces): the inline pack each provider receives "
        "(tiktoken o200k tokens; budget = context window - output reserve)."
    )
    out.table(
        ["provider (model)", "budget", "median tokens", "max tokens", "traces trimmed", "median ms", "max ms"], rows
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


def report_large(out: Results, size: int) -> None:
    data, _ = run_child_on_synthetic("_child-pack", size)
    out.para(
        f"**A {size:,}-run synthetic trace**: packing time per provider (goal ≤{PACK_GOAL_S:g} s); "
        "sections left out are listed in the prompt and in `coverage.remaining`."
    )
    out.table(
        ["provider", "seconds", "~tokens", "sections in", "left out"],
        [
            [p, f"{r['s']:.2f}", f"{r['est_tokens']:,}", f"{r['included']:,}", f"{r['omitted']:,}"]
            for p, r in data.items()
        ],
    )
    slowest = max(r["s"] for r in data.values())
    out.figure(
        f"Inline packing of a {size:,}-run trace, slowest provider", f"{slowest:.2f} s", f"goal ≤{PACK_GOAL_S:g} s"
    )
