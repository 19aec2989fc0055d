"""Pack the documents into one prompt for providers without hosted file search.

Sections go in by relevance until the token budget is spent: the triage (its findings
name the origin), the origin's path and the errored runs, the expectations and eval
gaps, the prompts, then the rest of the timeline in execution order. Whatever did not
fit is listed, so a stage's ``coverage.remaining`` can be true.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from refinery.documents.ids import run_section
from refinery.documents.render import DocumentSet
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

CHARS_PER_TOKEN = 3.5
"""A conservative estimate for English and JSON (tiktoken o200k gives about 4)."""
OUTPUT_RESERVE = 8_000
"""Tokens kept free for the instructions, the stage text and the reply."""
_SECTION = re.compile(r"^## ", re.MULTILINE)


@cache
def context_windows() -> dict[str, int]:
    data = json.loads((resources.files("refinery") / "analysis" / "context_windows.json").read_text(encoding="utf-8"))
    return {k: int(v) for k, v in data.items() if not k.startswith("_")}


def context_window(model: str) -> int:
    """The model's context window in tokens (longest name prefix wins; 128k when unknown)."""
    name = model.lower().split("/")[-1]
    matches = [k for k in context_windows() if name.startswith(k)]
    return context_windows()[max(matches, key=len)] if matches else 128_000


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


@dataclass
class Pack:
    """The packed documents and what was left out."""

    text: str
    tokens: int
    budget: int
    included: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)

    @property
    def coverage_note(self) -> str:
        if not self.omitted:
            return "Every section of every document is included below."
        shown = ", ".join(self.omitted[:40]) + (f" and {len(self.omitted) - 40} more" if len(self.omitted) > 40 else "")
        return (
            f"{len(self.omitted)} sections did not fit the context budget and are NOT included: {shown}. "
            "List them in coverage.remaining."
        )


def _sections(text: str) -> tuple[str, dict[str, str]]:
    parts = _SECTION.split(text)
    head, out = parts[0], {}
    for part in parts[1:]:
        sid = part.split(" ", 1)[0].strip()
        out[sid] = "## " + part
    return head, out


def pack_documents(trace: Trace, triage: TriageReport, documents: DocumentSet, budget_tokens: int) -> Pack:
    """Fill ``budget_tokens`` with the most relevant sections first, keeping each section whole."""
    docs = {d.name: _sections(d.text) for d in documents.documents}
    priority: list[tuple[str, str]] = []  # (document, section id)

    def add(doc: str, sid: str) -> None:
        if sid in docs.get(doc, ("", {}))[1] and (doc, sid) not in seen:
            seen.add((doc, sid))
            priority.append((doc, sid))

    seen: set[tuple[str, str]] = set()
    for sid in docs.get("triage.md", ("", {}))[1]:
        add("triage.md", sid)
    if triage.origin:
        for run in reversed(trace.path(triage.origin.run_id)):  # the origin, then its parent, … the root
            add("trace.md", run_section(run.order))
    for finding in triage.findings:
        if finding.section:
            add("trace.md", finding.section)
    for run in trace.errored_runs:
        add("trace.md", run_section(run.order))
    for sid in docs.get("evals.md", ("", {}))[1]:
        add("evals.md", sid)
    for sid in docs.get("prompts.md", ("", {}))[1]:
        add("prompts.md", sid)
    for run in trace.runs:
        add("trace.md", run_section(run.order))

    used = sum(estimate_tokens(head) for head, _ in docs.values())
    chosen: set[tuple[str, str]] = set()
    omitted: list[str] = []
    for doc, sid in priority:
        cost = estimate_tokens(docs[doc][1][sid])
        if used + cost <= budget_tokens:
            chosen.add((doc, sid))
            used += cost
        else:
            omitted.append(f"{doc}#{sid}")
    # Emit in document order, so the model reads each document as written.
    out: list[str] = []
    included: list[str] = []
    for document in documents.documents:
        head, sections = docs[document.name]
        out.append(f'<document name="{document.name}">\n{head}')
        for sid, text in sections.items():
            if (document.name, sid) in chosen:
                out.append(text)
                included.append(f"{document.name}#{sid}")
        out.append("</document>\n")
    text = "\n".join(out)
    return Pack(text=text, tokens=estimate_tokens(text), budget=budget_tokens, included=included, omitted=omitted)
