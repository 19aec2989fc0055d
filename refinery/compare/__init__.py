"""A failing run against a passing run of the same task: where it went wrong, and what changed.

``compare_runs`` extracts each run's steps (``steps.py``), aligns them (``align.py``, Myers'
diff with reordered reads and retries tolerated), lists the differences and the first
divergence (``diverge.py``) and renders ``baseline.md`` (``document.py``). Both traces must be
redacted already. A baseline of another task is refused (``check_same_task``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from refinery.compare.align import align_steps
from refinery.compare.diverge import context_changes, find_differences, first_divergence
from refinery.compare.document import render_baseline_md
from refinery.compare.model import Comparison
from refinery.compare.steps import Step, normalize_args
from refinery.compare.summary import RunSummary, summarize
from refinery.documents.model import Document
from refinery.errors import ConfigError
from refinery.trace.model import Trace

BASELINE_BUDGET = 60_000
"""Characters of baseline.md."""


@dataclass
class Compared:
    """The comparison, and the document that shows it."""

    comparison: Comparison
    document: Document
    steps: list[Step]
    """This run's steps, as aligned."""
    baseline_steps: list[Step]
    """The passing run's steps, as aligned."""


def check_same_task(failing: RunSummary, baseline: RunSummary) -> None:
    """A ConfigError unless the baseline ran the same task: the same example id when both traces have
    one, else the same inputs up to normalisation. Anything that cannot be told the same is refused."""
    hint = "Give a passing run of the same task or example (--baseline-trace-id, --baseline-file)."
    ours, theirs = failing.example, baseline.example
    if ours and theirs:
        if ours != theirs:
            raise ConfigError(
                f"The baseline {baseline.trace_id} ran another example ({theirs.split(':', 1)[1]}) than "
                f"the failing trace {failing.trace_id} ({ours.split(':', 1)[1]}).",
                hint=hint,
            )
        return
    here, there = failing.root_inputs, baseline.root_inputs
    if not here or not there:
        missing = " and ".join(
            name for name, inputs in ((failing.trace_id, here), (baseline.trace_id, there)) if not inputs
        )
        raise ConfigError(
            f"Cannot tell that the baseline {baseline.trace_id} ran the same task as {failing.trace_id}: "
            f"they share no example id, and {missing} {'record' if ' and ' in missing else 'records'} "
            "no inputs to compare.",
            hint=hint,
        )
    if normalize_args(here) != normalize_args(there):
        shown = json.dumps(there, ensure_ascii=False, default=str)[:120]
        raise ConfigError(
            f"The baseline {baseline.trace_id} ran other inputs than the failing trace {failing.trace_id} ({shown}…).",
            hint=hint,
        )


def compare_runs(failing: Trace | RunSummary, baseline: Trace | RunSummary, *, source: str) -> Compared:
    """Align the two runs and describe every difference, the first one first."""
    here = failing if isinstance(failing, RunSummary) else summarize(failing)
    there = baseline if isinstance(baseline, RunSummary) else summarize(baseline)
    check_same_task(here, there)
    ours, theirs = here.steps, there.steps
    alignment = align_steps(ours, theirs)
    differences = find_differences(alignment, ours, theirs)
    comparison = Comparison(
        trace=there.trace_id,
        source=source,
        steps=len(ours),
        baseline_steps=len(theirs),
        divergence=first_divergence(differences, ours, theirs),
        model_calls=here.model_calls,
        baseline_model_calls=there.model_calls,
        differences=differences,
        changes=context_changes(here, there),
        moved_reads=sum(p.op == "moved" for p in alignment.pairs),
        retries=sum(s.attempts - 1 for s in (*ours, *theirs)),
        truncated=alignment.truncated,
    )
    # The divergence's own section in baseline.md (the differences are numbered in order).
    if comparison.divergence is not None:
        first = next(
            i
            for i, d in enumerate(differences, start=1)
            if d.detail == comparison.divergence.detail and d.kind == comparison.divergence.kind
        )
        comparison.divergence.baseline_section = f"B{first:02d}" if first <= 40 else None
    document = render_baseline_md(comparison, alignment, ours, theirs, BASELINE_BUDGET)
    return Compared(comparison, document, ours, theirs)


__all__ = ["Compared", "Comparison", "RunSummary", "check_same_task", "compare_runs", "summarize"]
