"""Align two step sequences deterministically: Myers' diff, then reordered reads paired up.

Myers' greedy algorithm finds a shortest edit script in O((n+m)·d) time, d the number of
steps that differ; the common prefix and suffix are stripped first, so two 25,000-step runs
that part ways once cost little more than reading them. Past ``MAX_EDITS`` the runs are too
far apart to align step by step, and the rest is paired by position (said in the result).

Then steps done in another order are paired as *moved*, not reported: a read (``get_…``,
``search_…``, a retriever) removed on one side and added on the other with the same
arguments, wherever it is; and a state-changing call that both runs made with the same
arguments, when the order of the state-changing calls among themselves is the same in both
runs (a second alignment over them alone decides), so that doing a write before a lookup
instead of after it is not a divergence, while doing two writes the other way round is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from refinery.compare.steps import Step

MAX_EDITS = 2_000
"""Beyond this many differing steps the alignment pairs the rest by position."""
Op = Literal["same", "moved", "removed", "added"]


@dataclass(frozen=True)
class Pair:
    """One line of the alignment: a step of the failing run, of the baseline, or of both."""

    op: Op
    """same or moved: both sides; removed: only the failing run has it; added: only the baseline."""
    failing: int | None
    """Index into the failing run's steps."""
    baseline: int | None
    """Index into the baseline's steps."""


@dataclass
class Alignment:
    pairs: list[Pair]
    edits: int
    """Steps removed plus added, before reordered reads were paired."""
    truncated: bool = False
    """The runs differed in more than MAX_EDITS steps; the tail is paired by position."""


def _myers(a: Sequence[object], b: Sequence[object], limit: int) -> list[tuple[Op, int | None, int | None]] | None:
    """Shortest edit script between a and b, or None when it needs more than ``limit`` edits."""
    n, m = len(a), len(b)
    max_d = min(limit, n + m)
    offset = max_d + 1
    v = [0] * (2 * max_d + 3)
    # snapshots[d] is V (diagonals -d-1 … d+1) as it stood when round d began: what the path back reads.
    snapshots: list[list[int]] = []
    for d in range(max_d + 1):
        snapshots.append(v[offset - d - 1 : offset + d + 2])
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]  # down: a step only the baseline has
            else:
                x = v[offset + k - 1] + 1  # right: a step only the failing run has
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            v[offset + k] = x
            if x >= n and y >= m:
                return _backtrack(snapshots, n, m)
    return None


def _backtrack(snapshots: list[list[int]], n: int, m: int) -> list[tuple[Op, int | None, int | None]]:
    ops: list[tuple[Op, int | None, int | None]] = []
    x, y = n, m
    for d in range(len(snapshots) - 1, -1, -1):
        snap = snapshots[d]

        def at(k: int, snap: list[int] = snap, d: int = d) -> int:
            return snap[k + d + 1]

        k = x - y
        down = k == -d or (k != d and at(k - 1) < at(k + 1))
        prev_k = k + 1 if down else k - 1
        prev_x = at(prev_k) if d else 0
        prev_y = prev_x - prev_k if d else 0
        while x > prev_x and y > prev_y:
            x, y = x - 1, y - 1
            ops.append(("same", x, y))
        if d:
            ops.append(("added", None, prev_y) if down else ("removed", prev_x, None))
        x, y = prev_x, prev_y
    ops.reverse()
    return ops


def align_steps(failing: Sequence[Step], baseline: Sequence[Step]) -> Alignment:
    """The alignment of the two runs' steps, failing-run order first."""
    a = [s.key for s in failing]
    b = [s.key for s in baseline]
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    head = [Pair("same", i, i) for i in range(start)]
    tail = [Pair("same", len(a) - end + i, len(b) - end + i) for i in range(end)]
    middle_a, middle_b = a[start : len(a) - end], b[start : len(b) - end]
    script = _myers(middle_a, middle_b, MAX_EDITS)
    truncated = script is None
    if script is None:
        script = _by_position(len(middle_a), len(middle_b))
    middle = [Pair(op, None if i is None else i + start, None if j is None else j + start) for op, i, j in script]
    edits = sum(p.op != "same" for p in middle)
    pairs = _pair_moved_writes(_pair_moved_reads([*head, *middle, *tail], failing, baseline), failing, baseline)
    return Alignment(pairs, edits, truncated)


def _by_position(n: int, m: int) -> list[tuple[Op, int | None, int | None]]:
    out: list[tuple[Op, int | None, int | None]] = []
    for i in range(max(n, m)):
        if i < n:
            out.append(("removed", i, None))
        if i < m:
            out.append(("added", None, i))
    return out


def _pair_moved_reads(pairs: list[Pair], failing: Sequence[Step], baseline: Sequence[Step]) -> list[Pair]:
    """A read removed on one side and added on the other with the same key is the same read, moved."""
    added: dict[tuple[str, str, str], list[int]] = {}
    for pair in pairs:
        if pair.op == "added" and pair.baseline is not None and baseline[pair.baseline].is_read:
            added.setdefault(baseline[pair.baseline].key, []).append(pair.baseline)
    return _move(pairs, failing, added, lambda step: step.is_read)


def _pair_moved_writes(pairs: list[Pair], failing: Sequence[Step], baseline: Sequence[Step]) -> list[Pair]:
    """Writes both runs made in the same order among their writes, though not at the same place."""
    writes_here = [i for i, s in enumerate(failing) if not s.is_read]
    writes_there = [j for j, s in enumerate(baseline) if not s.is_read]
    script = _myers([failing[i].key for i in writes_here], [baseline[j].key for j in writes_there], MAX_EDITS)
    if script is None:
        return pairs
    same = {writes_here[i]: writes_there[j] for op, i, j in script if op == "same" and i is not None and j is not None}
    removed = {p.failing for p in pairs if p.op == "removed"}
    added_free = {p.baseline for p in pairs if p.op == "added"}
    return _as_moved(pairs, {i: j for i, j in same.items() if i in removed and j in added_free})


def _move(
    pairs: list[Pair],
    failing: Sequence[Step],
    added: dict[tuple[str, str, str], list[int]],
    eligible: Callable[[Step], bool],
) -> list[Pair]:
    partner: dict[int, int] = {}
    for pair in pairs:
        if pair.op == "removed" and pair.failing is not None and eligible(failing[pair.failing]):
            candidates = added.get(failing[pair.failing].key)
            if candidates:
                partner[pair.failing] = candidates.pop(0)
    return _as_moved(pairs, partner)


def _as_moved(pairs: list[Pair], partner: dict[int, int]) -> list[Pair]:
    """Each removed failing step in ``partner`` paired with its baseline step as moved; that added step dropped."""
    if not partner:
        return pairs
    taken = set(partner.values())
    out: list[Pair] = []
    for pair in pairs:
        if pair.op == "removed" and pair.failing in partner:
            out.append(Pair("moved", pair.failing, partner[pair.failing]))
        elif not (pair.op == "added" and pair.baseline in taken):
            out.append(pair)
    return out
