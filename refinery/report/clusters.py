"""The comment's "What broke": failures clustered by shared cause, one row or line per cluster."""

from __future__ import annotations

import re
from collections.abc import Sequence

from refinery.analysis.grouping import group_failures
from refinery.analysis.pack import FailureGroup, GroupMember, HypothesisPack
from refinery.report.sanitize import prose
from refinery.words import plural

MEMBER_LINKS = 12
"""Traces listed by name under a cluster; the rest are counted."""


SHORT_ID = 32
"""Ids up to this long are shown whole; longer ones (UUIDs, hashes) by their head, which is what differs."""


def short_id(trace_id: str) -> str:
    """A trace id as a chip: whole when it is short enough to read (``tau-bench-task8-trial0``, a file stem
    and index), else its first 12 characters: a UUID's or a hash's head is where two of them differ."""
    return trace_id if len(trace_id) <= SHORT_ID else trace_id[:12] + "…"


def _member_text(member: GroupMember, langsmith_host: str | None) -> str:
    name = prose(member.name or "run", 40)
    short = prose(short_id(member.trace_id), 40)
    flaky = f" ({prose(member.flaky, 60)})" if member.flaky else ""
    if member.url and langsmith_host and host_of(member.url) == langsmith_host:
        return f"[{name} {short}]({member.url}){flaky}"
    return f"{name} `{short}`{flaky}"


_HASH = re.compile(r"\b[0-9a-fA-F]{24,}\b")
CLUSTER_CAUSE = 300
"""Characters of a cluster's cause in its row: a departure from the expected actions says what the
run called and then what was expected, and the second half is the point."""


def cluster_lines(groups: Sequence[FailureGroup], total: int, langsmith_host: str | None) -> list[str]:
    """Every cluster in one table row: its count, its cause in words, the trace analysed for it, the rest."""
    lines = [f"**What broke** ({plural(total, 'failure')}, {plural(len(groups), 'cluster')}):", ""]
    lines += ["| Failures | Where and why | Analysed | Also in this cluster |", "|---:|---|---|---|"]
    for group in groups:
        analysed = [m for m in group.members if m.analysed]
        rest = [m for m in group.members if not m.analysed]
        # A data hash in an evaluator's output tells the reader nothing: its human part stays.
        words = _HASH.sub("…", group.cause)
        cause = f"{prose(group.title, 120)}: {prose(words, CLUSTER_CAUSE)}".replace("|", "\\|")
        shown = ", ".join(_member_text(m, langsmith_host) for m in analysed) or "triage only (max-traces)"
        others = ", ".join(_member_text(m, langsmith_host) for m in rest[:MEMBER_LINKS])
        if len(rest) > MEMBER_LINKS:
            others += f", and {len(rest) - MEMBER_LINKS} more"
        lines.append(f"| {group.count} of {total} | {cause} | {shown} | {others or '—'} |")
    return [*lines, "", "**Analysed:**", ""]


def group_lines(packs: list[HypothesisPack]) -> list[str]:
    """With several failures, what they share comes first: "3 of 5 failures: tool `search`: Rate Limiting"."""
    if len(packs) < 2:
        return []
    lines = ["**What broke:**", ""]
    for group in group_failures(packs):
        lines.append(
            f"- **{group.count} of {len(packs)} failures**: {prose(group.title, 120)}: {prose(group.cause, 240)}"
        )
    return [*lines, "", "**Each trace:**", ""]


def host_of(url: str) -> str:
    """The host of a URL, lower-case and without its port: whether a link goes where the user's LangSmith is."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split(":", 1)[0].lower()
