"""What triage looked at, said plainly: the answer when it names no origin, and context when it does."""

from __future__ import annotations

from refinery.compare.expected import expected_actions
from refinery.trace.model import Trace
from refinery.trace.roles import Roles
from refinery.triage.ending import CUT_OFF_RULES, ended_at
from refinery.triage.model import Finding
from refinery.triage.recovery import FAILURE_RULES
from refinery.words import plural


def what_was_checked(trace: Trace, findings: list[Finding], roles: Roles) -> list[str]:
    """One line per thing triage looked for, with what it found."""
    acting = sum(roles.acts(r) for r in trace.runs[1:])
    others = len(trace.runs) - 1 - acting
    failures = [f for f in findings if f.rule in FAILURE_RULES and f.role != "propagated"]
    recovered = sum(bool(f.recovered_at) for f in failures)
    out = [
        f"{plural(acting, 'step')} of the system under test"
        + (f" ({plural(others, 'step')} of its user, environment or routing left aside)" if others else ""),
        f"failures along the way: {len(failures)}" + (f", {recovered} recovered later" if recovered else ""),
        "loops (the same action with the same result): " + str(sum(f.rule == "repeated_call" for f in findings)),
    ]
    actions = expected_actions(trace)
    if actions is None:
        out.append("expected actions: none recorded with the trace")
    else:
        departed = any(f.rule == "expected_divergence" for f in findings)
        out.append(
            f"expected actions: {plural(len(actions), 'action')}, "
            + ("the run departs from them" if departed else "no departure among the state-changing calls")
        )
    if any(f.rule == "baseline_divergence" for f in findings):
        out.append("a passing run of the same task: compared, the run departs from it")
    ending = next((f for f in findings if f.rule in CUT_OFF_RULES), None)
    if ending is not None:
        reason = ", where it reached a limit" if ending.rule == "limit_reached" else ""
        out.append(f"how it ended: {ended_at(ending.rule, ending.section)}{reason}, not finished")
    return out
