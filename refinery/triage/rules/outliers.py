"""Runs far slower, or LLM calls with far larger prompts, than their peers."""

from __future__ import annotations

import statistics
from collections import defaultdict

from refinery.trace.model import Run, Trace
from refinery.triage.classify import new_finding
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions

OUTLIERS_PER_KIND = 3


def find_outliers(trace: Trace, options: RuleOptions) -> list[Finding]:
    """Runs far slower, or LLM calls with far larger prompts, than their peers."""
    limit = OUTLIERS_PER_KIND
    findings: list[Finding] = []
    by_type: dict[str, list[tuple[float, Run]]] = defaultdict(list)
    for run in trace.runs[1:]:
        if run.duration_ms is not None:
            by_type[run.run_type].append((run.duration_ms, run))
    for run_type, items in sorted(by_type.items()):
        if len(items) < 5:
            continue
        median = statistics.median(d for d, _ in items)
        slow = sorted(
            ((d, r) for d, r in items if d >= 1000 and d > max(5 * median, median + 2000)), key=lambda x: -x[0]
        )
        for duration, run in slow[:limit]:
            findings.append(
                new_finding(
                    run,
                    rule="latency_outlier",
                    category="Timeout Issues",
                    severity="low",
                    evidence=f"{duration / 1000:.1f}s vs median {median / 1000:.2f}s over {len(items)} {run_type} runs",
                    explanation=f"This {run_type} run took {duration / max(median, 1):.0f}× the median.",
                )
            )
    prompts = [(r.prompt_tokens, r) for r in trace.runs if r.run_type == "llm" and r.prompt_tokens]
    if len(prompts) >= 5:
        median = statistics.median(t for t, _ in prompts)
        big = sorted(((t, r) for t, r in prompts if t >= 2000 and t > 3 * median), key=lambda x: -x[0])
        for tokens, run in big[:limit]:
            findings.append(
                new_finding(
                    run,
                    rule="token_outlier",
                    category="Context Handling Failures",
                    severity="low",
                    evidence=f"{tokens} prompt tokens vs median {median:.0f} over {len(prompts)} LLM calls",
                    explanation="This call's prompt is far larger than its peers': context is accumulating or a large payload was pasted in.",
                )
            )
    return findings
