"""The steps every analysis shares: redact, triage, render; and the offline artifacts.

Entry points build the options; nothing here reads the environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from refinery import __version__
from refinery.documents.redact import Redactor
from refinery.documents.render import DocumentSet, RenderOptions, documents_manifest, render_documents
from refinery.perf import gc_paused
from refinery.report.mermaid import render_mermaid
from refinery.report.offline import ReportContext, render_offline_report
from refinery.trace.model import Trace
from refinery.triage import TriageReport, run_triage


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


def prepare(trace: Trace, options: PrepareOptions | None = None) -> Prepared:
    """Redact first, so that triage evidence and documents only ever see redacted text."""
    with gc_paused():
        return _prepare(trace, options)


def _prepare(trace: Trace, options: PrepareOptions | None) -> Prepared:
    options = options or PrepareOptions()
    counts: dict[str, int] = {}
    if options.redact:
        redactor = Redactor(
            pii=options.redact_pii, extra_patterns=options.redact_patterns, known_secrets=options.known_secrets
        )
        trace = redactor.trace(trace)
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
    triage = run_triage(trace, eval_threshold=options.eval_threshold)
    documents = render_documents(trace, triage, render)
    return Prepared(trace, triage, documents, counts, options.redact)


@dataclass
class Artifacts:
    """Where the offline artifacts were written."""

    out_dir: Path
    report: Path
    triage_json: Path
    documents: list[Path]


def triage_payload(prepared: Prepared) -> dict[str, object]:
    """triage.json: the findings and origin plus how they were made."""
    return {
        "refinery_version": __version__,
        "trace": {"id": prepared.trace.id, "source": prepared.trace.source, "url": prepared.trace.url},
        "origin": prepared.triage.origin.model_dump() if prepared.triage.origin else None,
        "findings": [f.model_dump() for f in prepared.triage.findings],
        "by_category": prepared.triage.by_category,
        "runs": prepared.triage.runs,
        "errored_runs": prepared.triage.errored_runs,
        "redaction": {"enabled": prepared.redaction_enabled, "counts": prepared.redaction_counts},
        "warnings": [w.model_dump() for w in prepared.trace.warnings],
        "documents": documents_manifest(prepared.documents),
        "budget_notes": prepared.documents.notes,
    }


def write_offline_artifacts(prepared: Prepared, out_dir: Path, *, model_note: str | None) -> Artifacts:
    """report.md, triage.json, run-tree.mmd and documents/*.md under ``out_dir``."""
    docs_dir = out_dir / "documents"
    docs_dir.mkdir(parents=True, exist_ok=True)
    doc_paths = []
    for document in prepared.documents.documents:
        path = docs_dir / document.name
        path.write_text(document.text, encoding="utf-8")
        doc_paths.append(path)
    context = ReportContext(
        redaction_counts=prepared.redaction_counts,
        redaction_enabled=prepared.redaction_enabled,
        budget_notes=prepared.documents.notes,
        model_note=model_note,
    )
    report = out_dir / "report.md"
    report.write_text(render_offline_report(prepared.trace, prepared.triage, context), encoding="utf-8")
    (out_dir / "run-tree.mmd").write_text(render_mermaid(prepared.trace, prepared.triage) + "\n", encoding="utf-8")
    triage_json = out_dir / "triage.json"
    triage_json.write_text(json.dumps(triage_payload(prepared), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Artifacts(out_dir, report, triage_json, doc_paths)
