"""The overhead scaling curve as a PNG (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

GROUPS = {
    "load": ("load",),
    "redact + triage + render": ("prepare",),
    "vector store upload": ("upload",),
    "four stages": ("trace_analysis", "gap_analysis", "diagnosis", "synthesis"),
    "report": ("report",),
}


def plot_scaling(rows: Sequence[dict[str, Any]], phases: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    bottom = [0.0] * len(rows)
    for label, members in GROUPS.items():
        values = [sum(r[p] for p in members if p in phases) for r in rows]
        left.fill_between(sizes, bottom, [b + v for b, v in zip(bottom, values, strict=True)], label=label, alpha=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    left.plot(sizes, bottom, "k.-", linewidth=1)
    left.set_xscale("log")
    left.set_xlabel("runs in the trace")
    left.set_ylabel("Refinery's own time, s")
    left.set_title("Time per phase (stacked), model time excluded")
    left.legend(loc="upper left", fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    right.plot(sizes, [r["peak_mb"] for r in rows], "o-", color="tab:red")
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_xlabel("runs in the trace")
    right.set_ylabel("peak RSS, MB")
    right.set_title("Peak memory of the analysing process")
    right.grid(True, which="both", alpha=0.3)
    for ax in (left, right):
        ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
