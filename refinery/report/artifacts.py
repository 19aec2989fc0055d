"""Everything an analysis writes into its output directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from refinery import __version__
from refinery.analysis.grouping import group_failures
from refinery.analysis.orchestrator import AnalysisResult
from refinery.documents.render import documents_manifest
from refinery.pipeline import Prepared
from refinery.report.full import render_report
from refinery.report.mermaid import render_mermaid


@dataclass
class Artifacts:
    """Where each artifact was written."""

    out_dir: Path
    report: Path
    triage_json: Path
    pack: Path
    documents: list[Path]
    stages: list[Path]


def triage_payload(prepared: Prepared) -> dict[str, Any]:
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


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def write_artifacts(result: AnalysisResult, out_dir: Path, *, now: datetime | None = None) -> Artifacts:
    """documents/*.md, triage.json, run-tree.mmd, stageN.json, hypothesis-pack.json, report.md, and
    fix.patch when a fix passed its checks."""
    prepared = result.prepared
    docs_dir = out_dir / "documents"
    docs_dir.mkdir(parents=True, exist_ok=True)
    doc_paths = []
    for document in prepared.documents.documents:
        path = docs_dir / document.name
        path.write_text(document.text, encoding="utf-8")
        doc_paths.append(path)
    (out_dir / "run-tree.mmd").write_text(render_mermaid(prepared.trace, prepared.triage) + "\n", encoding="utf-8")
    triage_json = _write_json(out_dir / "triage.json", triage_payload(prepared))
    stage_paths = [
        _write_json(out_dir / f"stage{record.number}.json", record.model_dump(mode="json"))
        for record in result.stages
        if record.status != "skipped"
    ]
    pack_model = result.pack(now=now)
    pack_model.groups = group_failures([pack_model])
    pack = _write_json(out_dir / "hypothesis-pack.json", pack_model.model_dump(mode="json"))
    if prepared.fix_patch:  # `git apply fix.patch` in the checkout puts the claimed change's lines back
        (out_dir / "fix.patch").write_text(prepared.fix_patch, encoding="utf-8")
    report = out_dir / "report.md"
    report.write_text(render_report(result), encoding="utf-8")
    return Artifacts(out_dir, report, triage_json, pack, doc_paths, stage_paths)
