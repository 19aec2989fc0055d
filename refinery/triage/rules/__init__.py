"""The triage rules, in the order they run. Add a rule: one module here, one line in RULES."""

from __future__ import annotations

from refinery.triage.rules.base import Rule, RuleOptions
from refinery.triage.rules.baseline import find_baseline_divergence
from refinery.triage.rules.crashes import find_crash
from refinery.triage.rules.eval_gaps import find_eval_gaps
from refinery.triage.rules.expected import find_expected_divergence
from refinery.triage.rules.limits import find_limit_reached
from refinery.triage.rules.llm_output import find_empty_output, find_invalid_json, find_truncation
from refinery.triage.rules.loops import find_repeated_calls
from refinery.triage.rules.outliers import find_outliers
from refinery.triage.rules.run_errors import find_run_errors
from refinery.triage.rules.tool_outputs import find_tool_output_errors

RULES: list[Rule] = [
    find_run_errors,
    find_tool_output_errors,
    find_truncation,
    find_invalid_json,
    find_repeated_calls,
    find_empty_output,
    find_limit_reached,
    find_crash,
    find_eval_gaps,
    find_outliers,
    find_baseline_divergence,
    find_expected_divergence,
]

__all__ = ["RULES", "Rule", "RuleOptions"]
