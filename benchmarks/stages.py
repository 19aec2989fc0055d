"""Stage request sizes (tiktoken o200k_base), against a zero-latency fake.

Every request body the SDK actually sent is captured by the fake and counted whole (JSON,
instructions, schema and all). Retrieved chunks never appear in a request body: file_search
runs on OpenAI's side. "worst" scripts maximal stage outputs (every list long, every text
long) so the compaction between stages is what bounds the next request.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.counting import count_tokens
from benchmarks.results import Results

STAGE_GOAL = 2_000
TOTAL_GOAL = 12_500
LONG = "x " * 200


def _big_outputs() -> list[dict[str, Any]]:
    cite = [{"file": "trace.md", "section": "R0000"}] * 6
    cov = {"files_scanned": ["trace.md", "evals.md", "triage.md", "prompts.md"], "remaining": []}
    stage1 = {
        "timeline": [{"section": "R0000", "summary": LONG, "outcome": "error"}] * 60,
        "events": [{"kind": "error", "section": "R0000", "description": LONG}] * 30,
        "coverage": cov,
        "evidence": [{"file": "trace.md", "section": "R0000", "rationale": LONG}] * 30,
    }
    stage2 = {
        "clauses": [{"expectation": LONG, "status": "missing", "observed": LONG, "citations": cite}] * 25,
        "coverage": cov,
    }
    stage3 = {
        "causal_chains": [
            {
                "symptom": LONG,
                "mechanism": LONG,
                "cause": LONG,
                "category": "Rate Limiting",
                "origin_run_id": "R0000",
                "citations": cite,
            }
        ]
        * 6,
        "remediations": [{"action": LONG, "target": LONG}] * 10,
        "confidence": 0.5,
        "inconclusive": True,
        "inconclusive_reason": LONG,
    }
    hypothesis = {
        "id": "H1",
        "title": "t",
        "category": "Rate Limiting",
        "origin_run_id": "R0000",
        "rationale": LONG,
        "proposed_change": {"kind": "prompt", "target": "P01", "before": LONG, "after": LONG},
        "expected_effect": LONG,
        "how_to_verify": LONG,
        "confidence": 0.5,
    }
    stage4 = {"summary": LONG, "top_findings": [LONG] * 5, "actions_next": [LONG] * 5, "hypotheses": [hypothesis] * 4}
    return [stage1, stage2, stage3, stage4]


def measure(paths: list[Path], *, worst: bool) -> list[list[int]]:
    """Tokens of each stage's request body, as the SDK sent it, per trace."""
    from refinery.analysis.orchestrator import analyze
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file
    from refinery.wiring import build_analysis_provider, load_settings
    from tests.fakes import openai_api as F
    from tests.fakes.openai_api import FakeOpenAI

    rows = []
    with FakeOpenAI() as fake:
        settings = load_settings(
            {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
        )
        for path in paths:
            fake.reset()
            if worst:
                fake.script(*(F.reply(o) for o in _big_outputs()))
            result = analyze(prepare(load_trace_file(path)), build_analysis_provider(settings))
            if result.error is not None:
                raise RuntimeError(f"{path.name}: {result.error.one_line()}")
            rows.append([count_tokens(json.dumps(body)) for body in fake.response_bodies()])
    return rows


def report(out: Results, paths: list[Path], label: str) -> int:
    """Per-stage request tokens, typical and maximal stage outputs; returns the largest total."""
    table = []
    largest = 0
    for worst in (False, True):
        rows = measure(paths, worst=worst)
        per_stage = list(zip(*rows, strict=True))
        totals = [sum(r) for r in rows]
        largest = max(largest, *totals)
        table.append(
            [
                "maximal" if worst else "typical",
                *(f"{statistics.median(s):,.0f} / {max(s):,}" for s in per_stage),
                f"{statistics.median(totals):,.0f} / {max(totals):,}",
            ]
        )
    out.para(
        f"**{label}** ({len(paths)} traces): request tokens per stage, median / max "
        f"(goal ≤{STAGE_GOAL:,} each, ≤{TOTAL_GOAL:,} in all)."
    )
    out.table(["stage outputs", "timeline", "gap", "diagnosis", "synthesis", "total"], table)
    return largest
