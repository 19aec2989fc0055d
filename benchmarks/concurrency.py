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

RATIO_GOAL = 2.35


def report(traces: int = 8, concurrency: int = 4, latency_s: float = 0.5) -> None:
    from refinery.analysis.orchestrator import analyze
    from refinery.analysis.ratelimit import RateGate
    from refinery.cli import build_analysis_provider
    from refinery.pipeline import prepare
    from refinery.settings import load_settings
    from refinery.trace.files import load_trace_file
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
    print(f"one trace: {single:.2f} s (4 stages x {latency_s:g} s injected latency)")
    print(
        f"{traces} traces at concurrency {concurrency}: {batch:.2f} s = {batch / single:.2f} x one trace "
        f"(goal ≤{RATIO_GOAL} x); parallel efficiency {100 * ideal / batch:.0f} %"
    )
