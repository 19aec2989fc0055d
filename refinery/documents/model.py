"""Documents made of citable sections, and the budget that keeps each document bounded.

A section is a heading that carries its id plus a body. Budgets never cut a section in
half: a section is shown in full, in compact form (tighter field caps), or as a one-line
stub that keeps its id and says what was left out. Sections of priority 0 (the failure's
evidence) are shortened only when nothing else is left to shorten.

When even every stub does not fit (a 25,000-run trace), the evidence keeps its full
sections and the rest start as stubs; then consecutive collapsible stubs become one range
line (``R0001–R0147: 147 runs: 49 × chain agent_turn, …, all success``). Their ids stay
citable: the range names them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Section:
    """One citable unit of a document."""

    id: str
    heading: str
    body: str | Callable[[], str]
    """The full body, or a function rendering it (only when the budget may show it)."""
    priority: int = 1
    """0 = never shortened while anything else can be; higher = shortened first."""
    compact: Callable[[], str] | None = None
    """Renders the body with tighter caps, only when the budget needs it."""
    stub: str | Callable[[], str] | None = None
    """One-line replacement when even the compact body does not fit (or a function making it)."""
    collapse: tuple[str, str] | None = None
    """(kind, status) when consecutive stubs of this section may fold into one range line."""
    state: str = "full"

    def full_body(self) -> str:
        if callable(self.body):
            self.body = self.body()
        return self.body

    def text(self) -> str:
        return f"## {self.heading}\n\n{self.full_body()}\n"


@dataclass
class Document:
    """A rendered Markdown document and the ids of its sections."""

    name: str
    kind: str
    text: str
    section_ids: list[str]
    notes: list[str] = field(default_factory=list)
    """What the budget did, if anything."""

    @property
    def chars(self) -> int:
        return len(self.text)


def _stub_body(section: Section) -> str:
    return str(section.stub() if callable(section.stub) else section.stub)


def _shrink(sections: list[Section], sizes: list[int], total: int, budget: int) -> int:
    """Shorten low-priority sections first (compact, then stub), the evidence last, until ``total`` fits."""
    order = sorted(range(len(sections)), key=lambda i: (-sections[i].priority, -sizes[i], i))
    # The rest is shortened, then stubbed, before the evidence (priority 0) is touched at all.
    for phase, evidence in (("compact", False), ("stub", False), ("compact", True), ("stub", True)):
        for i in (i for i in order if (sections[i].priority == 0) == evidence):
            if total <= budget:
                return total
            section = sections[i]
            if phase == "compact" and section.compact is not None and section.state == "full":
                section.body = section.compact()
                section.state = "compact"
            elif phase == "stub" and section.stub is not None and section.state != "stub":
                section.body = section.stub() if callable(section.stub) else section.stub
                section.state = "stub"
            else:
                continue
            new_size = len(section.text())
            total += new_size - sizes[i]
            sizes[i] = new_size
    return total


def _range_text(group: list[Section]) -> str:
    kinds = Counter(s.collapse[0] for s in group if s.collapse)
    statuses = Counter(s.collapse[1] for s in group if s.collapse)
    shape = ", ".join(f"{n} × {kind}" for kind, n in kinds.most_common(6))
    if len(kinds) > 6:
        shape += f", and {len(kinds) - 6} more kinds"
    status = f"all {next(iter(statuses))}" if len(statuses) == 1 else ", ".join(f"{n} {s}" for s, n in statuses.items())
    return f"## {group[0].id}–{group[-1].id} · {len(group)} runs collapsed\n\n{shape} · {status}\n"


Folds = dict[int, tuple[int, str]]
"""First section index -> (index after the last, the range line replacing them)."""


def _plan_folds(texts: list[str], sections: list[Section], total: int, budget: int) -> tuple[Folds, int]:
    """Stretches of collapsible stubs to fold into range lines, longest first, until within budget."""
    stretches: list[tuple[int, int]] = []
    start = None
    for i, section in enumerate([*sections, None]):
        foldable = section is not None and section.state == "stub" and section.collapse is not None
        if foldable and start is None:
            start = i
        elif not foldable and start is not None:
            if i - start >= 2:
                stretches.append((start, i))
            start = None
    folds: Folds = {}
    for begin, end in sorted(stretches, key=lambda se: (se[0] - se[1], se[0])):
        if total <= budget:
            break
        line = _range_text(sections[begin:end])
        total += len(line) - sum(len(t) for t in texts[begin:end])
        folds[begin] = (end, line)
    return folds, total


def _apply_folds(texts: list[str], folds: Folds) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(texts):
        if i in folds:
            end, line = folds[i]
            out.append(line)
            i = end
        else:
            out.append(texts[i])
            i += 1
    return out


def assemble_document(name: str, kind: str, header: str, sections: list[Section], budget: int) -> Document:
    """Join the sections under ``header``, shortening low-priority ones until within ``budget`` chars."""
    stubs = [_stub_body(s) if s.stub is not None and s.priority > 0 else None for s in sections]
    stub_floor = len(header) + sum(len(s.heading) + len(t) + 6 for s, t in zip(sections, stubs, strict=True) if t)
    notes: list[str] = []
    collapsed = 0
    if stub_floor > budget and any(s.collapse for s in sections):
        # Even the stubs do not fit: the evidence in full, the rest as stubs, folded into ranges as needed.
        for section, stub in zip(sections, stubs, strict=True):
            if stub is not None:
                section.body, section.state = stub, "stub"
        texts = [s.text() for s in sections]
        sizes = [len(t) for t in texts]
        folds, total = _plan_folds(texts, sections, len(header) + sum(sizes), budget)
        if total > budget:  # only the evidence is left to shorten
            total = _shrink(sections, sizes, total, budget)
            texts = [s.text() for s in sections]
        texts = _apply_folds(texts, folds)
        collapsed = sum(end - begin for begin, (end, _) in folds.items())
    else:
        texts = [s.text() for s in sections]
        sizes = [len(t) for t in texts]
        total = len(header) + sum(sizes)
        if total > budget:
            total = _shrink(sections, sizes, total, budget)
        texts = [s.text() for s in sections]
    if any(s.state != "full" for s in sections):
        compacted = sum(1 for s in sections if s.state == "compact")
        stubbed = sum(1 for s in sections if s.state == "stub") - collapsed
        kept = sum(1 for s in sections if s.priority == 0 and s.state == "full")
        notes.append(
            f"{name} exceeded its budget of {budget:,} characters: {compacted} sections were shortened"
            f", {stubbed} reduced to a one-line summary"
            + (f" and {collapsed} folded into range lines" if collapsed else "")
            + (f"; the {kept} sections of the failure's evidence are in full" if kept else "")
            + ("" if total <= budget else f"; it is still {total:,} characters")
            + "."
        )
    body = "".join(t + "\n" for t in texts)
    note_text = "".join(f"> Budget: {n}\n\n" for n in notes)
    return Document(
        name=name,
        kind=kind,
        text=header + note_text + body,
        section_ids=[s.id for s in sections],
        notes=notes,
    )
