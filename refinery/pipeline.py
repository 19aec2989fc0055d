"""The steps every analysis shares: redact, triage and render.

Entry points build the options; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from refinery.changes import THRESHOLD as SUSPECT_THRESHOLD
from refinery.changes import ChangeSet, Suspect, rank_for_trace
from refinery.changes.diff import redact_changes
from refinery.compare import compare_runs
from refinery.compare.model import Comparison
from refinery.compare.summary import redact_summary, summarize
from refinery.documents.model import Document
from refinery.documents.redact import Redactor
from refinery.documents.render import DocumentSet, RenderOptions, render_documents
from refinery.perf import gc_paused
from refinery.trace.model import Trace
from refinery.triage import run_triage
from refinery.triage.document import render_triage_md, triage_focus
from refinery.triage.model import TriageReport


@dataclass(frozen=True)
class PrepareOptions:
    """How to redact, judge and render a trace."""

    redact: bool = True
    redact_pii: bool = False
    redact_patterns: tuple[str, ...] = ()
    known_secrets: tuple[str, ...] = field(default=(), repr=False)
    eval_threshold: float = 0.5
    render: RenderOptions = field(default_factory=RenderOptions)


@dataclass
class Prepared:
    """A trace made ready for analysis: redacted, triaged and rendered."""

    trace: Trace
    triage: TriageReport
    documents: DocumentSet
    redaction_counts: dict[str, int]
    redaction_enabled: bool
    comparison: Comparison | None = None
    """Against a passing run of the same task, when one was given."""
    suspects: list[Suspect] = field(default_factory=list)
    """The pull request's hunks, ranked against the failure (best first), when changes were given."""

    @property
    def top_suspect(self) -> Suspect | None:
        """The best suspect when it clears the threshold; else none is claimed."""
        return self.suspects[0] if self.suspects and self.suspects[0].score >= SUSPECT_THRESHOLD else None


def redactor_for(options: PrepareOptions) -> Redactor | None:
    """The redactor ``prepare`` uses, for text about a trace that is not in it (why it was selected)."""
    if not options.redact:
        return None
    return Redactor(pii=options.redact_pii, extra_patterns=options.redact_patterns, known_secrets=options.known_secrets)


def prepare(
    trace: Trace,
    options: PrepareOptions | None = None,
    *,
    baseline: Trace | None = None,
    baseline_source: str = "",
    changes: ChangeSet | None = None,
) -> Prepared:
    """Redact first, so that triage evidence and documents only ever see redacted text.

    With ``baseline`` (a passing run of the same task; redacted here too) the two runs are
    compared: baseline.md joins the documents and the first divergence is a finding. With
    ``changes`` (the pull request's hunks; redacted too) each hunk is ranked against the
    failure and changes.md joins the documents.
    """
    with gc_paused():
        return _prepare(trace, options, baseline, baseline_source, changes)


def _prepare(
    trace: Trace,
    options: PrepareOptions | None,
    baseline: Trace | None = None,
    baseline_source: str = "",
    changes: ChangeSet | None = None,
) -> Prepared:
    options = options or PrepareOptions()
    counts: dict[str, int] = {}
    redactor = redactor_for(options)
    # The baseline is summarized (its steps, prompt, tools), then let go: only the summary is redacted.
    summary = summarize(baseline) if baseline is not None else None
    baseline = None
    if redactor is not None:
        trace = redactor.trace(trace)
        summary = redact_summary(summary, redactor.text, redactor.value) if summary is not None else None
        changes = redact_changes(changes, redactor.text) if changes is not None else None
        render = options.render
        if render.expectations or render.assertion:
            render = RenderOptions(
                field_cap=render.field_cap,
                doc_budget=render.doc_budget,
                expectations=redactor.text(render.expectations) if render.expectations else None,
                expectations_name=render.expectations_name,
                assertion=redactor.text(render.assertion) if render.assertion else None,
            )
        counts = redactor.stats.as_dict()
    else:
        render = options.render
    compared = compare_runs(trace, summary, source=baseline_source or "baseline") if summary is not None else None
    divergence = compared.comparison.divergence if compared else None
    triage = run_triage(trace, eval_threshold=options.eval_threshold, divergence=divergence)
    comparison = compared.comparison if compared else None
    ranked = rank_for_trace(changes, trace, triage, comparison) if changes is not None else None
    extra = [d for d in (compared.document if compared else None, ranked.document if ranked else None) if d]
    documents = render_with_triage(trace, triage, render, extra)
    return Prepared(trace, triage, documents, counts, options.redact, comparison, ranked.suspects if ranked else [])


def render_with_triage(
    trace: Trace, triage: TriageReport, options: RenderOptions | None = None, extra: Sequence[Document] = ()
) -> DocumentSet:
    """The documents: triage decides which runs keep their full sections and adds triage.md;
    ``extra`` (baseline.md) comes last."""
    options = options or RenderOptions()
    return render_documents(
        trace, options, focus=triage_focus(trace, triage), extra=[render_triage_md(triage, options), *extra]
    )
