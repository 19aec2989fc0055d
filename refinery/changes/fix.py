"""Fixes as data: a replacement for lines of the pull request's head, checked before anyone sees it.

The one fix made without a model: when the change claimed as *likely* behind the failure removed or
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
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from refinery.changes.model import Hunk, Suspect
from refinery.changes.verify import Verification

MAX_FIX_LINES = 60
"""Lines a fix may replace or write: a suggestion a reviewer reads in one look."""
MAX_FIX_CHARS = 6_000


class Fix(BaseModel):
    """One edit to the pull request's head (the pack's ``fixes``, 1.5)."""

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


def revert_fix(hunk: Hunk, suspect: Suspect, head: list[str]) -> Fix | str:
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
    words = "; ".join(suspect.evidence[:1]) or suspect.reason
    last = hunk.new_start + hunk.new_lines - 1
    return Fix(
        in_diff=hunk.new_lines > 0 and hunk.new_start <= start and start + len(original) - 1 <= last,
        path=hunk.path,
        start_line=start,
        end_line=start + len(original) - 1,
        original=original,
        replacement=replacement,
        hypothesis=f"Restore the prompt lines {hunk.change_id} took out: {words}.",
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
        return f"lines {fix.start_line}–{fix.end_line} of {fix.path} are not what the pull request's diff says"
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
    fix = revert_fix(hunk, suspect, head)
    if isinstance(fix, str):
        return [], [f"The fix restoring {hunk.change_id} was dropped: {fix}."]
    problem = check_fix(fix, head, redact)
    if problem is not None:
        return [], [f"The fix restoring {hunk.change_id} was dropped: {problem}."]
    return [fix], []


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
