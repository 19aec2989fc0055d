"""The report's "Against the passing run": the first divergence first, then what else differed."""

from __future__ import annotations

from refinery.compare.model import Comparison
from refinery.report.sanitize import fenced, inline_code, prose, table_cell

LATER_ROWS = 12


def baseline_section(comparison: Comparison | None) -> list[str]:
    """The section, or nothing when no passing run was compared."""
    if comparison is None:
        return []
    out = ["## Against the passing run", ""]
    head = f"Compared with the passing run {inline_code(comparison.trace, 60)} ({prose(comparison.source, 40)})"
    models = next((c for c in comparison.changes if c.what == "model"), None)
    if models is not None:
        # The same task on another model: what differs may be the model, not the run's own choices.
        out += [f"**A doubtful baseline:** it ran the same task on another model ({prose(models.detail, 200)}).", ""]
    divergence = comparison.divergence
    if divergence is None:
        out += [f"{head}: this run took the same {comparison.steps} steps.", ""]
    else:
        agent = f" (agent {inline_code(divergence.agent, 40)})" if divergence.agent else ""
        where = f" Side by side: {divergence.baseline_section} in baseline.md." if divergence.baseline_section else ""
        out += [f"{head}.", "", f"**First divergence.** {prose(divergence.sentence, 700)}{agent}{where}", ""]
    # The headline's own difference comes first, then the rest in order.
    ordered = sorted(
        comparison.differences,
        key=lambda d: 0 if divergence is not None and (d.kind, d.detail) == (divergence.kind, divergence.detail) else 1,
    )
    if ordered:
        out += ["| Step | Difference | This run | Passing run |", "|---|---|---|---|"]
        for difference in ordered[:LATER_ROWS]:
            ref = difference.failing or difference.anchor
            first = divergence is not None and (difference.kind, difference.detail) == (
                divergence.kind,
                divergence.detail,
            )
            step = f"{ref.step} ({ref.section})" if ref else "before the first"
            their = f" (its step {difference.baseline.step})" if difference.baseline else ""
            out.append(
                f"| {'**' + step + '**' if first else step} | {difference.kind.replace('_', ' ')} | "
                f"{table_cell(difference.failing.label if difference.failing else '—', 120)} | "
                f"{table_cell(difference.baseline.label if difference.baseline else '—', 120)}{their} |"
            )
        if len(ordered) > LATER_ROWS:
            out.append(f"| | … {len(ordered) - LATER_ROWS} more in baseline.md | | |")
        out.append("")
    for change in comparison.changes:
        out.append(f"- **{change.what.replace('_', ' ')}:** {prose(change.detail, 400)}")
        if change.diff:
            out += ["", fenced(change.diff, 2500)]
    if comparison.changes:
        out.append("")
    return out
