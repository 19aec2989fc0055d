"""Group failures that share a root cause, deterministically.

Two traces fall in one group when they fail in the same TRAIL category at a run (or tool) of
the same name, or in the same category with causes that read alike (errors only: a departure from
the expected actions or a passing run is its place). The model's diagnosis is used when a trace
has one; the triage origin otherwise. With no origin, a run cut off by its own limit or a crash is
placed by that limit or the exception's type (how it ended says more than the verdict on its
answer), else by the evaluator whose verdict failed it (its comments differ by what each task
expected, which is no shared cause).
A group says only what is true of every member. Groups are ranked by how many traces they hold,
then by severity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from refinery.analysis.orchestrator import AnalysisResult
from refinery.analysis.pack import FailureGroup, GroupMember, HypothesisPack
from refinery.triage.ending import CUT_OFF_RULES, exception_type

_SEVERITY = {"critical": 4, "high": 3, "medium": 2, "low": 1}
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "of", "to", "and", "in", "on", "was", "is", "by", "for", "it", "with", "at", "from", "that"}
SIMILAR = 0.5


class _Signature(BaseModel):
    trace_id: str
    category: str
    origin_name: str | None
    run_type: str | None
    cause: str
    severity: str
    departure: bool = False
    """Placed by a departure from the expected actions or a passing run, not by an error's words."""
    evaluator: str | None = None
    """The evaluator whose verdict is all triage knows of the failure (no origin, no limit)."""
    raised: str | None = None
    """The exception type a cut-off run stopped on (a crash's, or a limit raised as one): runs stopped by
    the same type share their place, however the messages' details differ (which filter, which request)."""
    whole_run: bool = False
    """Said of the run as a whole (nothing failed to say, or it was cut off by its limit or a crash), not its answer."""


def _signature(pack: HypothesisPack) -> _Signature:
    """What a failure looks like for grouping: the model's diagnosis when it has one, the triage otherwise."""
    triage = pack.triage
    diagnosis = next((s.output for s in pack.stages if s.stage == "diagnosis" and s.output), None)
    chains = (diagnosis or {}).get("causal_chains") or []
    if chains and not (diagnosis or {}).get("inconclusive"):
        chain = chains[0]
        section = str(chain.get("origin_run_id", "")).strip()
        named = next((f for f in triage.findings if f.section == section), None)
        name = (
            named.name
            if named
            else (triage.origin.name if triage.origin and triage.origin.section == section else None)
        )
        run_type = triage.origin.run_type if triage.origin and triage.origin.section == section else None
        return _Signature(
            trace_id=pack.trace.id,
            category=str(chain.get("category")),
            origin_name=name,
            run_type=run_type,
            cause=str(chain.get("cause", "")),
            severity="high",
        )
    origin = triage.origin
    limit = next((f for f in triage.findings if f.rule in CUT_OFF_RULES), None)
    if origin is None and limit is not None:
        # With no origin, how the run ended says more than the verdict on its answer: it did not finish.
        return _Signature(
            trace_id=pack.trace.id,
            category=limit.category,
            origin_name=None,
            run_type=None,
            cause=limit.evidence,
            severity=limit.severity,
            raised=exception_type(limit.evidence),
            whole_run=True,
        )
    if origin is None:
        gaps = [f for f in triage.findings if f.group == "evaluation"]
        if not gaps:
            # Selected as failing, yet triage found nothing to say: kept as a group of its own kind.
            reasons = pack.selection.reasons if pack.selection else []
            return _Signature(
                trace_id=pack.trace.id,
                category="Unexplained",
                origin_name=None,
                run_type=None,
                cause=reasons[0] if reasons else "no run failed and no eval gap was found",
                severity="low",
                whole_run=True,
            )
        return _Signature(
            trace_id=pack.trace.id,
            category="Eval Gap",
            origin_name=None,
            run_type=None,
            cause=gaps[0].evidence,
            severity=gaps[0].severity,
            evaluator=gaps[0].evaluator,
        )
    finding = next(f for f in triage.findings if f.id == origin.finding_id)
    return _Signature(
        trace_id=pack.trace.id,
        category=finding.category,
        origin_name=origin.name,
        run_type=origin.run_type,
        cause=finding.evidence,
        severity=finding.severity,
        departure=finding.rule in ("expected_divergence", "baseline_divergence"),
    )


def _member(pack: HypothesisPack) -> GroupMember:
    return GroupMember(
        trace_id=pack.trace.id,
        name=pack.trace.name,
        url=pack.trace.url,
        analysed=pack.status != "offline",
        flaky=pack.selection.flaky if pack.selection else None,
    )


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and not w.isdigit()}


def _similar(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= SIMILAR


SHARED_OPENING = 12
"""Characters a common opening needs to say what the members share (less is a word or two of form)."""


def _common_opening(texts: Sequence[str]) -> str:
    """The characters every text opens with."""
    length = min(len(text) for text in texts)
    for index in range(length):
        if len({text[index] for text in texts}) > 1:
            return texts[0][:index]
    return texts[0][:length]


def _at_word_end(prefix: str, causes: Sequence[str]) -> bool:
    """Whether ``prefix`` ends between words in every cause (it cuts no word in two)."""
    return not prefix[-1:].isalnum() or all(not cause[len(prefix) : len(prefix) + 1].isalnum() for cause in causes)


_PAIRS = {")": "(", "]": "[", "}": "{"}


def _closed(prefix: str) -> str:
    """``prefix`` up to its first bracket left open: an opening that cuts a structure in two (``400 -
    {'error': {'``) says no more of it than where it begins, so it ends before the bracket and its dash,
    and before a quotation mark it only opened."""
    opened: list[tuple[str, int]] = []
    for index, char in enumerate(prefix):
        if char in "([{":
            opened.append((char, index))
        elif char in _PAIRS and opened and opened[-1][0] == _PAIRS[char]:
            opened.pop()
    kept = prefix[: opened[0][1]].rstrip(" -–—") if opened else prefix
    return re.sub(r"(?<=\s)[\"'`‘“]+$", "", kept)  # nor a quotation only opened


def shared_cause(causes: Sequence[str]) -> str:
    """The cause in words every member's cause shares, so no member's own words read as everyone's.

    The members' cause when they agree; else their common opening, to a word's end, and an ellipsis
    (``correctness = 0: Expected answer: …`` for two answers that differ); else, with no opening
    worth saying, the first member's cause with how many it speaks for."""
    first = causes[0]
    if all(cause == first for cause in causes):
        return first
    prefix = _common_opening(causes)
    if not _at_word_end(prefix, causes):
        prefix = prefix[: prefix.rfind(" ") + 1]
    prefix = _closed(prefix).rstrip()
    if len(prefix) >= SHARED_OPENING:
        return f"{prefix} …"
    others = "the other's words differ" if len(causes) == 2 else "the others' words differ"
    return f"{first} (1 of {len(causes)}: {others})"


def _place(head: _Signature, names: list[str | None]) -> str:
    """Where the members start, in words true of each: a name only when they all share it, else the
    first two names and how many other places."""
    kind = head.run_type or "run"
    named = [n for n in names if n]
    if len(names) == 1 and named:
        return f"{kind} `{named[0]}`"
    if named:
        listed = ", ".join(f"`{n}`" for n in named[:2])
        more = len(names) - len(named[:2])
        return f"{kind}s {listed}" + (f" and {more} more" if more else "")
    return "the run" if head.whole_run else "the final answer"


def group_failures(items: Sequence[AnalysisResult | HypothesisPack]) -> list[FailureGroup]:
    """Groups of failures with a shared root cause, largest and most severe first."""
    members: list[list[_Signature]] = []
    packs = {}
    for item in items:
        pack = item.pack() if isinstance(item, AnalysisResult) else item
        packs[pack.trace.id] = pack
        signature = _signature(pack)
        for group in members:
            head = group[0]
            same_place = head.origin_name is not None and head.origin_name == signature.origin_name
            # With only an evaluator's verdict to go on, its comments differ by what each task expected:
            # the same evaluator failing the answer is all such failures are known to share.
            same_place = same_place or (head.evaluator is not None and head.evaluator == signature.evaluator)
            same_place = same_place or (head.raised is not None and head.raised == signature.raised)
            # A departure is its place: "called X where … called Y" shares most of its words with any
            # other departure, so only an error's own words can join two runs of different names.
            alike = not (head.departure or signature.departure) and _similar(head.cause, signature.cause)
            if head.category == signature.category and (same_place or alike):
                group.append(signature)
                break
        else:
            members.append([signature])
    groups: list[FailureGroup] = []
    for group in members:
        head = group[0]
        severity = max((s.severity for s in group), key=lambda s: _SEVERITY.get(s, 0))
        names = list(dict.fromkeys(s.origin_name for s in group))
        groups.append(
            FailureGroup(
                id="",
                title=f"{_place(head, names)}: {head.category}",
                category=head.category,
                origin_name=names[0] if len(names) == 1 else None,
                cause=shared_cause([s.cause for s in group]),
                severity=severity,
                trace_ids=[s.trace_id for s in group],
                members=[_member(packs[s.trace_id]) for s in group],
                total=len(packs),
            )
        )
    groups.sort(key=lambda g: (-g.count, -_SEVERITY.get(g.severity, 0), g.title))
    for index, ranked in enumerate(groups, start=1):
        ranked.id = f"G{index}"
    return groups
