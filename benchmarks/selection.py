"""Selection at scale: failing traces selected, fetched, triaged and clustered against the fake LangSmith.

The fake holds a project of the bundled examples' traces with fresh ids (an error, a
correctness score of 0, a failed pytest ``pass``), failing and passing ones mixed, and a rate
limiter that answers 429 with Retry-After past a number of requests per second, as
LangSmith's does. The real langsmith SDK reads it, 8 traces at a time; its retries honour
Retry-After. Timed: the selection query, the fetches, the triage of every trace and the
clustering, in one process, in the action's own order.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.results import Results

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ("rate-limit-cascade.json", "wrong-answer.json", "looping-agent.json")
PROJECT = "bench-evals"
GOAL_S = 10.0


def _feedback(root: dict[str, Any], key: str, score: float) -> dict[str, Any]:
    now = "2026-12-01T12:00:00+00:00"
    return {
        "id": str(uuid.uuid4()),
        "run_id": root["id"],
        "trace_id": root["trace_id"],
        "key": key,
        "score": score,
        "created_at": now,
        "modified_at": now,
    }


def populate(fake: Any, failing: int, passing: int) -> None:
    """``failing`` traces of three shapes and ``passing`` clean ones, straight into the fake's store."""
    session = fake.session_id(PROJECT)
    for index in range(failing + passing):
        example = SHAPES[index % len(SHAPES)]
        data = json.loads((ROOT / "examples" / example).read_text())
        text = json.dumps(data["runs"])
        for run in data["runs"]:
            text = text.replace(run["id"], str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{index}/{run['id']}")))
        runs = json.loads(text)
        root = runs[0]
        if index >= failing:  # a passing trace: no error anywhere, a good score
            for run in runs:
                run.pop("error", None)
                run["status"] = "success"
            fake.feedback.append(_feedback(root, "correctness", 1))
        elif example == "wrong-answer.json":
            fake.feedback.append(_feedback(root, "correctness", 0))
        elif example == "looping-agent.json":
            fake.feedback.append(_feedback(root, "pass", 0))
        for run in runs:
            run["session_id"] = session
            run.pop("reference_example_id", None)  # one example per trace: none are repetitions
            fake._store_run(run)


def measure(failing: int, passing: int, rate: int) -> dict[str, Any]:
    from refinery.pipeline import PrepareOptions
    from refinery.planner.triage import plan_analysis
    from refinery.trace.collect import fetch_each
    from refinery.trace.source import SelectionCriteria
    from refinery.wiring import build_langsmith_source, load_settings
    from tests.fakes.langsmith_api import FakeLangSmith

    with FakeLangSmith(contract=False) as fake:
        populate(fake, failing, passing)
        fake.rate_limit = rate
        settings = load_settings({"LANGSMITH_API_KEY": fake.api_key, "LANGSMITH_ENDPOINT": fake.url})
        started = time.perf_counter()
        source = build_langsmith_source(settings, project=PROJECT)
        selected = source.select_failing(SelectionCriteria(limit=failing))
        selected_at = time.perf_counter()
        collected = fetch_each(source, [s.trace_id for s in selected])
        fetched_at = time.perf_counter()
        plan = plan_analysis(
            collected.traces,
            options=PrepareOptions(),
            selections={s.trace_id: s for s in selected},
            max_traces=3,
        )
        done = time.perf_counter()
        return {
            "selected": len(selected),
            "fetched": len(collected.traces),
            "failures": len(collected.failures),
            "clusters": [g.count for g in plan.groups],
            "select_s": selected_at - started,
            "fetch_s": fetched_at - selected_at,
            "triage_s": done - fetched_at,
            "total_s": done - started,
            "requests": len(fake.requests),
            "rate_limited": fake.rate_limited,
        }


def run(out: Results, failing: int = 200, passing: int = 50, rate: int = 200) -> None:
    out.heading("Selection: failing traces selected, fetched, triaged and clustered")
    m = measure(failing, passing, rate)
    out.para(
        f"A project of {failing + passing} traces in the fake LangSmith ({failing} failing: an error, a correctness "
        f"score of 0 or a failed pytest `pass`, in three shapes; {passing} passing), with a rate limiter that answers "
        f"429 and Retry-After: 1 past {rate} requests a second. The real langsmith SDK reads it; traces are fetched "
        "8 at a time and the SDK's retries honour Retry-After. One process, wall clock (`benchmarks/selection.py`)."
    )
    out.table(
        [
            "selected",
            "fetched",
            "not fetched",
            "clusters",
            "select s",
            "fetch s",
            "triage + cluster s",
            "total s",
            "requests",
            "429s answered",
        ],
        [
            [
                m["selected"],
                m["fetched"],
                m["failures"],
                " / ".join(map(str, m["clusters"])),
                f"{m['select_s']:.2f}",
                f"{m['fetch_s']:.2f}",
                f"{m['triage_s']:.2f}",
                f"{m['total_s']:.2f}",
                m["requests"],
                m["rate_limited"],
            ]
        ],
    )
    out.figure(
        f"{failing} failing traces selected, fetched, triaged, clustered (rate-limited fake LangSmith)",
        f"{m['total_s']:.2f} s; {m['fetched']} of {m['selected']} fetched",
        f"goal ≤{GOAL_S:g} s",
    )
