"""Where the model's diagnosis puts the start of the failure, said beside what triage found.

The diagnosis's step is the model's own placement: no level is measured for it here, so it is never
worded "starts at". What gives it weight is a second source: triage reaching the same step (or, with
no step stated, the same agent) without the model. When the two disagree, the reader is told to read
both steps rather than shown one of them as the answer.
"""

from __future__ import annotations

from collections.abc import Callable

from refinery.triage.confidence import failure_subject, origin_phrase
from refinery.triage.model import AgentClaim, Origin


def agreement_sentence(
    origin: Origin | None,
    claim: AgentClaim | None,
    at: str | None,
    agent: str | None,
    code: Callable[[str], str] = lambda text: f"`{text}`",
    verdict: str | None = None,
) -> str | None:
    """One sentence: the diagnosis's step, and whether triage's stated origin or agent agrees.

    ``at`` and ``agent`` are the diagnosis's first causal chain's section and that run's agent; ``code``
    formats both, since one is model output and the other trace text (untrusted). ``verdict``: the
    selection's, so that a run not known to have failed is not said to have a failure."""
    if at is None:
        return None
    named_agent = agent if claim is not None and claim.basis != "only_agent" else None
    placed = f"The model's diagnosis places the start at {code(at)}" + (
        f", in {code(named_agent)}'s work" if named_agent else ""
    )
    if origin is not None and origin.stated:
        subject = failure_subject(verdict)
        subject = subject[0].lower() + subject[1:]
        if origin.section == at:
            return (
                f"The model's diagnosis and triage (no model) agree: {subject} {origin_phrase(origin)} "
                f"{origin.section} ({origin.confidence} confidence)."
            )
        return (
            f"{placed}; triage (no model) says {subject} {origin_phrase(origin)} {origin.section} "
            f"({origin.confidence} confidence). They disagree: read both steps."
        )
    if claim is not None and claim.stated and named_agent is not None:
        if named_agent.lower() == claim.agent.lower():
            return f"{placed}: the agent triage names too (the two agree on the agent, not on a step)."
        return (
            f"{placed}; triage names {code(claim.agent)} ({claim.confidence} confidence). "
            "They disagree: read both agents' work."
        )
    return f"{placed}; triage names no origin step, so only the model supports it."
