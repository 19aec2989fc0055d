"""The pull request's changes in the report and the comment: the likely culprit, and the ranking."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from refinery.changes.fix import Fix
from refinery.changes.model import Suspect
from refinery.report.sanitize import fenced, inline_code, prose, table_cell

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


def changes_section(suspects: list[Suspect], fixes: Sequence[Fix] = (), fix_notes: Sequence[str] = ()) -> list[str]:
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
    out.append("")
    if verification_line(fixes):
        out += [verification_line(fixes), ""]
    if fixes:
        out += [*fix_block(list(fixes)), ""]
    out += [f"> {prose(note, 300)}" for note in fix_notes]
    return [*out, ""] if fix_notes else out


_SOURCE = {"revert-suspect": "puts back what the claimed change took out", "model": "proposed by the model"}


def _state(fix: Fix) -> str:
    checked = fix.verification
    return f"{checked.verdict}: your eval {checked.sentence}" if checked else "not verified"


def _lead_fix(fixes: Sequence[Fix]) -> Fix:
    """The fix the summary line names: a verified one first, then one not refuted."""
    rank = {"verified": 0, None: 1, "inconclusive": 2, "refuted": 3}
    return min(fixes, key=lambda f: rank[f.verification.verdict if f.verification else None])


def fix_block(fixes: list[Fix]) -> list[str]:
    """The fixes as a collapsed diff a reviewer can read and apply by hand (``fix.patch`` holds the same),
    each with where it came from and what re-running the eval said of it."""
    if not fixes:
        return []
    first = _lead_fix(fixes)
    where = f"{inline_code(first.path, 120)} L{first.start_line}"
    more = f" and {len(fixes) - 1} more" if len(fixes) > 1 else ""
    out = [
        "<details>",
        f"<summary>Suggested fix: {prose(first.hypothesis, 200)} ({where}{more}; {_state(first)})</summary>",
        "",
    ]
    for fix in fixes:
        lines = difflib.unified_diff(
            fix.original, fix.replacement, fix.path, fix.path, lineterm="", n=len(fix.original)
        )
        body = [line for line in lines if not line.startswith(("---", "+++", "@@"))]  # "from line N" says where
        label = f"**{fix.id}** " if fix.id else ""
        out += [
            f"{label}{inline_code(fix.path, 120)} from line {fix.start_line} ({_SOURCE[fix.source]}; {_state(fix)}):",
            "",
            fenced("\n".join(body)),
            "",
        ]
    out += ["`git apply fix.patch` in the checkout applies them (the run's artifacts hold it).", "</details>"]
    return out


def verification_line(fixes: Sequence[Fix]) -> str:
    """The comment's lead on a fix that was re-run: ``**Verified fix:** … passes 3 of 3, 0 of 3 without.``"""
    tried = [f for f in fixes if f.verification is not None]
    if not tried:
        return ""
    checked = _lead_fix(tried)
    assert checked.verification is not None
    result = checked.verification
    what = prose(checked.hypothesis, 200).rstrip(".")
    if result.verdict == "verified":
        return f"**Verified fix:** {what}: your eval {result.sentence}."
    if result.verdict == "refuted":
        return f"**The suggested fix did not work:** your eval {result.sentence}."
    return f"**The suggested fix is not confirmed:** your eval {result.sentence} ({prose(result.note, 300)})."
