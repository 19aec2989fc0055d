"""What in the pull request did it: read the changes, match them to what the trace used, rank them.

- ``diff.py``: unified diffs and the GitHub API's per-file patches as hunks (binary, vendored
  and oversized files skipped and named);
- ``git.py``: the workspace's ``base...head``, deepening a shallow checkout when it can;
- ``rank.py``: what the trace used, and each hunk's deterministic score with its reason;
- ``document.py``: changes.md, citable sections C01….

No model is involved: the ranking works offline and with every provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from refinery.changes.document import render_changes_md
from refinery.changes.model import ChangeSet, Hunk, Suspect
from refinery.changes.rank import THRESHOLD, rank_changes, trace_usage
from refinery.compare.model import Comparison
from refinery.documents.model import Document
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

CHANGES_BUDGET = 60_000
"""Characters of changes.md."""


@dataclass
class Ranked:
    suspects: list[Suspect]
    document: Document

    @property
    def top(self) -> Suspect | None:
        """The best suspect, when it clears the threshold; else no suspect is claimed."""
        return self.suspects[0] if self.suspects and self.suspects[0].score >= THRESHOLD else None


def rank_for_trace(
    changes: ChangeSet, trace: Trace, triage: TriageReport, comparison: Comparison | None = None
) -> Ranked:
    suspects = rank_changes(changes, trace_usage(trace, triage, comparison))
    return Ranked(suspects, render_changes_md(changes, suspects, CHANGES_BUDGET))


__all__ = ["THRESHOLD", "ChangeSet", "Hunk", "Ranked", "Suspect", "rank_for_trace"]
