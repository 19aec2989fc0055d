"""Fixes as data: a replacement for lines of the pull request's head, checked before anyone sees it.

Two sources. The synthesis stage's fixes (``model``) are checked exactly as written: lines that do
not match the checkout make a wrong fix, dropped with a note, never repaired. The one fix made
without a model: when the change claimed as *likely* behind the failure removed or
reworded lines of the prompt the trace used, put them back (``revert-suspect``). A fix is shown
only after it passes every check: its file is in the checkout, the lines it replaces are there as
the diff says, its text redacts to itself (a removed line that held a secret is never restored
in the clear, nor as ``[REDACTED]``), and it stays small. A fix that fails one is dropped with a
note in the pack, never posted.
"""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from refinery.changes.model import Hunk, Suspect
from refinery.changes.verify import Verification
from refinery.words import plural


@dataclass(frozen=True)
class ProposedFix:
    """A fix the synthesis stage proposed (``analysis.schemas.ModelFix``), not yet checked."""

    hypothesis: str
    """``H1: Restore the confirmation rule``: the hypothesis it implements."""
    path: str
    start_line: int
    end_line: int
    original: list[str]
    replacement: list[str]


MAX_FIX_LINES = 60
"""Lines a fix may replace or write: a suggestion a reviewer reads in one look."""
MAX_FIX_CHARS = 6_000


class Fix(BaseModel):
    """One edit to the pull request's head (the pack's ``fixes``, 1.5)."""

    id: str = ""
    """``F1``, ``F2``, … in the order shown (1.6): what ``refinery verify --fix-id`` takes."""
    path: str
    """The file, relative to the repository root."""
    start_line: int
    """The first line replaced (1-based, in the pull request's head)."""
    end_line: int
    """The last line replaced (inclusive)."""
    original: list[str]
    """The lines there now, as the check found them."""
    replacement: list[str]
    """The lines that take their place."""
    hypothesis: str
    """What the fix tries, in one sentence."""
    source: Literal["revert-suspect", "model"]
    """``revert-suspect``: made without a model, from the claimed change; ``model``: the synthesis stage's."""
    change_id: str | None = None
    """The hunk of changes.md it undoes (revert-suspect)."""
    in_diff: bool = False
    """Its lines are inside the pull request's diff, so it can be suggested on them."""
    verification: Verification | None = None
    """What re-running the eval without and with it said, when verification was asked for."""


def _sides(hunk: Hunk) -> tuple[list[str], list[str]] | None:
    """The hunk's new and old lines in order, or None when its text was cut (too large to restore)."""
    body = hunk.text.split("\n")[1:]
    new = [line[1:] for line in body if line[:1] in (" ", "+")]
    old = [line[1:] for line in body if line[:1] in (" ", "-")]
    if len(new) != hunk.new_lines or len(old) != hunk.old_lines:
        return None
    return new, old


def _trimmed(start: int, original: list[str], replacement: list[str]) -> tuple[int, list[str], list[str]]:
    """Drop the lines both sides share at either end, keeping one line to anchor a pure insertion on
    (the end first: restored lines then follow the line before them, as a reader expects)."""
    while len(original) > 1 and replacement and original[-1] == replacement[-1]:
        original, replacement = original[:-1], replacement[:-1]
    while len(original) > 1 and replacement and original[0] == replacement[0]:
        original, replacement, start = original[1:], replacement[1:], start + 1
    return start, original, replacement


def revert_fix(hunk: Hunk, head: list[str]) -> Fix | str:
    """Put back what ``hunk`` removed, as a fix on ``head`` (the file's lines now); a reason when it can't."""
    sides = _sides(hunk)
    if sides is None:
        return f"{hunk.change_id} is too large to restore from the diff"
    new, old = sides
    if hunk.new_lines > 0:
        start, original, replacement = hunk.new_start, new, old
    elif hunk.new_start == 0:  # removed at the very top: anchored on the first line
        if not head:
            return f"{hunk.path} is empty in the checkout: nothing to anchor the restored lines on"
        start, original, replacement = 1, head[:1], [*old, head[0]]
    else:  # a removal without context: anchored on the line before it
        line = head[hunk.new_start - 1] if hunk.new_start <= len(head) else ""
        start, original, replacement = hunk.new_start, [line], [line, *old]
    start, original, replacement = _trimmed(start, original, replacement)
    # What it does, in the reader's terms: why the change is blamed is said beside the suspect already.
    did = f"{hunk.change_id} took out of" if not hunk.added else f"{hunk.change_id} reworded in"
    return Fix(
        # The lines replaced are the hunk's own new side (trimmed), which the diff shows; a removal
        # without context has no new side, and its anchor line is outside the diff.
        in_diff=hunk.new_lines > 0,
        path=hunk.path,
        start_line=start,
        end_line=start + len(original) - 1,
        original=original,
        replacement=replacement,
        hypothesis=f"Restore the {'line' if len(hunk.removed) == 1 else plural(len(hunk.removed), 'line')} {did} {hunk.path}",
        source="revert-suspect",
        change_id=hunk.change_id,
    )


def head_lines(root: Path, path: str) -> list[str] | str:
    """The file's lines in the checkout, or why they cannot be read (missing, outside it, not text)."""
    base = root.resolve()
    candidate = (base / path).resolve()
    if base not in candidate.parents or not candidate.is_file():
        return f"{path} is not a file in the checkout"
    try:
        return candidate.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return f"{path} cannot be read as text"


def check_fix(fix: Fix, head: list[str], redact: Callable[[str], str]) -> str | None:
    """Why ``fix`` must not be shown, or None when it passes every check."""
    if fix.start_line < 1 or head[fix.start_line - 1 : fix.end_line] != fix.original:
        return f"lines {fix.start_line}–{fix.end_line} of {fix.path} in the checkout are not the lines it replaces"
    written = "\n".join(fix.replacement)
    if redact(written) != written or "[REDACTED:" in written:
        return f"the lines it would restore to {fix.path} hold a secret"
    if max(len(fix.original), len(fix.replacement)) > MAX_FIX_LINES or len(written) > MAX_FIX_CHARS:
        return f"it is larger than {MAX_FIX_LINES} lines or {MAX_FIX_CHARS:,} characters"
    return None


def propose_fixes(
    suspect: Suspect | None, hunks: list[Hunk], root: Path | None, redact: Callable[[str], str]
) -> tuple[list[Fix], list[str]]:
    """The revert-suspect fix for a likely suspect that took out prompt lines, checked; and why any
    fix was dropped."""
    if suspect is None or suspect.band != "likely" or root is None:
        return [], []
    hunk = next((h for h in hunks if h.change_id == suspect.change_id), None)
    if hunk is None or not hunk.removed or not any(u.startswith("system prompt") for u in suspect.used):
        return [], []
    head = head_lines(root, hunk.path)
    if isinstance(head, str):
        return [], [f"The fix restoring {hunk.change_id} was dropped: {head}."]
    fix = revert_fix(hunk, head)
    if isinstance(fix, str):
        return [], [f"The fix restoring {hunk.change_id} was dropped: {fix}."]
    problem = check_fix(fix, head, redact)
    if problem is not None:
        return [], [f"The fix restoring {hunk.change_id} was dropped: {problem}."]
    return numbered([fix]), []


def _in_diff(fix: Fix, hunks: list[Hunk]) -> bool:
    """Whether every line the fix replaces is a line of a hunk's new side (so it can be suggested there)."""
    return any(
        h.path == fix.path  # a hunk that only removes spans no new line, so the range below holds none
        and h.new_start <= fix.start_line
        and fix.end_line < h.new_start + h.new_lines
        for h in hunks
    )


def _overlap(a: Fix, b: Fix) -> bool:
    return a.start_line <= b.end_line and b.start_line <= a.end_line


def check_model_fixes(
    proposed: list[ProposedFix], hunks: list[Hunk], root: Path | None, redact: Callable[[str], str], known: list[Fix]
) -> tuple[list[Fix], list[str]]:
    """The synthesis stage's fixes that pass every check, and why each other one was dropped.

    A model's fix is shown exactly as written or not at all: lines that do not match the checkout are
    a wrong fix, not one to repair. One that repeats a fix already made is left out (said once); one
    that overlaps another's lines is dropped, since the two cannot both be applied."""
    fixes: list[Fix] = []
    notes: list[str] = []
    for index, item in enumerate(proposed, start=1):
        label = f"The model's fix {index} ({item.hypothesis.split(':')[0]}, {item.path})"
        if root is None:
            notes.append(f"{label} was dropped: there is no checkout to check it against.")
            continue
        fix = Fix(
            path=item.path,
            start_line=item.start_line,
            end_line=item.end_line,
            original=list(item.original),
            replacement=list(item.replacement),
            hypothesis=item.hypothesis,
            source="model",
        )
        head = head_lines(root, fix.path)
        problem = head if isinstance(head, str) else check_fix(fix, head, redact)
        if problem is None and (not fix.original or fix.end_line - fix.start_line + 1 != len(fix.original)):
            problem = "its line range and its original lines disagree (a fix replaces at least one line)"
        if problem is None and fix.original == fix.replacement:
            problem = "it changes nothing"
        if problem is not None:
            notes.append(f"{label} was dropped: {problem}.")
            continue
        same = [f for f in [*known, *fixes] if f.path == fix.path and _overlap(f, fix)]
        if any(
            (f.start_line, f.end_line, f.replacement) == (fix.start_line, fix.end_line, fix.replacement) for f in same
        ):
            notes.append(f"{label} repeats a fix already made.")
            continue
        if same:
            notes.append(f"{label} was dropped: it overlaps the lines of another fix.")
            continue
        fixes.append(fix.model_copy(update={"in_diff": _in_diff(fix, hunks)}))
    return fixes, notes


def numbered(fixes: list[Fix]) -> list[Fix]:
    """The fixes with their ids, ``F1`` first."""
    return [fix.model_copy(update={"id": f"F{n}"}) for n, fix in enumerate(fixes, start=1)]


def _applied(raw: str, fixes: list[Fix]) -> str:
    """``raw`` with the fixes made, keeping whether it ended with a newline."""
    lines = raw.splitlines()
    for fix in sorted(fixes, key=lambda f: -f.start_line):
        lines[fix.start_line - 1 : fix.end_line] = fix.replacement
    return "\n".join(lines) + ("\n" if raw.endswith("\n") else "")


def _file_diff(path: str, before: str, after: str) -> str:
    """One file's unified diff as git writes it (a missing final newline marked), so `git apply` takes it."""
    with tempfile.TemporaryDirectory(prefix="refinery-fix-") as scratch:
        old, new = Path(scratch) / "a", Path(scratch) / "b"
        old.write_text(before, encoding="utf-8")
        new.write_text(after, encoding="utf-8")
        try:
            done = subprocess.run(
                ["git", "diff", "--no-index", "--no-color", "--no-ext-diff", str(old), str(new)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
    if done is None or done.returncode not in (0, 1):  # no git: difflib, for files that end in a newline
        lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"a/{path}", f"b/{path}")
        return "".join(lines)
    body = done.stdout.split("\n@@", 1)
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@{body[1]}" if len(body) == 2 else ""


def fix_patch(fixes: list[Fix], root: Path) -> str:
    """The fixes as one unified diff that ``git apply`` takes, made against the checkout's files."""
    out: list[str] = []
    for path in sorted({f.path for f in fixes}):
        candidate = (root / path).resolve()
        if root.resolve() not in candidate.parents or not candidate.is_file():
            continue
        raw = candidate.read_text(encoding="utf-8")
        out.append(_file_diff(path, raw, _applied(raw, [f for f in fixes if f.path == path])))
    return "".join(out)
