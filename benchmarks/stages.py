"""Stage request sizes (tiktoken o200k_base) and orchestration overhead, against a zero-latency fake.

Every request body the SDK actually sent is captured by the fake and counted whole (JSON,
instructions, schema and all). Retrieved chunks never appear in a request body: file_search
runs on OpenAI's side. "worst" scripts maximal stage outputs (every list long, every text
long) so the compaction between stages is what bounds the next request.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.tokens import count_tokens

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


def measure(paths: list[Path], *, worst: bool) -> list[dict[str, Any]]:
    from refinery.analysis.orchestrator import analyze
    from refinery.cli import build_analysis_provider
    from refinery.pipeline import prepare
    from refinery.settings import load_settings
    from refinery.trace.files import load_trace_file
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
            trace = load_trace_file(path)
            t0 = time.perf_counter()
            prepared = prepare(trace)
            t1 = time.perf_counter()
            result = analyze(prepared, build_analysis_provider(settings))
            t2 = time.perf_counter()
            if result.error is not None:
                raise RuntimeError(f"{path.name}: {result.error.one_line()}")
            tokens = [count_tokens(json.dumps(body)) for body in fake.response_bodies()]
            rows.append(
                {
                    "trace": path.name,
                    "runs": len(trace.runs),
                    "tokens": tokens,
                    "prepare_s": t1 - t0,
                    "analyze_s": t2 - t1,
                    "stage_s": [s.wall_time_s for s in result.stages],
                }
            )
    return rows


def report(paths: list[Path], label: str) -> None:
    for worst in (False, True):
        rows = measure(paths, worst=worst)
        kind = "maximal stage outputs" if worst else "typical stage outputs"
        print(f"\n{label}, {kind}: request tokens per stage (goal ≤{STAGE_GOAL:,} each, ≤{TOTAL_GOAL:,} in all)")
        if len(rows) <= 5:
            print(f"{'trace':<28} {'runs':>5} {'s1':>6} {'s2':>6} {'s3':>6} {'s4':>6} {'total':>7} {'overhead s':>11}")
            for r in rows:
                t = r["tokens"]
                print(
                    f"{r['trace'][:28]:<28} {r['runs']:>5} {t[0]:>6} {t[1]:>6} {t[2]:>6} {t[3]:>6} {sum(t):>7} "
                    f"{r['prepare_s'] + r['analyze_s']:>11.3f}"
                )
        per_stage = list(zip(*(r["tokens"] for r in rows), strict=True))
        overheads = [r["prepare_s"] + r["analyze_s"] for r in rows]
        print(
            f"{len(rows)} traces: max per stage {', '.join(str(max(s)) for s in per_stage)}; "
            f"max total {max(sum(r['tokens']) for r in rows)}; overhead median {statistics.median(overheads):.3f} s, "
            f"max {max(overheads):.3f} s (goal ≤1 s; includes the fake's own time)"
        )
