"""The comment as GitHub renders it (GFM through ``docs/comment.py``'s ``render_html``), read for its
structure: the title first and the only heading above level 4, the verdict in the first line, tables
whose rows all have their header's width, and no raw hash in the cluster lines. For one trace, for 40
failures in 5 clusters, and for a trace with a claimed change."""

from __future__ import annotations

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from refinery.analysis.orchestrator import offline_result
from refinery.analysis.pack import FailureGroup, GroupMember
from refinery.changes.model import Suspect
from refinery.pipeline import prepare
from refinery.report.comment import TraceEntry, build_comment, entry_for, headline
from refinery.trace.files import load_trace_file

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def render_html(markdown: str) -> str:
    spec = importlib.util.spec_from_file_location("docs_comment", REPO / "docs" / "comment.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    html: str = module.render_html(markdown)
    return html


class Structure(HTMLParser):
    """Headings in order, the text of the first paragraph, each table's row widths."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str, bool]] = []
        self.details = 0
        self.paragraphs: list[str] = []
        self.tables: list[list[int]] = []
        self._in_p = False
        self._cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details":
            self.details += 1
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append((tag, self.details > 0))
        if tag == "p":
            self._in_p = True
            self.paragraphs.append("")
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self._cells = 0
        if tag in ("td", "th"):
            self._cells += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.details -= 1
        if tag == "p":
            self._in_p = False
        if tag == "tr" and self.tables:
            self.tables[-1].append(self._cells)

    def handle_data(self, data: str) -> None:
        if self._in_p and self.paragraphs:
            self.paragraphs[-1] += data


def structure(markdown: str) -> Structure:
    parser = Structure()
    parser.feed(render_html(markdown))
    return parser


def entry(name: str, **update: Any) -> TraceEntry:
    result = offline_result(prepare(load_trace_file(EXAMPLES / name)))
    made = entry_for(result)
    return TraceEntry(pack=made.pack.model_copy(update=update), report=made.report) if update else made


def check(parsed: Structure) -> None:
    assert parsed.headings[0] == ("h3", False)  # the title comes first
    inside = [tag for tag, nested in parsed.headings[1:]]
    assert all(tag in ("h4", "h5", "h6") for tag in inside), parsed.headings  # nothing outranks the title
    for table in parsed.tables:
        assert len(set(table)) == 1, table  # every row as wide as the header


def test_one_trace() -> None:
    parsed = structure(build_comment([entry("rate-limit-cascade.json")], marker="<!-- m -->"))
    check(parsed)
    assert parsed.paragraphs[0].startswith("1 failing trace analysed")


def test_forty_failures_in_five_clusters() -> None:
    entries = [entry(name) for name in ("rate-limit-cascade.json", "wrong-answer.json")]
    members = [GroupMember(trace_id=f"0f3a9c1e-{n:04d}-7de7-94fa-9d21e6af84c3", name=f"case {n}") for n in range(40)]
    sizes = [16, 10, 7, 4, 3]
    clusters, start = [], 0
    for number, size in enumerate(sizes, start=1):
        group = members[start : start + size]
        start += size
        group[0] = group[0].model_copy(update={"analysed": number <= 2})
        clusters.append(
            FailureGroup(
                id=f"G{number}",
                title=f"tool `search_{number}`: Rate Limiting",
                category="Rate Limiting",
                origin_name=f"search_{number}",
                cause=f"reward 0.0; r_actions: 0.0; gt_data_hash: {'a1b2c3d4' * 8}" if number == 5 else "429",
                severity="high",
                trace_ids=[m.trace_id for m in group],
                members=group,
                total=40,
            )
        )
    body = build_comment(entries, marker="<!-- m -->", clusters=clusters, read=120)
    parsed = structure(body)
    check(parsed)
    assert parsed.paragraphs[0].startswith("40 of 120 traces failed. Leading cause: tool search_1: Rate Limiting")
    assert "**2 of 40 failures analysed** (the 2 largest clusters; offline)" in body  # one parenthesis
    rows = [line for line in body.splitlines() if re.match(r"^\| \d+ of 40 \|", line)]
    assert [row.split(" | ")[0] for row in rows] == ["| 16 of 40", "| 10 of 40", "| 7 of 40", "| 4 of 40", "| 3 of 40"]
    # A chip is never cut before the part that tells two traces apart.
    assert "`0f3a9c1e-000…`" in body and "`0f3a9c1e-001…`" in body
    assert not [r for r in rows if re.search(r"[0-9a-f]{24}", r)]  # the evaluator's hash is left out
    assert "reward 0.0; r_actions: 0.0; gt_data_hash: …" in body


def test_a_trace_with_a_claimed_change() -> None:
    suspect = Suspect(
        change_id="C02",
        path="prompts/agent.md",
        start_line=3,
        end_line=3,
        score=0.6,
        reason="removed lines from the prompt the trace used (P01)",
        removed=["Always confirm the refund amount before calling issue_refund."],
        band="likely",
        evidence=["names what the evaluator said went wrong: amount, confirm"],
    )
    body = build_comment([entry("wrong-answer.json", suspects=[suspect])], marker="<!-- m -->")
    parsed = structure(body)
    check(parsed)
    assert parsed.paragraphs[0].endswith("Likely from your change to prompts/agent.md L3")
    assert "names what the evaluator said went wrong: amount, confirm" in body


def test_the_largest_clusters_are_claimed_only_when_none_left_out_is_as_large() -> None:
    entries = [entry(name) for name in ("rate-limit-cascade.json", "wrong-answer.json")]

    def clusters(*sizes: int) -> list[FailureGroup]:
        return [
            FailureGroup(
                id=f"G{n}", title="t", category="c", origin_name="o", cause="x", severity="high", trace_ids=["a"] * size
            )
            for n, size in enumerate(sizes, start=1)
        ]

    assert headline(entries, clusters(3, 2, 1)).endswith("(the 2 largest clusters)")
    tied = headline(entries, clusters(1, 1, 1, 1, 1))
    assert "largest clusters" not in tied
    assert tied.endswith("(one from each of 2 of the 5 clusters, largest first; the others are triaged only)")
    assert headline(entries, clusters(3, 2)).endswith("(one per cluster)")


def test_a_clusters_row_keeps_what_was_expected_after_what_was_called() -> None:
    entries = [entry(name) for name in ("rate-limit-cascade.json", "wrong-answer.json")]
    called = 'this run called return_items with item_ids=["' + '","'.join(f"{n:010d}" for n in range(6)) + '"]'
    cause = f'At state-changing call 1 (R0019) {called}; the expected actions called it with item_ids=["0000000000"]'
    assert 200 < len(cause) < 300
    group = FailureGroup(
        id="G1", title="tool `return_items`: Goal Deviation", category="Goal Deviation", origin_name="return_items",
        cause=cause, severity="high", trace_ids=["a", "b"],
    )  # fmt: skip
    body = build_comment(entries, marker="<!-- m -->", clusters=[group], read=3)
    row = next(line for line in body.splitlines() if line.startswith("| 2 of 2 |"))
    assert 'the expected actions called it with item_ids=["0000000000"]' in row
