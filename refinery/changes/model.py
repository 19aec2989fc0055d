"""A pull request's changes as hunks, and the suspects ranked among them (the pack's ``suspects``, 1.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

Band = Literal["likely", "possible", "none"]


@dataclass
class Hunk:
    """One changed stretch of one file."""

    change_id: str
    """``C01``…, in the order of the diff; its section in changes.md."""
    path: str
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    """The unchanged lines around the change: what places a pure removal in its file."""
    text: str = ""
    """The hunk as the diff shows it (``@@`` header and lines), capped."""
    old_path: str | None = None
    """The file's path before a rename."""
    changed: list[int] = field(default_factory=list)
    """New-file line of each changed line (a removed line: the line now in its place)."""

    @property
    def start_line(self) -> int:
        """The first line the change touches in the new file (where an annotation goes)."""
        return max(1, min(self.changed) if self.changed else self.new_start)

    @property
    def end_line(self) -> int:
        return max(self.start_line, max(self.changed) if self.changed else self.new_start)


@dataclass
class ChangeSet:
    """Every hunk of the changes read, and what was left out on the way."""

    source: str
    """``github`` (the pull request's files), ``git base...head``, ``diff FILE``."""
    hunks: list[Hunk] = field(default_factory=list)
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    """Files left out and why: binary, vendored, too large, past the file cap."""
    notes: list[str] = field(default_factory=list)


class Suspect(BaseModel):
    """A hunk ranked against the failure, best first."""

    change_id: str
    path: str
    start_line: int
    end_line: int
    score: float
    """0 to 1; deterministic: whether the trace used what the hunk touches, and how much its text
    overlaps the failure (origin, divergence, feedback, expectations)."""
    reason: str
    """The score in words."""
    used: list[str] = []
    """What of the trace the hunk touches: ``system prompt P01``, ``tool search_flights``, ``model``, ``eval file``."""
    removed: list[str] = []
    """Its removed lines (a few), for the comment."""
    added: list[str] = []
    band: Band = "none"
    """What the score lets Refinery claim, by the measured precision of its band: ``likely`` (at least
    90 % right on labelled cases), ``possible``, or ``none`` (1.4)."""
    evidence: list[str] = Field(default_factory=list)
    """What of the failure's own words the hunk matches, one line each (1.4)."""
    tied_with: list[str] = Field(default_factory=list)
    """Other hunks with the same score and the same evidence strength: shown as a tie, not ranked (1.4)."""
