"""The PR comment: a short lead, each trace's report in ``<details>``, kept under GitHub's limit.

When the body is too long, whole report sections are dropped one at a time, lowest
priority first, and the comment says which: a table or a code block is never cut.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from refinery import __version__
from refinery.analysis.orchestrator import AnalysisResult
from refinery.analysis.pack import FailureGroup, HypothesisPack
from refinery.analysis.stages import prompts_version
from refinery.changes.model import Suspect
from refinery.report.agreement import agreement_sentence
from refinery.report.changes import fix_block, suspect_line, verification_line
from refinery.report.clusters import cluster_lines, group_lines, host_of, short_id
from refinery.report.full import render_report
from refinery.report.sanitize import inline_code, prose
from refinery.triage.confidence import AGENT_PHRASE, agent_sentence, origin_phrase
from refinery.triage.ending import CUT_OFF_RULES, ended_at
from refinery.words import plural

COMMENT_LIMIT = 65_536
# Dropped first to last; sections not listed are never dropped.
DROP_ORDER = (
    "Run tree",
    "Timeline",
    "Notes",
    "Expectations against the trace",
    "Eval gaps",
    "Root cause",
    "Changes in this pull request",
    "Findings",
    "Against the passing run",
    "Next actions",
    "Top findings",
)


@dataclass
class CommentLinks:
    """Links we add ourselves (never taken from trace or model text)."""

    run_url: str | None = None
    artifacts_url: str | None = None
    triggering_run_url: str | None = None


@dataclass
class Section:
    heading: str
    text: str


@dataclass
class TraceBlock:
    summary: str
    head: str
    sections: list[Section] = field(default_factory=list)
    url: str | None = None


NOTHING_FOUND = (
    "triage found nothing to point at: no run failed, looped or ended empty, and no evaluator found a gap "
    "(the report lists what it checked)"
)
"""A trace with no finding at all: said as what was checked, never as a pointer to gaps that are not there."""


def sticky_marker(workflow: str, job: str, selection: str) -> str:
    """The hidden marker that makes the comment sticky per workflow, job and trace selection."""
    key = "|".join(part.replace("-->", "").strip() for part in (workflow, job, selection))
    return f"<!-- refinery:sticky {key} -->"


def _heading_level(line: str) -> int:
    """The ATX heading level of a line (``### x`` is 3); 0 for a line that is no heading."""
    hashes = len(line) - len(line.lstrip("#"))
    return hashes if 1 <= hashes <= 6 and line[hashes : hashes + 1] in (" ", "") else 0


def split_sections(markdown: str) -> tuple[str, list[Section]]:
    """Split on ``## `` headings that are not inside a code fence."""
    head: list[str] = []
    sections: list[Section] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        stripped = line.lstrip()
        if fence is None and stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        elif fence is not None and stripped.startswith(fence) and stripped.strip("`") == "":
            fence = None
        elif fence is None and line.startswith("## "):
            # Under the comment's "###" title a trace's sections are "####": the hierarchy reads downwards.
            sections.append(Section(heading=line[3:].strip(), text="#### " + line[3:]))
            continue
        elif fence is None and sections and (level := _heading_level(line)) >= 3:
            # Their own headings ("### H1 · …") go down by the same two levels, never past h6.
            line = "#" * min(level + 2, 6) + line[level:]
        if sections:
            sections[-1].text += "\n" + line
        else:
            head.append(line)
    return "\n".join(head), sections


@dataclass
class TraceEntry:
    """One trace's part of a comment: its pack (for the lead and grouping) and its report (the details)."""

    pack: HypothesisPack
    report: str


def entry_for(result: AnalysisResult) -> TraceEntry:
    return TraceEntry(pack=result.pack(), report=render_report(result))


def _origin_text(pack: HypothesisPack) -> str | None:
    origin = pack.triage.origin
    if origin is None or not origin.stated:
        return None
    finding = next((f for f in pack.triage.findings if f.id == origin.finding_id), None)
    category = (finding.category if finding else "failure").lower()
    return f"{_if_failed(pack)}{origin_phrase(origin)} {origin.section} {prose(origin.name, 60)} ({category})"


def _if_failed(pack: HypothesisPack) -> str:
    """A run not known to have failed (nobody scored it, or it passed) is not said to have a failure."""
    return "" if pack.verdict in (None, "failed") else "if it failed, "


def _agent_text(pack: HypothesisPack) -> str | None:
    """``no origin step named; possibly in `WebSurfer`'s work`` when only the agent is claimed."""
    claim = pack.triage.agent
    if claim is None or not claim.stated or claim.basis == "origin":
        return None
    where = AGENT_PHRASE[claim.confidence].replace("lies in", "in")
    return f"no origin step named; {where} {prose(claim.agent, 60)}'s work"


def _trace_block(entry: TraceEntry) -> TraceBlock:
    head, sections = split_sections(entry.report)
    # The report's own title is replaced by the <summary> line.
    head_lines = [line for line in head.split("\n") if not line.startswith("# Refinery report")]
    trace = entry.pack.trace
    what = _origin_text(entry.pack) or _agent_text(entry.pack) or "no origin step named"
    summary = f"Trace {prose(trace.name or 'run', 60)} ({prose(short_id(trace.id), 40)}): {what}"
    return TraceBlock(summary=summary, head="\n".join(head_lines).strip(), sections=sections, url=trace.url)


def _fix_verdict(pack: HypothesisPack, hypothesis_id: str) -> str:
    """``; your eval refuted its fix`` when the hypothesis's own fix was re-run; empty otherwise."""
    said = {"verified": "your eval verified its fix", "refuted": "your eval refuted its fix"}
    for fix in pack.fixes:
        if fix.source == "model" and fix.hypothesis.startswith(f"{hypothesis_id}:") and fix.verification:
            return f"; {said.get(fix.verification.verdict, 'its fix is not confirmed')}"
    return ""


def _diagnosed(pack: HypothesisPack, name: str) -> list[str]:
    """The model's summary, its first two hypotheses, and whether triage agrees on where it started."""
    lines = [f"- {name}: {prose(pack.summary or '', 400)}"]
    for hypothesis in pack.hypotheses[:2]:
        tried = _fix_verdict(pack, hypothesis.id)
        lines.append(f"  - try **{prose(hypothesis.title, 140)}** (confidence {hypothesis.confidence:.2f}{tried})")
    said = agreement_sentence(
        pack.triage.origin,
        pack.triage.agent,
        pack.diagnosis_origin,
        pack.diagnosis_agent,
        lambda text: inline_code(text, 60),
        pack.selection.verdict if pack.selection else None,
    )
    if said:
        lines.append(f"  - {said}")
    return lines


def _entry_name(pack: HypothesisPack, names: Counter[str]) -> str:
    """The trace's name; beside it its id when other traces here share the name, which then tells none apart."""
    label = pack.trace.name or pack.trace.id
    return inline_code(label, 60) + (f" ({inline_code(short_id(pack.trace.id), 40)})" if names[label] > 1 else "")


def _lead(
    entries: list[TraceEntry], clusters: Sequence[FailureGroup] = (), langsmith_host: str | None = None
) -> list[str]:
    total = sum(g.count for g in clusters)
    lines = cluster_lines(clusters, total, langsmith_host) if total >= 2 else group_lines([e.pack for e in entries])
    names = Counter(e.pack.trace.name or e.pack.trace.id for e in entries)
    for entry in entries:
        pack = entry.pack
        name = _entry_name(pack, names)
        if pack.summary is not None:
            lines += _diagnosed(pack, name)
        elif pack.triage.origin is not None and pack.triage.origin.stated:
            origin = pack.triage.origin
            category = next((f.category for f in pack.triage.findings if f.id == origin.finding_id), "failure")
            lines.append(
                f"- {name}: {_if_failed(pack)}{origin_phrase(origin)} {origin.section} {inline_code(origin.name, 60)}, "
                f"{category.lower()} ({origin.confidence} confidence)"
            )
        elif (claim := pack.triage.agent) is not None and claim.stated and claim.basis != "origin":
            said = agent_sentence(claim, lambda text: inline_code(text, 60), pack.verdict)
            lines.append(f"- {name}: no origin step named. {said}")
        elif pack.triage.origin is not None:
            lines.append(f"- {name}: no origin step named; the evidence is too weak to point at one (see the report)")
        elif not pack.triage.findings:
            lines.append(f"- {name}: {NOTHING_FOUND}")
        elif any(f.category == "Eval Gap" for f in pack.triage.findings):
            lines.append(f"- {name}: no run failed outright; see the eval gaps below")
        else:
            lines.append(f"- {name}: no origin step named; none of its findings is one (see the report)")
        if (ending := next((f for f in pack.triage.findings if f.rule in CUT_OFF_RULES), None)) is not None:
            where = ended_at(ending.rule, ending.section)
            lines.append(f"  - the run did not finish: {where}, {inline_code(ending.evidence, 220)}")
        if pack.baseline is not None and pack.baseline.divergence is not None:
            divergence = pack.baseline.divergence
            lines.append(f"  - against a passing run: {prose(divergence.sentence or divergence.detail, 400)}")
        if pack.selection is not None and pack.selection.flaky:
            lines.append(f"  - {prose(pack.selection.flaky, 80)}")
        if pack.error is not None:
            lines.append(f"  - the model analysis stopped: {prose(pack.error, 300)}")
    return lines


def _render(
    marker: str,
    entries: list[TraceEntry],
    blocks: list[TraceBlock],
    links: CommentLinks,
    notes: list[str],
    langsmith_host: str | None,
    notices: Sequence[str] = (),
    clusters: Sequence[FailureGroup] = (),
    running: str | None = None,
    read: int | None = None,
) -> str:
    out = [marker, "### Refinery: why the eval failed", ""]
    statuses = sorted({e.pack.status for e in entries})
    culprit = _top_suspect(entries)
    out.append(
        _verdict(clusters, read)
        + _with_status(headline(entries, clusters), statuses)
        + (f". {_blamed(culprit)}" if culprit is not None else "")
    )
    if culprit is not None:
        out += ["", suspect_line(culprit)]
    fixes = next((e.pack.fixes for e in entries if e.pack.fixes), [])
    if verification_line(fixes):
        out += ["", verification_line(fixes)]
    if fixes:
        out += ["", *fix_block(fixes)]
    if running:
        out += ["", f"⏳ {prose(running, 300)}"]
    if notices:
        # What did not go to plan (a file that could not be read, a cancelled run), before anything else.
        out += ["", "**Not everything could be analysed:**", ""] + [f"- {prose(n, 600)}" for n in notices]
    out += ["", *_lead(entries, clusters, langsmith_host), ""]
    for block in blocks:
        out += ["<details>", f"<summary>{block.summary}</summary>", "", block.head, ""]
        out += [s.text.rstrip() + "\n" for s in block.sections]
        if block.url and langsmith_host and host_of(block.url) == langsmith_host:
            out += [f"[Open the trace in LangSmith]({block.url})", ""]
        out += ["</details>", ""]
    if notes:
        out += ["> " + " ".join(notes), ""]
    footer = []
    if links.run_url:
        footer.append(f"[Workflow run]({links.run_url})")
    if links.artifacts_url:
        footer.append(f"[Artifacts]({links.artifacts_url})")
    if links.triggering_run_url:
        footer.append(f"[Failing eval run]({links.triggering_run_url})")
    footer.append(f"_Refinery {__version__}, prompts {prompts_version()}_")
    out.append(" · ".join(footer))
    return "\n".join(out) + "\n"


def _with_status(line: str, statuses: Sequence[str]) -> str:
    """The headline with how the traces were analysed, in its own closing parenthesis when it has one."""
    if not statuses:
        return line
    if line.endswith(")"):
        return f"{line[:-1]}; {', '.join(statuses)})"
    return f"{line} ({', '.join(statuses)})"


def _verdict(clusters: Sequence[FailureGroup], read: int | None) -> str:
    """``**5 of 24 traces failed.** Leading cause: …`` when the run knows how many it read; else nothing."""
    total = sum(g.count for g in clusters)
    if not read or not total:
        return ""
    lead = clusters[0]
    leads = len(clusters) > 1 and lead.count > clusters[1].count
    cause = f"Leading cause: {prose(lead.title, 100)} ({lead.count} of {total}). " if leads else ""
    return f"**{total} of {plural(read, 'trace')} failed.** {cause}"


def _blamed(suspect: Suspect) -> str:
    where = f"{inline_code(suspect.path, 80)} L{suspect.start_line}"
    return f"Likely from your change to {where}" if suspect.band == "likely" else f"Possibly related: {where}"


def _which_clusters(analysed: int, sizes: list[int]) -> str:
    """Which clusters the analysed traces stand for; "the largest" only when no cluster left out is as large."""
    if len(sizes) <= analysed:
        return "one per cluster"
    ranked = sorted(sizes, reverse=True)
    if ranked[analysed - 1] > ranked[analysed]:
        return f"the {analysed} largest clusters"
    return f"one from each of {analysed} of the {len(sizes)} clusters, largest first; the others are triaged only"


def headline(entries: Sequence[TraceEntry], clusters: Sequence[FailureGroup] = ()) -> str:
    """How many traces were analysed, and what the selection rule says of them: never "failing" for a
    trace that passed, never fewer failures than the clusters list."""
    if not entries:
        return "**Nothing was analysed**"
    verdicts: list[str] = [e.pack.selection.verdict if e.pack.selection else "failed" for e in entries]
    total = sum(g.count for g in clusters)
    if all(v == "failed" for v in verdicts):
        if total > len(entries):
            which = _which_clusters(len(entries), [g.count for g in clusters])
            return f"**{len(entries)} of {total} failures analysed** ({which})"
        return f"**{plural(len(entries), 'failing trace')} analysed**"
    parts = [
        f"{verdicts.count(v)} {word}"
        for v, word in (("failed", "failed"), ("passed", "passed"), ("unknown", "with no error or score to judge by"))
        if verdicts.count(v)
    ]
    return f"**{plural(len(entries), 'trace')} analysed**: " + ", ".join(parts)


def _top_suspect(entries: list[TraceEntry]) -> Suspect | None:
    """The best-scoring change over every analysed trace, when it clears its threshold; else none."""
    named = [p.suspects[0] for p in (e.pack for e in entries) if p.suspects and p.suspects[0].band != "none"]
    return max(named, key=lambda s: (s.band == "likely", s.score), default=None)


def build_comment(
    items: Sequence[AnalysisResult | TraceEntry],
    *,
    marker: str,
    links: CommentLinks | None = None,
    langsmith_host: str | None = None,
    limit: int = COMMENT_LIMIT,
    notices: Sequence[str] = (),
    clusters: Sequence[FailureGroup] = (),
    running: str | None = None,
    read: int | None = None,
) -> str:
    """The comment body, at most ``limit`` characters. ``notices`` (failures, a cancellation) lead it;
    ``clusters`` (every failure, grouped) come before the analysed traces; ``running`` says the model
    stages are still at work (the early comment); ``read`` is how many traces were read, for the first line."""
    links = links or CommentLinks()
    entries = [item if isinstance(item, TraceEntry) else entry_for(item) for item in items]
    blocks = [_trace_block(e) for e in entries]
    dropped: list[str] = []

    def render() -> str:
        notes = []
        if dropped:
            notes.append(
                f"Trimmed to fit GitHub's {limit:,}-character limit: removed {', '.join(dropped)}. "
                "The full report is in the artifacts."
            )
        return _render(marker, entries, blocks, links, notes, langsmith_host, notices[:50], clusters, running, read)

    body = render()
    for heading in DROP_ORDER:
        for index in reversed(range(len(blocks))):  # later traces give way first
            if len(body) <= limit:
                return body
            block = blocks[index]
            kept = [s for s in block.sections if s.heading != heading]
            if len(kept) != len(block.sections):
                block.sections = kept
                dropped.append(heading.lower() + (f" (trace {index + 1})" if len(blocks) > 1 else ""))
                body = render()
    while len(body) > limit and any(b.sections for b in blocks):
        block = max(blocks, key=lambda b: sum(len(s.text) for s in b.sections))
        removed = block.sections.pop()
        dropped.append(removed.heading.lower())
        body = render()
    if len(body) > limit:
        for block in blocks:
            block.head = ""
        dropped.append("every trace's details")
        body = render()
    return body
