"""``baseline.md``: the two runs side by side around each difference, and what changed around them.

B01, B02… are the differences in the failing run's order (up to ``MAX_SECTIONS``), the first
divergence titled as such, then the system-prompt diff and the tools and model, so that a stage
can cite ``baseline.md#B02``.
"""

from __future__ import annotations

from collections.abc import Sequence

from refinery.compare.align import Alignment, Pair
from refinery.compare.model import Comparison, Difference
from refinery.compare.steps import Step
from refinery.documents.ids import numbered
from refinery.documents.model import Document, Section, assemble_document
from refinery.documents.render import document_header
from refinery.documents.text import cap, fence
from refinery.words import plural

MAX_SECTIONS = 40
"""Differences given a section of their own; the rest are counted in B01."""
CONTEXT = 3
"""Aligned steps shown before and after each difference."""
CELL = 140


def _cell(step: Step | None) -> str:
    if step is None:
        return "—"
    text = cap(step.label, CELL)
    if step.error:
        text += f" ✗ {cap(step.error, 80)}"
    elif step.output:
        text += f" → {cap(step.output, 60)}"
    if step.attempts > 1:
        text += f" ({step.attempts} attempts)"
    return text.replace("|", "\\|").replace("\n", " ")


def _did(steps: Sequence[Step], model_calls: int) -> str:
    """What a run did, counted: ``5 tool calls, 9 model calls, 2 agent turns``."""
    tools = sum(s.kind in ("tool", "retriever") for s in steps)
    turns = sum(s.kind == "agent" for s in steps)
    parts = [plural(tools, "tool call"), plural(model_calls, "model call")]
    return ", ".join(parts + ([plural(turns, "agent turn")] if turns else []))


def _position(alignment: Alignment, difference: Difference) -> int:
    """The alignment line of a difference (its failing step, else its baseline step)."""
    for index, pair in enumerate(alignment.pairs):
        if difference.failing is not None and pair.failing == difference.failing.step - 1:
            return index
        if (
            difference.failing is None
            and difference.baseline is not None
            and pair.baseline == difference.baseline.step - 1
        ):
            return index
    return 0


def _partners(pairs: Sequence[Pair], block: range, failing: Sequence[Step], baseline: Sequence[Step]) -> dict[int, int]:
    """In a stretch of steps only one run has, each removed step with the added step of the same tool,
    in order: the same call with other arguments or another result, shown on one row."""
    added = [i for i in block if pairs[i].op == "added"]
    partner: dict[int, int] = {}
    for i in block:
        pair = pairs[i]
        if pair.op != "removed" or pair.failing is None:
            continue
        name = failing[pair.failing].name
        match = next((a for a in added if a not in partner.values() and _name(baseline, pairs[a]) == name), None)
        if match is not None:
            partner[i] = match
    return partner


def _name(steps: Sequence[Step], pair: Pair) -> str | None:
    return steps[pair.baseline].name if pair.baseline is not None else None


def _side_by_side(alignment: Alignment, failing: Sequence[Step], baseline: Sequence[Step], at: int) -> str:
    rows = ["| | this run | passing run |", "|---|---|---|"]
    pairs = alignment.pairs
    lo, hi = max(0, at - CONTEXT), min(len(pairs), at + CONTEXT + 1)
    index = lo
    while index < hi:
        end = index
        while end < hi and pairs[end].op in ("removed", "added"):
            end += 1
        block = range(index, max(end, index + 1))
        partner = _partners(pairs, block, failing, baseline) if end > index else {}
        for i in block:
            if i in partner.values():
                continue  # shown beside its removed step
            pair, other = pairs[i], pairs[partner[i]] if i in partner else None
            here = failing[pair.failing] if pair.failing is not None else None
            there = baseline[pair.baseline] if pair.baseline is not None else None
            if other is not None and other.baseline is not None:
                there = baseline[other.baseline]
            marked = at == i or (i in partner and partner[i] == at)
            mark = "→" if marked else ("≈" if pair.op == "moved" else ("" if pair.op == "same" else "≠"))
            where = here.section if here else (there.section + " (passing)" if there else "")
            rows.append(f"| {mark} {where} | {_cell(here)} | {_cell(there)} |")
        index = block.stop
    return "\n".join(rows)


def render_baseline_md(
    comparison: Comparison, alignment: Alignment, failing: Sequence[Step], baseline: Sequence[Step], budget: int
) -> Document:
    """The comparison as citable sections; the failing run's sections are its trace.md ids."""
    sections: list[Section] = []
    shown = comparison.differences[:MAX_SECTIONS]
    divergence = comparison.divergence
    for number, difference in enumerate(shown, start=1):
        sid = numbered("B", number)
        first = divergence is not None and (difference.kind, difference.detail) == (divergence.kind, divergence.detail)
        title = "first divergence" if first else difference.kind.replace("_", " ")
        at = _position(alignment, difference)
        body = f"{difference.detail}.\n\n" + _side_by_side(alignment, failing, baseline, at)
        # Under a tight budget a later difference keeps its sentence and gives up its table.
        sections.append(
            Section(
                id=sid, heading=f"{sid} · {title}", body=body, priority=0 if first else 1, stub=f"{difference.detail}."
            )
        )
    for change in comparison.changes:
        sid = numbered("B", len(sections) + 1)
        body = change.detail + ("\n\n" + fence(change.diff) if change.diff else "")
        sections.append(Section(id=sid, heading=f"{sid} · {change.what.replace('_', ' ')}", body=body, priority=0))
    lines = [
        f"passing run: `{comparison.trace}` ({comparison.source})",
        f"this run: {_did(failing, comparison.model_calls)}; the passing run: "
        f"{_did(baseline, comparison.baseline_model_calls)}",
        f"differences: {len(comparison.differences)} · reads in another order: {comparison.moved_reads} · "
        f"retries folded: {comparison.retries}",
        "Steps (numbered from 1) are tool calls, agent turns and failed model calls; R… ids are this run's "
        "trace.md sections.",
    ]
    if comparison.divergence is None:
        lines.append("The two runs took the same steps; only what is listed below differs.")
    if len(comparison.differences) > MAX_SECTIONS:
        lines.append(f"{len(comparison.differences) - MAX_SECTIONS} later differences are not shown.")
    if comparison.truncated:
        lines.append("The runs differ in too many steps to align them all: the tail is paired by position.")
    return assemble_document(
        "baseline.md", "baseline", document_header("Against the passing run", lines), sections, budget
    )
