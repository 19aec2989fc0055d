"""Ranking a pull request's changes: a 3,000-file, 50,000-line diff against a 25,000-run trace.

The diff is made up in the shape ``git diff`` writes: 3,000 files of about 17 changed lines
each, one of them a prompt file that removes a line of the system prompt the trace carries.
Timed: reading the diff, indexing what the trace used, scoring every hunk, rendering
changes.md; the trace is read and triaged before the clock starts.
"""

from __future__ import annotations

import random
import time
from typing import Any

from benchmarks.results import Results

GOAL_S = 3.0


def make_diff(files: int, lines: int, prompt: str, seed: int = 3) -> str:
    """A unified diff of ``files`` files and about ``lines`` changed lines; file 1,500 edits the prompt."""
    rng = random.Random(seed)
    per_file = max(1, -(-lines // files))
    words = ["config", "handler", "value", "return", "timeout", "client", "result", "module", "cache", "index"]
    out: list[str] = []
    for number in range(files):
        path = f"src/pkg{number % 40}/module_{number}.py"
        body: list[str] = []
        if number == files // 2:
            path = "prompts/agent.md"
            # The prompt file keeps a sentence a line; the trace carries it as one string.
            prompt_lines = [sentence.strip() + "." for sentence in prompt.split(". ") if sentence.strip(" .")]
            body = [f" {prompt_lines[0]}", f"-{prompt_lines[1]}" if len(prompt_lines) > 1 else f"-{prompt_lines[0]}"]
            body += [f" {line}" for line in prompt_lines[2:4]]
            removed, added = 1, 0
        else:
            removed = per_file // 2
            added = per_file - removed
            body += [f"-    {' '.join(rng.choices(words, k=6))} = {n}" for n in range(removed)]
            body += [f"+    {' '.join(rng.choices(words, k=6))} = {n}" for n in range(added)]
        context = len(body) - removed - added
        out += [
            f"diff --git a/{path} b/{path}",
            f"--- a/{path}",
            f"+++ b/{path}",
            f"@@ -10,{removed + context} +10,{added + context} @@",
            *body,
        ]
    return "\n".join(out) + "\n"


def run(out: Results, *, files: int = 3_000, lines: int = 50_000, runs: int = 25_000) -> None:
    from benchmarks.synthetic import SYSTEM_PROMPT, synthetic_runs
    from refinery.changes import rank_for_trace
    from refinery.changes.diff import read_unified_diff
    from refinery.perf import gc_paused
    from refinery.pipeline import prepare
    from refinery.trace.files.langsmith_export import load_langsmith

    out.heading("Changes: ranking a pull request's hunks against the failure")
    with gc_paused():
        prepared = prepare(load_langsmith(synthetic_runs(runs))[0])
    text = make_diff(files, lines, SYSTEM_PROMPT)
    timings: dict[str, Any] = {}
    with gc_paused():
        started = time.perf_counter()
        changes = read_unified_diff(text, "benchmark")
        timings["read"] = time.perf_counter() - started
        started = time.perf_counter()
        ranked = rank_for_trace(changes, prepared.trace, prepared.triage)
        timings["rank"] = time.perf_counter() - started
    changed = sum(len(h.added) + len(h.removed) for h in changes.hunks)
    top = ranked.suspects[0]
    out.para(
        f"A made-up diff of {changes.files:,} files and {changed:,} changed lines (`benchmarks/changes.py`), one "
        f"hunk removing a line of the system prompt that the synthetic {runs:,}-run trace carries, against that "
        "trace (read, redacted and triaged before the clock starts). *rank* covers indexing what the trace used "
        "(prompts, tools, models), scoring every hunk and rendering changes.md."
    )
    out.table(
        ["files", "hunks", "changed lines", "read s", "rank s", "total s", "top suspect", "its score"],
        [
            [
                f"{changes.files:,}",
                f"{len(changes.hunks):,}",
                f"{changed:,}",
                f"{timings['read']:.2f}",
                f"{timings['rank']:.2f}",
                f"{timings['read'] + timings['rank']:.2f}",
                f"{top.path} L{top.start_line}",
                f"{top.score:.2f}",
            ]
        ],
    )
    out.figure(
        f"Ranking a {changes.files:,}-file, {changed:,}-line diff against a {runs:,}-run trace",
        f"{timings['read'] + timings['rank']:.2f} s",
        f"goal ≤{GOAL_S:g} s",
    )
