"""The pull request's changes in the report and the comment: the likely culprit, and the ranking."""

from __future__ import annotations

from refinery.changes.model import Suspect
from refinery.report.sanitize import inline_code, prose, table_cell

ROWS = 8


def _where(suspect: Suspect) -> str:
    lines = f"L{suspect.start_line}" + (f"–L{suspect.end_line}" if suspect.end_line != suspect.start_line else "")
    return f"{inline_code(suspect.path, 120)} {lines}"


def suspect_line(suspect: Suspect) -> str:
    """ "Likely from your change to `prompts/agent.md` L18–L19 (removed: …)"."""
    if suspect.removed:
        what = "removed: " + " / ".join(inline_code(r, 100) for r in suspect.removed[:2])
    else:
        what = "added: " + " / ".join(inline_code(a, 100) for a in suspect.added[:2])
    return f"**Likely from your change to {_where(suspect)}** ({what}): {prose(suspect.reason, 400)}."


def changes_section(suspects: list[Suspect], threshold: float | None) -> list[str]:
    if not suspects:
        return []
    out = ["## Changes in this pull request", ""]
    if threshold is not None and suspects[0].score >= threshold:
        out += [suspect_line(suspects[0]), ""]
    else:
        out += [f"No change clears the suspect threshold ({threshold or 0:.2f}): none is claimed as the cause.", ""]
    out += ["| Change | Where | Score | Why |", "|---|---|---:|---|"]
    for suspect in suspects[:ROWS]:
        out.append(
            f"| {suspect.change_id} | {_where(suspect)} | {suspect.score:.2f} | {table_cell(suspect.reason, 200)} |"
        )
    if len(suspects) > ROWS:
        out.append(f"| | … {len(suspects) - ROWS} more in changes.md | | |")
    return [*out, ""]
