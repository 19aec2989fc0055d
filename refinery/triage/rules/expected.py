"""The first step where the run parts from what its producer says should have happened.

tau-bench and tau2-bench record the expected actions of a task; ``compare.expected`` aligns the
run's state-changing calls against them as against a passing run. The first difference is
where the run went wrong by the producer's own account of the task.
"""

from __future__ import annotations

from refinery.compare.expected import compare_expected
from refinery.trace.model import Trace
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions
from refinery.triage.rules.baseline import departure_finding

_EXPLAIN = {
    "different_tool": "Here the run made another state-changing call than the task's expected actions.",
    "different_arguments": "Here the run made an expected state-changing call with other arguments.",
    "extra_step": "Here the run changed state in a way the task's expected actions never do.",
    "missing_step": "After this step the task expects a state-changing call the run never made.",
    "error": "This expected call failed here.",
}


def find_expected_divergence(trace: Trace, options: RuleOptions) -> list[Finding]:
    compared = compare_expected(trace, options.roles)
    if compared is None or compared.divergence is None or compared.divergence.run_id is None:
        return []
    divergence = compared.divergence
    explanation = (
        _EXPLAIN[divergence.kind]
        + f" The run made {compared.made} state-changing calls; the task expects {compared.expected}."
    )
    return [departure_finding(trace, divergence, "expected_divergence", explanation)]
