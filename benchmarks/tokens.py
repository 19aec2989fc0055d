"""Tokens: per-stage request sizes, document sizes, and inline pack sizes per provider."""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks import pack, stages
from benchmarks.counting import count_tokens
from benchmarks.results import Results


def _documents(out: Results, paths: list[Path], label: str) -> None:
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    sizes: dict[str, list[tuple[int, int]]] = {}
    for path in paths:
        for doc in prepare(load_trace_file(path)).documents.documents:
            sizes.setdefault(doc.name, []).append((doc.chars, count_tokens(doc.text)))
    out.para(f"**{label}** ({len(paths)} traces): the citable documents, characters and tokens, median / max.")
    out.table(
        ["document", "characters", "tokens"],
        [
            [
                name,
                f"{statistics.median(c for c, _ in rows):,.0f} / {max(c for c, _ in rows):,}",
                f"{statistics.median(t for _, t in rows):,.0f} / {max(t for _, t in rows):,}",
            ]
            for name, rows in sizes.items()
        ],
    )


def run(out: Results, *, examples: list[Path], who_and_when: list[Path], large: int) -> None:
    out.heading("Tokens: stage requests, documents, inline packs")
    out.para(
        "Counted with tiktoken's o200k_base. Stage requests are the bodies the openai SDK actually sent to the "
        "fake (instructions, schema, digests of earlier stages; retrieved chunks never travel in a request: "
        "file_search runs on OpenAI's side). *Maximal* scripts every stage output at its longest, so the "
        "compaction between stages is what bounds the next request."
    )
    corpora = [(examples, "Examples"), (who_and_when, "Who&When logs")]
    largest = 0
    for paths, label in corpora:
        if paths:
            largest = max(largest, stages.report(out, paths, label))
    out.figure(
        "Request tokens, whole four-stage run, largest (maximal outputs)",
        f"{largest:,}",
        f"goal ≤{stages.TOTAL_GOAL:,} (≤{stages.STAGE_GOAL:,} per stage)",
    )
    for paths, label in corpora:
        if paths:
            _documents(out, paths, label)
    for paths, label in corpora:
        if paths:
            pack.report(out, paths, label)
    if not who_and_when:
        out.skipped("Who&When token figures", "../shared/datasets/who-and-when is absent")
    if large:
        pack.report_large(out, large)
