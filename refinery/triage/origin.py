"""Where the failure began, on which evidence, and how sure triage is.

An errored run whose errored descendants explain it has *propagated* the error; an errored
run with none is a *leaf*. The origin is chosen among steps of the system under test
(``trace.roles``), by these principles, each stated where it is applied:

1. **The earliest unrecovered failure.** A failure the run got past (``recovery``) is context.
2. **The cause, not the symptom.** An error saying a precondition failed is where the failure
   showed; the step of this run that set up that state is where it began (``cause``).
3. **The first departure from what should have happened,** when the producer recorded it
   (expected actions) or a passing run of the same task was compared: it wins over failures
   after it, and over failed reads the run moved past.
4. **A loop or an empty answer,** when nothing failed and nothing departed.
5. **A recovered failure,** only when nothing later explains the failure.

The confidence level follows from the evidence (``confidence.level_of``), and the level's
measured precision decides whether the report names the origin at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from refinery.compare.steps import is_read_name
from refinery.documents.ids import run_section
from refinery.trace.model import Run, Trace
from refinery.trace.roles import Roles, exit_code
from refinery.triage.cause import precondition_cause
from refinery.triage.confidence import Evidence, level_of, precision_of
from refinery.triage.model import Finding, Origin
from refinery.triage.recovery import FAILURE_RULES

ORIGIN_RULES = FAILURE_RULES
DEPARTURES = ("expected_divergence", "baseline_divergence")
_SEVERITY_WEIGHT = {"critical": 4, "high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True)
class ErrorChain:
    """An errored leaf run and the errored ancestors that failed because of it."""

    leaf: Run
    propagated: list[Run]


def error_chains(trace: Trace) -> list[ErrorChain]:
    """Each errored leaf, in execution order, with the ancestors it propagated to.

    An ancestor belongs to the first chain that reaches it, so no run is counted twice.
    """
    errored = [r for r in trace.runs if r.is_error]
    if not errored:
        return []
    errored_ids = {r.id for r in errored}
    has_errored_descendant: set[str] = set()
    for run in errored:
        for ancestor in trace.ancestors(run.id):
            if ancestor.id in errored_ids:
                has_errored_descendant.add(ancestor.id)
    chains: list[ErrorChain] = []
    claimed: set[str] = set()
    for leaf in (r for r in errored if r.id not in has_errored_descendant):
        chain = [a for a in trace.ancestors(leaf.id) if a.id in errored_ids and a.id not in claimed]
        claimed.update(a.id for a in chain)
        chains.append(ErrorChain(leaf, chain))
    return chains


def score_finding(finding: Finding) -> float:
    """How much a finding matters: severity, raised for an origin, lowered for propagation, recovery, outliers."""
    score = float(_SEVERITY_WEIGHT[finding.severity])
    if finding.role == "origin":
        score += 2
    elif finding.role == "propagated":
        score -= 1
    if finding.recovered_at:
        score -= 1.5
    if finding.rule in ("latency_outlier", "token_outlier"):
        score -= 0.5
    return score


@dataclass
class _Choice:
    finding: Finding
    run: Run
    evidence: Evidence
    reason: str
    notes: list[str] = field(default_factory=list)
    symptom: Finding | None = None


def _step(finding: Finding) -> int:
    return finding.step if finding.step is not None else 1 << 30


def _failures(trace: Trace, findings: list[Finding], roles: Roles) -> list[Finding]:
    """Failure findings at (or blamed on) a step of the system under test, in execution order."""
    out = [
        f
        for f in findings
        if f.rule in ORIGIN_RULES
        and f.role != "propagated"
        and f.step is not None
        and roles.acts(trace.get(f.blamed_run_id or str(f.run_id)))
    ]
    return sorted(out, key=_step)


def _from_failure(trace: Trace, failure: Finding, roles: Roles, findings: list[Finding]) -> _Choice:
    run = trace.get(failure.blamed_run_id or str(failure.run_id))
    crashed = trace.root.is_error and run_section(trace.root.order) in failure.related_sections
    evidence = Evidence(basis="error", ended_run=_gave_up(trace, failure), crashed_run=crashed)
    reason = (
        f"its output was executed and failed at {failure.section}"
        if failure.blamed_run_id
        else "the earliest failure the run did not recover from"
    )
    failed = frozenset(str(f.run_id) for f in findings if f.rule in ORIGIN_RULES and f.run_id)
    cause = precondition_cause(trace, trace.get(str(failure.run_id)), roles, failed)
    if cause is not None:
        evidence = Evidence(basis="precondition", ended_run=evidence.ended_run, crashed_run=crashed)
        return _Choice(
            failure,
            cause,
            evidence,
            f"it changed the state that {failure.section} then found wrong",
            [f"{failure.section} failed on a precondition: the symptom, not the cause"],
            symptom=failure,
        )
    return _Choice(failure, run, evidence, reason)


def _gave_up(trace: Trace, failure: Finding) -> bool:
    """Nothing was done after it: no later tool call and no later execution, only the answer."""
    return not any(
        r.order > _step(failure) and (r.run_type in ("tool", "retriever") or exit_code(r) is not None)
        for r in trace.runs
    )


def _departure(findings: list[Finding], rule: str) -> Finding | None:
    found = [f for f in findings if f.rule == rule and f.run_id]
    return min(found, key=_step) if found else None


def _choose(trace: Trace, findings: list[Finding], roles: Roles) -> _Choice | None:
    failures = _failures(trace, findings, roles)
    unrecovered = [f for f in failures if not f.recovered_at]
    departures = [d for d in (_departure(findings, r) for r in DEPARTURES) if d is not None]
    first_departure = min(departures, key=_step) if departures else None
    # A failed read the run moved past does not outrank a departure that came after it.
    if first_departure is not None:
        unrecovered = [
            f
            for f in unrecovered
            if (_step(f) < _step(first_departure) and not is_read_name(f.name or "")) or f.step == first_departure.step
        ]
    if unrecovered:
        choice = _from_failure(trace, unrecovered[0], roles, findings)
        if first_departure is not None and first_departure.run_id == choice.run.id:
            choice.evidence = replace(choice.evidence, corroborated=True)
            choice.notes.append(f"the departure from {_what(first_departure)} is at the same step")
        return choice
    if first_departure is not None:
        return _from_departure(trace, first_departure, findings)
    return _fallback(trace, findings, failures)


def _what(departure: Finding) -> str:
    return "the expected actions" if departure.rule == "expected_divergence" else "the passing run"


def _from_departure(trace: Trace, departure: Finding, findings: list[Finding]) -> _Choice:
    run = trace.get(str(departure.run_id))
    missing = departure.evidence.startswith("never called")
    both = {f.rule for f in findings if f.rule in DEPARTURES and f.run_id == departure.run_id}
    evidence = Evidence(
        basis="expected_actions" if departure.rule == "expected_divergence" else "baseline",
        missing=missing,
        corroborated=len(both) == 2,
    )
    reason = f"here the run first parted from {_what(departure)}"
    return _Choice(departure, run, evidence, reason)


def _fallback(trace: Trace, findings: list[Finding], failures: list[Finding]) -> _Choice | None:
    for rule, basis, reason in (
        ("repeated_call", "loop", "no step failed; the agent repeated the same action with the same result here"),
        ("empty_output", "empty_output", "no step failed; the agent ended with an empty answer here"),
    ):
        found = [f for f in findings if f.rule == rule and f.run_id]
        if found:
            first = min(found, key=_step)
            return _Choice(first, trace.get(str(first.run_id)), Evidence(basis=basis), reason)
    if failures:
        first = failures[0]
        run = trace.get(first.blamed_run_id or str(first.run_id))
        reason = f"the run recovered from it (the same operation succeeded at {first.recovered_at}), and nothing later explains the failure"
        return _Choice(first, run, Evidence(basis="recovered_error"), reason)
    return None


def choose_origin(trace: Trace, findings: list[Finding], roles: Roles) -> Origin | None:
    """The step where the failure most likely began, with its confidence; None when nothing points anywhere."""
    choice = _choose(trace, findings, roles)
    if choice is None:
        return None
    level = level_of(choice.evidence)
    recovered = [f.section for f in findings if f.recovered_at and f.section and f.rule in ORIGIN_RULES]
    notes = list(choice.notes)
    if recovered and choice.evidence.basis != "recovered_error":
        notes.append(f"recovered failures left aside as context: {', '.join(recovered[:5])}")
    return Origin(
        run_id=choice.run.id,
        section=run_section(choice.run.order),
        step=choice.run.order,
        name=choice.run.name,
        agent=choice.run.agent,
        finding_id=choice.finding.id,
        reason=choice.reason,
        run_type=choice.run.run_type,
        basis=choice.evidence.basis,
        confidence=level,
        precision=precision_of(level),
        evidence=[*choice.evidence.describe(), *notes],
        symptom_section=choice.symptom.section if choice.symptom else None,
    )
