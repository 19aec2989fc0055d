"""The pull request's changes in the report and the comment: the likely culprit, and the ranking."""

from __future__ import annotations

from refinery.changes.model import Suspect
from refinery.report.sanitize import inline_code, prose, table_cell

ROWS = 8


def _where(suspect: Suspect) -> str:
    lines = f"L{suspect.start_line}" + (f"–L{suspect.end_line}" if suspect.end_line != suspect.start_line else "")
    return f"{inline_code(suspect.path, 120)} {lines}"


def suspect_line(suspect: Suspect) -> str:
    """ "Likely from your change to `prompts/agent.md` L18–L19 (removed: …): why." or "Possibly related: …",
    by the suspect's band; a tie names every tied change."""
    if suspect.removed:
        what = "removed: " + " / ".join(inline_code(r, 100) for r in suspect.removed[:2])
    else:
        what = "added: " + " / ".join(inline_code(a, 100) for a in suspect.added[:2])
    lead = "Likely from your change to" if suspect.band == "likely" else "Possibly related: your change to"
    tie = (
        f" (tied with {', '.join(suspect.tied_with[:3])}: the evidence does not tell them apart)"
        if suspect.tied_with
        else ""
    )
    why = "; ".join(suspect.evidence) or suspect.reason
    return f"**{lead} {_where(suspect)}**{tie} ({what}): {prose(why, 400)}."


def changes_section(suspects: list[Suspect]) -> list[str]:
    if not suspects:
        return []
    out = ["## Changes in this pull request", ""]
    if suspects[0].band != "none":
        out += [suspect_line(suspects[0]), ""]
    else:
        out += [
            "No change is claimed as the cause: none matches the failure's own words (the action that went wrong, "
            "the values it got wrong, what was expected) strongly enough.",
            "",
        ]
    out += ["| Change | Where | Score | Claim | Why |", "|---|---|---:|---|---|"]
    for suspect in suspects[:ROWS]:
        out.append(
            f"| {suspect.change_id} | {_where(suspect)} | {suspect.score:.2f} | {suspect.band} | "
            f"{table_cell(suspect.reason, 200)} |"
        )
    if len(suspects) > ROWS:
        out.append(f"| | … {len(suspects) - ROWS} more in changes.md | | | |")
    return [*out, ""]
