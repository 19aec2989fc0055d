"""What one action run has gathered so far, whatever stops it, and how it ends (conclusion, summary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from refinery.analysis.control import RunControl
from refinery.report.sanitize import plain_line
from refinery.settings import Settings
from refinery.words import plural


def _conclusion(settings: Settings, had_error: bool, found: bool) -> Literal["success", "failure", "neutral"]:
    if settings.fail_on == "error" and had_error:
        return "failure"
    if settings.fail_on == "finding" and (had_error or found):
        return "failure"
    return "neutral" if (found or had_error) else "success"


@dataclass
class _State:
    """What one run has gathered so far, whatever stops it."""

    errors: list[str] = field(default_factory=list)
    """Refinery's own failures, one line each, naming the trace or file."""
    notices: list[str] = field(default_factory=list)
    """What the comment leads with: items not analysed, a cancellation."""
    outputs: dict[str, str] = field(
        default_factory=lambda: {"traces-analyzed": "0", "comment-url": "", "check-run-url": ""}
    )
    results: list[Any] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    """What the comment is built from: results, or merged packs."""
    unanalysed: int = 0
    """Files and traces that could not be analysed at all."""
    groups: list[Any] = field(default_factory=list)
    """Every triaged failure, clustered; the comment leads with them."""
    early: Any = None
    """The Publication of the triage posted while the stages ran: its comment and check run are
    edited in place at the end."""
    early_thread: Any = None
    """The thread posting it (GitHub's pace of one write a second must not hold the stages up)."""

    def fail(self, line: str, *, unanalysed: bool = False) -> None:
        self.errors.append(line)
        self.notices.append(line)
        self.unanalysed += unanalysed


def _out_dir(settings: Settings, workspace: Path) -> Path:
    out_dir = Path(settings.output_dir)
    return out_dir if out_dir.is_absolute() else workspace / out_dir


def _packs(items: list[Any]) -> list[Any]:
    """The Hypothesis Pack of each analysed result or merged entry."""
    return [item.pack if hasattr(item, "report") else item.pack() for item in items]


def _one_line_summary(packs: list[Any], unanalysed: int, control: RunControl | None = None) -> str:
    """The ``summary`` output and check-run title: untrusted text made plain (it may reach a shell)."""
    prefix = "cancelled: " if control is not None and control.cancelled else ""
    if not packs:
        detail = (
            f"{plural(unanalysed, 'trace or file', 'traces or files')} could not be analysed"
            if unanalysed
            else "no traces analysed"
        )
        return plain_line(prefix + detail, 1000)
    parts = []
    for pack in packs:
        origin = pack.triage.origin
        if pack.summary:
            parts.append(pack.summary.split(". ")[0][:200])
        elif origin is not None:
            parts.append(f"{origin.name} at {origin.section}")
    failed = f", {unanalysed} not analysed" if unanalysed else ""
    text = f"{prefix}{plural(len(packs), 'trace')}{failed}: " + " / ".join(parts or ["no origin found"])
    return plain_line(text, 1000)
