"""Check-run annotations on the files that most likely need the fix.

In order of preference: the file and line in the checked-out repository where the failing
prompt (or the text a hypothesis wants to change) lives, found by searching the
workspace; else the eval or test file named in the trace's metadata; else nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from refinery.analysis.orchestrator import AnalysisResult
from refinery.documents.render import collect_prompts, prompt_refs
from refinery.github.publisher import Annotation
from refinery.triage.confidence import origin_phrase, precision_note

TEXT_SUFFIXES = {
    ".py",
    ".md",
    ".txt",
    ".yaml",
    ".yml",
    ".json",
    ".toml",
    ".j2",
    ".jinja",
    ".jinja2",
    ".prompt",
    ".ts",
    ".tsx",
    ".js",
    ".mjs",
    ".cjs",
    ".go",
    ".rb",
    ".java",
    ".kt",
    ".rs",
    ".cs",
    ".mdx",
    ".xml",
    ".ini",
    ".cfg",
    ".tmpl",
}
SKIP_DIRS = {
    ".git",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "dist",
    "build",
    ".tox",
    "site-packages",
}
MAX_FILE_BYTES = 2 * 1024 * 1024
MIN_NEEDLE = 24
EVAL_KEYS = ("test_file", "eval_file", "ls_test_file", "test_path", "eval_path", "file")


@dataclass
class Workspace:
    """The checked-out repository, read lazily and searched for text."""

    root: Path
    skip: set[str] = field(default_factory=set)
    """Directory names to leave out (the output directory)."""
    exclude: set[str] = field(default_factory=set)
    """Files to leave out, relative to the root: the trace files themselves hold every prompt."""
    _files: dict[str, list[str]] | None = None

    def _walk(self) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and d not in self.skip)
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.suffix.lower() in TEXT_SUFFIXES:
                    yield path

    def files(self) -> dict[str, list[str]]:
        if self._files is None:
            self._files = {}
            for path in self._walk():
                try:
                    if path.stat().st_size > MAX_FILE_BYTES:
                        continue
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                relative = path.relative_to(self.root).as_posix()
                if relative not in self.exclude:
                    self._files[relative] = text.splitlines()
            # Source before data: a prompt is defined in code or a template, merely copied into JSON.
            self._files = dict(sorted(self._files.items(), key=lambda kv: kv[0].endswith(".json")))
        return self._files

    def find(self, text: str) -> tuple[str, int, int] | None:
        """(path, first line, last line) where ``text``'s most distinctive line appears; None when no line of
        it is long enough to place with confidence (a file holds a text line by line)."""
        needles = sorted(
            {line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_NEEDLE}, key=len, reverse=True
        )
        for needle in needles[:3]:
            probe = needle[:200]
            for path, lines in self.files().items():
                for number, line in enumerate(lines, start=1):
                    if probe in line:
                        span = max(1, min(len(text.splitlines()), 50))
                        return path, number, min(number + span - 1, len(lines))
        return None

    def find_symbol(self, name: str) -> tuple[str, int, int] | None:
        """Where a tool or function called ``name`` is defined (``def name``, ``class name``, ``name=``)."""
        if not re.fullmatch(r"[A-Za-z_][\w.-]{1,80}", name):
            return None
        patterns = [
            re.compile(
                rf"\b(?:async\s+)?def\s+{re.escape(name)}\b|\bclass\s+{re.escape(name)}\b|\bfunction\s+{re.escape(name)}\b"
            ),
            re.compile(rf"""\bname\s*[=:]\s*["']{re.escape(name)}["']"""),
        ]
        for pattern in patterns:
            for path, lines in self.files().items():
                for number, line in enumerate(lines, start=1):
                    if pattern.search(line):
                        return path, number, number
        return None

    def exists(self, relative: str) -> bool:
        candidate = (self.root / relative).resolve()
        return candidate.is_file() and self.root.resolve() in candidate.parents


_Place = tuple[str, int, int, str, str, str | None]
"""(path, start line, end line, title, message, raw details) of one annotation."""


def _suspect_place(result: AnalysisResult, workspace: Workspace) -> _Place | None:
    """The change claimed behind the failure, on its own lines (a removal: where it was)."""
    suspect = result.prepared.top_suspect
    if suspect is None or not workspace.exists(suspect.path):
        return None
    claim = "likely behind" if suspect.band == "likely" else "possibly related to"
    removed = "; ".join(suspect.removed) or "—"
    return (
        suspect.path,
        suspect.start_line,
        suspect.end_line,
        f"Refinery: {claim} the failing eval ({suspect.change_id}, score {suspect.score:.2f})",
        f"{suspect.reason}.\n\nRemoved: {removed}",
        "Added:\n" + "\n".join(suspect.added) if suspect.added else None,
    )


def _origin_place(result: AnalysisResult, prompts: dict[str, Any], workspace: Workspace) -> _Place | None:
    """The prompt behind the stated origin: the origin's own, or the model call that led to a tool."""
    origin = result.prepared.triage.stated_origin
    if origin is None:
        return None
    trace = result.prepared.trace
    run = trace.get(origin.run_id)
    finding = next(f for f in result.prepared.triage.findings if f.id == origin.finding_id)
    callers = (
        [run]
        if run.run_type in ("llm", "agent")
        else [r for r in reversed(trace.runs[: run.order]) if r.run_type in ("llm", "agent")][:1]
    )
    used = [text for text, (_, runs) in prompts.items() if any(r.id == c.id for r in runs for c in callers)]
    where = workspace.find(used[0]) if used else None
    if not where:
        return None
    return (
        where[0],
        where[1],
        where[2],
        f"Refinery: failure {origin_phrase(origin)} {origin.section} {origin.name}",
        f"{finding.category}: {finding.explanation}\n\nEvidence: {finding.evidence}\n\n"
        f"{precision_note(origin).capitalize()}.",
        None,
    )


def _hypothesis_places(result: AnalysisResult, prompts: dict[str, Any], workspace: Workspace) -> list[_Place]:
    by_ref = {ref: text for text, ref in prompt_refs(prompts).items()}
    places: list[_Place] = []
    for hypothesis in result.synthesis.hypotheses if result.synthesis else []:
        change = hypothesis.proposed_change
        text = by_ref.get(change.target.strip()) or change.before
        where = workspace.find(text) if text else workspace.find_symbol(change.target.strip())
        if where:
            places.append(
                (
                    where[0],
                    where[1],
                    where[2],
                    f"Refinery {hypothesis.id}: {hypothesis.title}",
                    f"{hypothesis.rationale}\n\nExpected effect: {hypothesis.expected_effect}\n"
                    f"Verify: {hypothesis.how_to_verify}",
                    f"Proposed ({change.kind}):\n{change.after}",
                )
            )
    return places


def build_annotations(
    results: list[AnalysisResult], workspace: Workspace, *, level: Literal["notice", "warning", "failure"] = "warning"
) -> list[Annotation]:
    annotations: list[Annotation] = []
    seen: set[tuple[str, int, str]] = set()

    def add(place: _Place) -> None:
        path, start, end, title, message, details = place
        if (path, start, title) not in seen:
            seen.add((path, start, title))
            annotations.append(
                Annotation(
                    path=path,
                    start_line=start,
                    end_line=end,
                    annotation_level=level,
                    title=title,
                    message=message,
                    raw_details=details,
                )
            )

    for result in results:
        prompts = collect_prompts(result.prepared.trace)
        places = [_suspect_place(result, workspace), *_hypothesis_places(result, prompts, workspace)]
        origin = _origin_place(result, prompts, workspace)
        for place in [*places, origin]:
            if place is not None:
                add(place)
        if origin is not None:
            continue
        eval_file = _eval_file(result, workspace)
        if eval_file and not any(a.path == eval_file for a in annotations):
            gaps = [f for f in result.prepared.triage.findings if f.group == "evaluation"]
            synthesis = result.synthesis
            summary = synthesis.summary if synthesis else (gaps[0].evidence if gaps else "The eval failed.")
            add((eval_file, 1, 1, "Refinery: why this eval failed", summary, None))
    return annotations


def _eval_file(result: AnalysisResult, workspace: Workspace) -> str | None:
    trace = result.prepared.trace
    for source in (trace.metadata, trace.root.metadata):
        for key in EVAL_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value and workspace.exists(value):
                return Path(value).as_posix()
    return None
