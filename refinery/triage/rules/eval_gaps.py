"""What the evaluators said: low feedback scores, and a reference answer missing from the output."""

from __future__ import annotations

import re

from refinery.documents.text import compact_json
from refinery.trace.model import Trace
from refinery.triage.classify import excerpt, new_finding
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions


def _normalize(text: str) -> str:
    return re.sub(r"[\s,]+", "", text.lower())


def find_eval_gaps(trace: Trace, options: RuleOptions) -> list[Finding]:
    """Feedback at or below the threshold, and a reference answer missing from the output."""
    threshold = options.eval_threshold
    findings = []
    root = trace.root
    for item in trace.feedback:
        failed_by_rule = item.fails_below is not None and item.score is not None and item.score < item.fails_below
        if item.score is None or item.informational or (item.score > threshold and not failed_by_rule):
            continue
        target = root
        if item.run_id and item.run_id != root.id:
            try:
                target = trace.get(item.run_id)
            except KeyError:
                target = root
        findings.append(
            new_finding(
                target,
                rule="eval_feedback",
                category="Eval Gap",
                severity="high",
                evaluator=item.key,
                evidence=excerpt(f"{item.key} = {item.score:g}" + (f": {item.comment}" if item.comment else "")),
                explanation=(
                    f"The evaluator `{item.key}` scored this run {item.score:g} "
                    + (
                        f"(the producer counts anything below {item.fails_below:g} as a failure)."
                        if failed_by_rule
                        else f"(threshold {threshold:g})."
                    )
                ),
            )
        )
    reference = trace.reference_outputs
    if reference and root.outputs:
        expected = [str(v) for v in reference.values() if isinstance(v, (str, int, float)) and str(v).strip()]
        got = compact_json(root.outputs)
        if expected and not any(_normalize(v) in _normalize(got) for v in expected):
            findings.append(
                new_finding(
                    root,
                    rule="reference_mismatch",
                    category="Eval Gap",
                    severity="medium",
                    evidence=excerpt(f"expected {compact_json(reference)}; got {got}"),
                    explanation="The reference answer does not appear in the final output.",
                )
            )
    return findings
