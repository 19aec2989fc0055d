"""Documents made of citable sections, and the budget that keeps each document bounded.

A section is a heading that carries its id plus a body. Budgets never cut a section in
half: a section is either shown in full, in compact form (tighter field caps), or as a
one-line stub that keeps its id and says what was left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Section:
    """One citable unit of a document."""

    id: str
    heading: str
    body: str
    priority: int = 1
    """0 = never shortened while anything else can be; higher = shortened first."""
    compact: Callable[[], str] | None = None
    """Renders the body with tighter caps, only when the budget needs it."""
    stub: str | Callable[[], str] | None = None
    """One-line replacement when even the compact body does not fit (or a function making it)."""
    state: str = "full"

    def text(self) -> str:
        return f"## {self.heading}\n\n{self.body}\n"


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


def assemble_document(name: str, kind: str, header: str, sections: list[Section], budget: int) -> Document:
    """Join the sections under ``header``, shortening low-priority ones until within ``budget`` chars."""
    sizes = [len(s.text()) for s in sections]
    total = len(header) + sum(sizes)
    notes: list[str] = []
    if total > budget:
        order = sorted(range(len(sections)), key=lambda i: (-sections[i].priority, -sizes[i], i))
        for phase in ("compact", "stub"):
            for i in order:
                if total <= budget:
                    break
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
        compacted = sum(1 for s in sections if s.state == "compact")
        stubbed = sum(1 for s in sections if s.state == "stub")
        notes.append(
            f"{name} exceeded its budget of {budget:,} characters: {compacted} sections were shortened "
            f"and {stubbed} reduced to a one-line summary"
            + ("" if total <= budget else f"; it is still {total:,} characters")
            + "."
        )
    body = "".join(s.text() + "\n" for s in sections)
    note_text = "".join(f"> Budget: {n}\n\n" for n in notes)
    return Document(
        name=name,
        kind=kind,
        text=header + note_text + body,
        section_ids=[s.id for s in sections],
        notes=notes,
    )
