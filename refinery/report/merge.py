"""Merging the packs of a fan-out (one matrix job per trace) into one grouped comment."""

from __future__ import annotations

import glob
from pathlib import Path

from pydantic import ValidationError

from refinery.analysis.pack import HypothesisPack
from refinery.errors import ConfigError
from refinery.report.comment import TraceEntry
from refinery.report.sanitize import fenced, inline_code, prose, sanitize_markdown


def _fallback_report(pack: HypothesisPack) -> str:
    # A pack without its report.md beside it: enough to read from the pack alone.
    lines = [f"# Refinery report: {inline_code(pack.trace.name or pack.trace.id, 80)}", ""]
    if pack.summary:
        lines += [f"**Summary.** {prose(pack.summary, 1500)}", ""]
    if pack.hypotheses:
        lines += ["## Fix hypotheses", ""]
        for h in pack.hypotheses:
            lines += [
                f"### {prose(h.id, 8)} · {prose(h.title, 160)}",
                "",
                prose(h.rationale, 800),
                "",
                fenced(h.proposed_change.after, 2000),
                "",
            ]
    if pack.triage.findings:
        lines += (
            ["## Findings", ""]
            + [
                f"- {f.id} {f.severity} {f.category} at {f.section}: {prose(f.evidence, 200)}"
                for f in pack.triage.findings[:20]
            ]
            + [""]
        )
    return "\n".join(lines)


def load_entries(patterns: list[str], root: Path) -> list[TraceEntry]:
    """Every hypothesis-pack.json named by ``patterns`` (files, directories or globs under ``root``)."""
    files: list[Path] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(root / pattern)
        for match in sorted(glob.glob(full, recursive=True)) or []:
            path = Path(match)
            files.extend(sorted(path.rglob("hypothesis-pack.json")) if path.is_dir() else [path])
    if not files:
        raise ConfigError(
            f"No Hypothesis Pack found in {', '.join(patterns)} (under {root}).",
            hint="Point merge-from at the downloaded artifacts (directories or hypothesis-pack.json files).",
        )
    entries = []
    for path in dict.fromkeys(files):
        try:
            pack = HypothesisPack.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError) as exc:
            raise ConfigError(f"{path} is not a readable Hypothesis Pack ({str(exc).splitlines()[0][:200]}).") from None
        # report.md comes from another job's artifacts, which the code under test could have
        # written to: it is untrusted Markdown like any trace text.
        report = path.with_name("report.md")
        text = sanitize_markdown(report.read_text(encoding="utf-8")) if report.is_file() else _fallback_report(pack)
        entries.append(TraceEntry(pack=pack, report=text))
    return entries
