"""``changes.md``: the pull request's hunks as citable sections C01…, the suspects first."""

from __future__ import annotations

from refinery.changes.model import ChangeSet, Suspect
from refinery.documents.model import Document, Section, assemble_document
from refinery.documents.render import document_header
from refinery.documents.text import fence

MAX_SECTIONS = 60
"""Hunks given a section (the best-ranked); the others are counted in the header."""


def render_changes_md(changes: ChangeSet, suspects: list[Suspect], budget: int) -> Document:
    by_id = {h.change_id: h for h in changes.hunks}
    sections = []
    for rank, suspect in enumerate(suspects[:MAX_SECTIONS], start=1):
        hunk = by_id[suspect.change_id]
        where = f"{hunk.path} L{suspect.start_line}–L{suspect.end_line}"
        renamed = f" (renamed from {hunk.old_path})" if hunk.old_path else ""
        body = f"rank {rank} · score {suspect.score:.2f} · {suspect.reason}{renamed}\n\n" + fence(hunk.text)
        sections.append(
            Section(
                id=hunk.change_id,
                heading=f"{hunk.change_id} · {where}",
                body=body,
                priority=0 if rank <= 5 else 2,
                stub=f"rank {rank} · score {suspect.score:.2f} · {suspect.reason}",
            )
        )
    lines = [
        f"changes: {changes.source} · {changes.files} files · {len(changes.hunks)} hunks",
        "Each section is one hunk of the pull request, best-ranked against the failure first; cite it as C01….",
    ]
    if len(suspects) > MAX_SECTIONS:
        lines.append(f"{len(suspects) - MAX_SECTIONS} lower-ranked hunks are not shown.")
    if changes.skipped:
        shown = "; ".join(changes.skipped[:20]) + (
            f"; and {len(changes.skipped) - 20} more" if len(changes.skipped) > 20 else ""
        )
        lines.append(f"skipped: {shown}")
    lines += changes.notes
    return assemble_document(
        "changes.md", "changes", document_header("The pull request's changes", lines), sections, budget
    )
