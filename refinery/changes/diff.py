"""Unified diffs (``git diff``, a ``.diff`` file, the GitHub API's per-file patches) as hunks.

Binary files, vendored and generated files (``vendor/``, ``node_modules/``, lock files,
minified bundles) are skipped and named; a file past ``MAX_FILE_LINES`` changed lines keeps its
first hunks; past ``MAX_FILES`` files the rest are named in a note. Nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace

from refinery.changes.model import ChangeSet, Hunk
from refinery.documents.ids import numbered
from refinery.lines import visible

MAX_FILES = 3_000
"""GitHub's pull request files API lists at most 3,000 files; a diff is read to the same cap."""
MAX_FILE_LINES = 5_000
"""Changed lines kept per file."""
MAX_HUNK_TEXT = 6_000
"""Characters of a hunk kept for changes.md."""
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_VENDORED = re.compile(
    r"(^|/)(vendor|vendored|third_party|node_modules|dist|build|\.venv|site-packages)/"
    r"|(^|/)(package-lock\.json|yarn\.lock|pnpm-lock\.yaml|poetry\.lock|uv\.lock|Cargo\.lock|go\.sum|Gemfile\.lock)$"
    r"|\.min\.(js|css)$|\.(png|jpe?g|gif|ico|pdf|zip|gz|whl|so|dylib|dll|exe|woff2?|ttf)$"
)


def vendored(path: str) -> bool:
    return bool(_VENDORED.search(path))


def _file_path(line: str) -> str | None:
    """``+++ b/path`` or ``--- a/path`` → ``path`` (None for /dev/null)."""
    name = line[4:].strip().split("\t")[0]
    if name == "/dev/null":
        return None
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    return name[2:] if name[:2] in ("a/", "b/") else name


def _binary_name(pair: str) -> str:
    """The file of git's ``Binary files A and B differ``: B, or A when B is /dev/null (a deleted file).
    A name may hold " and " (even " and b/") itself: an unchanged name is the one whose two halves
    match; otherwise the sides are found by what starts them (``b/``, ``/dev/null``)."""
    half = (len(pair) - len(" and ")) // 2
    if pair[:half].removeprefix("a/") == pair[half + len(" and ") :].removeprefix("b/"):
        return pair[half + len(" and ") :]
    old, deleted, _ = pair.rpartition(" and /dev/null")
    if deleted:
        return old
    _, new_side, after = pair.rpartition(" and b/")
    return "b/" + after if new_side else pair.split(" and ", 1)[-1]


class _Reader:
    def __init__(self, source: str) -> None:
        self.changes = ChangeSet(source=source)
        self._number = 0

    def _next_id(self) -> str:
        self._number += 1
        return numbered("C", self._number)

    def add_patch(self, path: str, patch: Iterable[str], old_path: str | None = None) -> None:
        """One file's hunks (its ``@@`` blocks)."""
        changes = self.changes
        if changes.files >= MAX_FILES:
            if len(changes.notes) == 0 or not changes.notes[-1].startswith("Past "):
                changes.notes.append(f"Past {MAX_FILES:,} files the diff was not read further.")
            changes.skipped.append(f"{path}: past the {MAX_FILES:,}-file cap")
            return
        if vendored(path):
            changes.skipped.append(f"{path}: vendored or generated")
            return
        changes.files += 1
        hunk: Hunk | None = None
        kept = 0
        line_no = 0
        text: list[str] = []
        for line in patch:
            match = _HUNK.match(line)
            if match:
                self._close(hunk, text)
                if kept >= MAX_FILE_LINES:
                    changes.skipped.append(f"{path}: hunks past {MAX_FILE_LINES:,} changed lines")
                    hunk = None
                    break
                old_start, old_n, new_start, new_n = match.groups()
                hunk = Hunk(
                    change_id=self._next_id(),
                    path=path,
                    old_start=int(old_start),
                    old_lines=int(old_n) if old_n is not None else 1,
                    new_start=int(new_start),
                    new_lines=int(new_n) if new_n is not None else 1,
                    old_path=old_path if old_path != path else None,
                )
                text = [line]
                line_no = hunk.new_start
                continue
            if hunk is None:
                continue
            if line.startswith("+"):
                hunk.added.append(line[1:])
                hunk.changed.append(line_no)
                line_no += 1
                kept += 1
            elif line.startswith("-"):
                hunk.removed.append(line[1:])
                hunk.changed.append(line_no)
                kept += 1
            elif line.startswith(" "):
                line_no += 1
                if len(hunk.context) < 20:
                    hunk.context.append(line[1:])
            if sum(len(t) for t in text) < MAX_HUNK_TEXT:
                text.append(line)
        self._close(hunk, text)

    def _close(self, hunk: Hunk | None, text: list[str]) -> None:
        if hunk is not None and (hunk.added or hunk.removed):
            hunk.text = "\n".join(text)
            self.changes.hunks.append(hunk)


def read_unified_diff(text: str, source: str) -> ChangeSet:
    """Every file of a unified diff (``git diff`` output, a ``.diff`` or ``.patch`` file).

    Inside a hunk its header's line counts decide what is content, so a removed line that
    starts with ``--`` is never taken for the next file's header.
    """
    reader = _Reader(source)
    lines = text.splitlines()
    path: str | None = None
    old: str | None = None
    patch: list[str] = []
    left_old = left_new = 0

    def flush() -> None:
        if path is not None:
            reader.add_patch(path, patch, old_path=old)

    index = 0
    while index < len(lines):
        line = lines[index]
        if left_old > 0 or left_new > 0:
            patch.append(line)
            if line.startswith("-"):
                left_old -= 1
            elif line.startswith("+"):
                left_new -= 1
            elif not line.startswith("\\"):
                left_old, left_new = left_old - 1, left_new - 1
            index += 1
            continue
        match = _HUNK.match(line)
        if match and path is not None:
            patch.append(line)
            left_old = int(match.group(2)) if match.group(2) is not None else 1
            left_new = int(match.group(4)) if match.group(4) is not None else 1
        elif line.startswith("Binary files ") and line.endswith(" differ"):
            flush()
            path, patch = None, []
            name = _binary_name(line.removeprefix("Binary files ").removesuffix(" differ"))
            reader.changes.skipped.append(f"{_file_path('+++ ' + name) or name}: binary")
        elif line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ "):
            flush()
            old, new = _file_path(line), _file_path(lines[index + 1])
            path, patch = new or old or "unknown", []
            index += 1
        elif line.startswith("diff --git "):
            flush()
            path, patch = None, []
        index += 1
    flush()
    return reader.changes


def read_file_patches(files: Iterable[tuple[str, str | None, str | None]], source: str) -> ChangeSet:
    """The GitHub API's per-file patches: (path, patch or None for binary/too large, previous path)."""
    reader = _Reader(source)
    for path, patch, previous in files:
        if patch is None:
            reader.changes.skipped.append(f"{path}: binary, or too large for the API to show its patch")
            continue
        reader.add_patch(path, patch.splitlines(), old_path=previous)
    return reader.changes


def redact_changes(changes: ChangeSet, text: Callable[[str], str]) -> ChangeSet:
    """Everything a document, the pack, the comment or an upload may show of the changes, through the
    redactor (a diff, a file name, a commit message can hold a key), paths with their invisible
    characters written out (a right-to-left override in a file name)."""

    def name(path: str) -> str:
        return visible(text(path))

    hunks = [
        replace(
            h,
            added=[text(line) for line in h.added],
            removed=[text(line) for line in h.removed],
            context=[text(line) for line in h.context],
            text=text(h.text),
            path=name(h.path),
            old_path=name(h.old_path) if h.old_path else None,
        )
        for h in changes.hunks
    ]
    return replace(
        changes,
        hunks=hunks,
        source=name(changes.source),
        skipped=[name(line) for line in changes.skipped],
        notes=[text(line) for line in changes.notes],
    )
