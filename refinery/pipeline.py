"""The steps every analysis shares: redact, triage and render.

Entry points build the options; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from refinery.changes import ChangeSet, Suspect, claimed, rank_for_trace
from refinery.changes.diff import redact_changes
from refinery.changes.fix import Fix, ProposedFix, check_model_fixes, fix_patch, numbered, propose_fixes
from refinery.compare import compare_runs
from refinery.compare.model import Comparison
from refinery.compare.summary import redact_summary, summarize
from refinery.documents.model import Document
from refinery.documents.redact import Redactor
from refinery.documents.render import DocumentSet, RenderOptions, render_documents
from refinery.perf import gc_paused
from refinery.trace.model import Trace
from refinery.triage import extend_triage, run_triage
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
    checkpoint: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    """Called often during long work (redacting a huge trace): it raises to stop it (a cancelled run)."""
    workspace: Path | None = None
    """The checkout of the pull request's head, where a proposed fix is checked; None: no fixes."""


@dataclass
class Prepared:
    """A trace made ready for analysis: redacted, triaged and rendered, once."""

    trace: Trace
    triage: TriageReport
    documents: DocumentSet
    redaction_counts: dict[str, int]
    """What redaction replaced, by kind: in the trace, then in what enrichment added (never twice)."""
    redaction_enabled: bool
    comparison: Comparison | None = None
    """Against a passing run of the same task, when one was given."""
    suspects: list[Suspect] = field(default_factory=list)
    """The pull request's hunks, ranked against the failure (best first), when changes were given."""
    render: RenderOptions = field(default_factory=RenderOptions)
    """How the documents were rendered (expectations and assertion already redacted)."""
    verdict: str | None = None
    """failed, passed or unknown, as the selection judged the run; None when nobody asked (a run given
    as a failure). triage.md calls the run a failure only when it is not known to have passed."""
    fixes: list[Fix] = field(default_factory=list)
    """Fixes that passed every check (the claimed change's removed prompt lines, put back)."""
    fix_notes: list[str] = field(default_factory=list)
    """Why a fix was dropped before anyone saw it."""
    fix_patch: str = ""
    """The fixes as a unified diff ``git apply`` takes (``fix.patch``), made against the checkout."""

    @property
    def top_suspect(self) -> Suspect | None:
        """The best suspect when it clears the threshold; else none is claimed."""
        return claimed(self.suspects)


def redactor_for(options: PrepareOptions) -> Redactor | None:
    """The redactor ``prepare`` uses, for text about a trace that is not in it (why it was selected)."""
    if not options.redact:
        return None
    return Redactor(
        pii=options.redact_pii,
        extra_patterns=options.redact_patterns,
        known_secrets=options.known_secrets,
        checkpoint=options.checkpoint,
    )


def prepare(trace: Trace, options: PrepareOptions | None = None, verdict: str | None = None) -> Prepared:
    """Redact first, so that triage evidence and documents only ever see redacted text; then triage
    and render. Everything later (a baseline, the PR's changes) is added by ``enrich``."""
    options = options or PrepareOptions()
    with gc_paused():
        redactor = redactor_for(options)
        # The trace is redacted before anything else, as it always was (the redactor's order is its output's).
        trace, triage = _redact_and_triage(trace, options, redactor)
        render = options.render
        counts: dict[str, int] = {}
        if redactor is not None:
            render = _redacted_render(render, redactor)
            counts = redactor.stats.as_dict()
        documents = render_with_triage(trace, triage, render, verdict=verdict)
        return Prepared(trace, triage, documents, counts, options.redact, render=render, verdict=verdict)


def _redact_and_triage(trace: Trace, options: PrepareOptions, redactor: Redactor | None) -> tuple[Trace, TriageReport]:
    if redactor is not None:
        trace = redactor.trace(trace)
    return trace, run_triage(trace, eval_threshold=options.eval_threshold)


def triage_as_prepared(trace: Trace, options: PrepareOptions | None = None) -> TriageReport:
    """The triage ``prepare`` gives ``trace`` (redacted first, with the same options), without
    rendering its documents: what the labelled benchmarks score, at a fifth of the cost."""
    options = options or PrepareOptions()
    return _redact_and_triage(trace, options, redactor_for(options))[1]


def enrich(
    prepared: Prepared,
    options: PrepareOptions | None = None,
    *,
    baseline: Trace | None = None,
    baseline_source: str = "",
    changes: ChangeSet | None = None,
) -> Prepared:
    """``prepared`` with a passing run compared and the PR's changes ranked; the trace is not redacted again.

    The baseline is summarized (its steps, prompt, tools) and let go: only the summary is
    redacted, as are the changes, and what that replaced is added to the trace's counts. The
    divergence joins the triage as one more finding; baseline.md and changes.md join the documents.
    """
    options = options or PrepareOptions()
    if baseline is None and changes is None:
        return prepared
    with gc_paused():
        summary = summarize(baseline) if baseline is not None else None
        baseline = None
        redactor = redactor_for(options)
        counts = dict(prepared.redaction_counts)
        if changes is not None:  # paths' invisible characters written out, redaction on or off
            changes = redact_changes(changes, redactor.text if redactor is not None else str)
        if redactor is not None:
            summary = redact_summary(summary, redactor.text, redactor.value) if summary is not None else None
            for kind, n in redactor.stats.as_dict().items():
                counts[kind] = counts.get(kind, 0) + n
        trace, triage = prepared.trace, prepared.triage
        compared = compare_runs(trace, summary, source=baseline_source or "baseline") if summary is not None else None
        if compared is not None and compared.comparison.divergence is not None:
            triage = extend_triage(triage, trace, compared.comparison.divergence)
        comparison = compared.comparison if compared else prepared.comparison
        ranked = rank_for_trace(changes, trace, triage, comparison) if changes is not None else None
        extra = [d for d in (compared.document if compared else None, ranked.document if ranked else None) if d]
        documents = render_with_triage(trace, triage, prepared.render, extra, prepared.verdict)
        suspects = ranked.suspects if ranked else prepared.suspects
        return replace(
            prepared,
            triage=triage,
            documents=documents,
            redaction_counts=counts,
            comparison=comparison,
            suspects=suspects,
        )


def add_fixes(prepared: Prepared, changes: ChangeSet, options: PrepareOptions) -> Prepared:
    """``prepared`` with the fixes its claimed change allows, checked against ``options.workspace``.

    Built from the changes as read (a redacted line cannot be restored); a fix whose text does not
    redact to itself is dropped, so no secret is ever written back."""
    redactor = redactor_for(options)
    fixes, notes = propose_fixes(
        prepared.top_suspect, changes.hunks, options.workspace, redactor.text if redactor is not None else str
    )
    patch = fix_patch(fixes, options.workspace) if fixes and options.workspace is not None else ""
    return replace(prepared, fixes=fixes, fix_notes=notes, fix_patch=patch)


def add_model_fixes(
    prepared: Prepared, proposed: list[ProposedFix], changes: ChangeSet | None, options: PrepareOptions
) -> Prepared:
    """``prepared`` with the synthesis stage's fixes that pass every check beside the fixes it had, and a
    note for each one dropped; the patch made again with them all."""
    if not proposed:
        return prepared
    redactor = redactor_for(options)
    fixes, notes = check_model_fixes(
        proposed,
        changes.hunks if changes is not None else [],
        options.workspace,
        redactor.text if redactor is not None else str,
        prepared.fixes,
    )
    every = numbered([*prepared.fixes, *fixes])
    patch = fix_patch(every, options.workspace) if fixes and options.workspace is not None else prepared.fix_patch
    return replace(prepared, fixes=every, fix_notes=[*prepared.fix_notes, *notes], fix_patch=patch)


def _redacted_render(render: RenderOptions, redactor: Redactor) -> RenderOptions:
    if not (render.expectations or render.assertion):
        return render
    return replace(
        render,
        expectations=redactor.text(render.expectations) if render.expectations else None,
        assertion=redactor.text(render.assertion) if render.assertion else None,
    )


def render_with_triage(
    trace: Trace,
    triage: TriageReport,
    options: RenderOptions | None = None,
    extra: Sequence[Document] = (),
    verdict: str | None = None,
) -> DocumentSet:
    """The documents: triage decides which runs keep their full sections and adds triage.md (which
    says "failure" by the run's ``verdict``); ``extra`` (baseline.md, changes.md) comes last."""
    options = options or RenderOptions()
    triage_md = render_triage_md(triage, options, verdict)
    return render_documents(trace, options, focus=triage_focus(trace, triage), extra=[triage_md, *extra])
