"""Failures the run got past: context for the failure, not its origin.

A failure is *recovered* when the same operation succeeded afterwards: the same tool called
again without failing, the same executor running code that exited 0, the same model call
answering. A ``NameError`` fixed two steps later, or a lookup retried with the right id, is how
agents work; naming it sends the engineer to a step that did not matter. Recovery is recorded
on the finding (``recovered_at``); ``origin`` falls back to a recovered failure only when
nothing later explains the failure.
"""

from __future__ import annotations

from refinery.documents.ids import run_section
from refinery.trace.model import Run, Trace
from refinery.trace.roles import Roles, exit_code
from refinery.triage.model import Finding

FAILURE_RULES = ("run_error", "tool_output_error", "truncated_output", "invalid_json")


def _operation(run: Run) -> tuple[str, str]:
    """What "the same operation" means for a run: its tool, its executor, its model."""
    if run.run_type == "agent":
        return ("agent", run.agent or run.name)
    return (run.run_type, run.name if run.run_type != "llm" else (run.model or run.name))


def _succeeded(run: Run, failed: set[str]) -> bool:
    if run.is_error or run.id in failed or run.status == "pending":
        return False
    code = exit_code(run)
    return code == 0 if run.run_type == "agent" else code in (None, 0)


def mark_recoveries(trace: Trace, findings: list[Finding], roles: Roles) -> list[Finding]:
    """``findings`` with ``recovered_at`` set on each failure whose operation later succeeded."""
    failed = {f.run_id for f in findings if f.rule in FAILURE_RULES and f.run_id}
    later_success: dict[tuple[str, str], Run] = {}
    recovered: dict[str, str] = {}
    # Walk backwards so that each failure sees the first success after it.
    for run in reversed(trace.runs[1:]):
        key = _operation(run)
        if run.id in failed and key in later_success:
            recovered[run.id] = run_section(later_success[key].order)
        if _succeeded(run, failed) and (run.run_type != "agent" or roles.actor(run) == "environment"):
            later_success[key] = run
    return [
        f.model_copy(update={"recovered_at": recovered[f.run_id]})
        if f.rule in FAILURE_RULES and f.run_id in recovered and f.role != "propagated"
        else f
        for f in findings
    ]
