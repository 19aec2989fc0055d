"""Parallel efficiency: N traces at concurrency C against a fake that injects model latency.

Each trace runs the four stages as the action does (one provider per trace, one shared rate
gate); the batch time is compared with one trace alone. Ideal is ceil(N/C) x one trace
(2 x for 8 at 4); the goal is ≤2.35 x, i.e. ≥85 % parallel efficiency.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.results import Results

RATIO_GOAL = 2.35


def run(out: Results, traces: int = 8, concurrency: int = 4, latency_s: float = 0.5) -> None:
    from refinery.analysis.orchestrator import analyze
    from refinery.analysis.ratelimit import RateGate
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file
    from refinery.wiring import build_analysis_provider, load_settings
    from tests.fakes.openai_api import FakeOpenAI

    example = Path(__file__).resolve().parents[1] / "examples" / "rate-limit-cascade.json"
    with FakeOpenAI() as fake:
        fake.latency_s = latency_s
        settings = load_settings(
            {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
        )
        gate = RateGate()

        def one(_: int) -> float:
            started = time.perf_counter()
            result = analyze(prepare(load_trace_file(example)), build_analysis_provider(settings, gate=gate))
            if result.error is not None:
                raise RuntimeError(result.error.one_line())
            return time.perf_counter() - started

        one(0)  # warm imports
        single = one(0)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, range(traces)))
        batch = time.perf_counter() - started
    ideal = math.ceil(traces / concurrency) * single
    ratio = batch / single
    out.heading("Concurrency: many failing traces at once")
    out.para(
        f"{traces} traces analysed at concurrency {concurrency} (one provider per trace, one shared rate gate), "
        f"against the OpenAI fake injecting {latency_s:g} s of model latency into every response. Ideal is "
        f"ceil({traces}/{concurrency}) = {math.ceil(traces / concurrency)} x one trace."
    )
    out.table(
        ["one trace, s", f"{traces} traces, s", "ratio", "parallel efficiency", "goal"],
        [
            [
                f"{single:.2f}",
                f"{batch:.2f}",
                f"{ratio:.2f} x",
                f"{100 * ideal / batch:.0f} %",
                f"≤{RATIO_GOAL} x (8 traces at 4)",
            ]
        ],
        right=0,
    )
    out.figure(f"{traces} traces at concurrency {concurrency}, vs one trace", f"{ratio:.2f} x", f"goal ≤{RATIO_GOAL} x")
