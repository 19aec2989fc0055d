"""Triage every selected trace, cluster them, and choose what the model stages run on.

Triage costs no model tokens, so every selected trace (up to ``max-select``) is redacted,
triaged and rendered, once: nothing later prepares it again. The traces are clustered by failure signature (``analysis/grouping.py``:
the origin's category and run, or causes that read alike), and the model stages run on one
representative per cluster, largest cluster first, up to ``max-traces``. The others keep
their triage, and the comment lists them under their cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from refinery.analysis.control import Cancelled
from refinery.analysis.grouping import group_failures
from refinery.analysis.orchestrator import AnalysisResult, offline_result
from refinery.analysis.pack import FailureGroup, PackSelection
from refinery.documents.redact import Redactor
from refinery.errors import RefineryError
from refinery.pipeline import Prepared, PrepareOptions, prepare, redactor_for
from refinery.trace.model import Trace
from refinery.trace.source import SelectedTrace
from refinery.words import plural


@dataclass
class Triaged:
    """One trace, triaged, with why it was selected."""

    number: int
    """Its 1-based position among the run's traces (its artifact folder is ``trace-N-…``)."""
    prepared: Prepared
    selection: PackSelection | None = None

    @property
    def trace(self) -> Trace:
        return self.prepared.trace

    def offline(self) -> AnalysisResult:
        result = offline_result(self.prepared)
        result.selection = self.selection
        return result


@dataclass
class Plan:
    """Every triaged trace, its cluster, and the representatives the model stages run on."""

    triaged: list[Triaged]
    groups: list[FailureGroup]
    representatives: list[Triaged]
    others: list[Triaged]
    failures: list[str] = field(default_factory=list)
    """One line per trace whose triage itself failed."""


def pack_selection(selected: SelectedTrace | None, redactor: Redactor | None = None) -> PackSelection | None:
    """Why the trace was chosen, redacted like the trace: a reason quotes its error or feedback."""
    if selected is None:
        return None
    return PackSelection(
        reasons=[redactor.text(r) for r in selected.reasons] if redactor else selected.reasons,
        verdict=selected.verdict,
        example_id=selected.example_id,
        repetitions=selected.repetitions,
        failed_repetitions=selected.failed_repetitions,
        flaky=selected.flaky_note,
        passed_trace_ids=selected.passed_trace_ids,
    )


def plan_analysis(
    traces: list[Trace],
    *,
    options: PrepareOptions,
    selections: dict[str, SelectedTrace],
    max_traces: int,
    log: Callable[[str], None] = lambda line: None,
) -> Plan:
    """Triage all of ``traces`` once, cluster the failures, and pick at most ``max_traces`` representatives:
    one per failure cluster, largest first, then the traces analysed although they did not fail."""
    triaged, failures = triage_each(traces, options, selections)
    failing = [t for t in triaged if t.selection is None or t.selection.verdict == "failed"]
    by_id = {t.trace.id: t for t in failing}
    groups = group_failures([t.offline().pack() for t in failing])
    chosen: list[Triaged] = []
    for group in groups[:max_traces]:
        representative = by_id[group.trace_ids[0]]
        chosen.append(representative)
        for member in group.members:
            member.analysed = member.trace_id == representative.trace.id
    if len(groups) > max_traces:
        log(
            f"{len(groups)} failure clusters; {plural(max_traces, 'representative')}, largest cluster first (max-traces); "
            "the others are triaged only."
        )
    # Traces named, or asked for with --all, that did not fail: no cluster of failures holds them.
    chosen += [t for t in triaged if t not in failing][: max(0, max_traces - len(chosen))]
    others = [t for t in triaged if t not in chosen]
    return Plan(triaged, groups, chosen, others, failures)


def triage_each(
    traces: list[Trace], options: PrepareOptions, selections: dict[str, SelectedTrace]
) -> tuple[list[Triaged], list[str]]:
    """Each trace redacted, triaged and rendered once; one that cannot be is a line, and the rest go on."""
    triaged: list[Triaged] = []
    failures: list[str] = []
    redactor = redactor_for(options)
    for number, trace in enumerate(traces, start=1):
        try:
            selection = selections.get(trace.id)
            prepared = prepare(trace, options, selection.verdict if selection else None)
        except Cancelled:  # the triage done so far is kept, and published
            break
        except RefineryError as exc:  # one trace's bad content never sinks the others
            failures.append(f"trace {trace.id} ({trace.root.name}): {exc.one_line()}")
            continue
        except Exception as exc:  # a bug in Refinery: reported as one, and the other traces go on
            failures.append(f"trace {trace.id} ({trace.root.name}): internal error {type(exc).__name__}: {exc}")
            continue
        triaged.append(Triaged(number, prepared, pack_selection(selection, redactor)))
    return triaged, failures
