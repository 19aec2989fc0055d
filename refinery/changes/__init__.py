"""What in the pull request did it: read the changes, match them to what the trace used, rank them.

- ``diff.py``: unified diffs and the GitHub API's per-file patches as hunks (binary, vendored
  and oversized files skipped and named);
- ``git.py``: the workspace's ``base...head``, deepening a shallow checkout when it can;
- ``rank.py``: what the trace used, the failure's own words, and each hunk's score, evidence and
  band (thresholds learned on labelled cases, ``calibration.json``); ``words.py``: stop words, stems;
- ``document.py``: changes.md, citable sections C01….

No model is involved: the ranking works offline and with every provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from refinery.changes.document import render_changes_md
from refinery.changes.model import ChangeSet, Hunk, Suspect
from refinery.changes.rank import rank_changes, thresholds, trace_usage
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


def claimed(suspects: list[Suspect]) -> Suspect | None:
    """The suspect Refinery names as the cause: the best one, when its band allows a claim."""
    return suspects[0] if suspects and suspects[0].band != "none" else None


def claim_threshold() -> float | None:
    """The lowest score any claim needs (the ``possible`` band's), for the pack."""
    learned = thresholds()
    return learned["possible"] if learned["possible"] is not None else learned["likely"]


def rank_for_trace(
    changes: ChangeSet, trace: Trace, triage: TriageReport, comparison: Comparison | None = None
) -> Ranked:
    suspects = rank_changes(changes, trace_usage(trace, triage, comparison))
    return Ranked(suspects, render_changes_md(changes, suspects, CHANGES_BUDGET))


__all__ = ["ChangeSet", "Hunk", "Ranked", "Suspect", "claim_threshold", "claimed", "rank_for_trace"]
