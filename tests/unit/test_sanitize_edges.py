"""Untrusted text as GitHub will show it, at the edges (report/sanitize.py): which links survive,
what notifies nobody, exact length limits, and code blocks nothing inside can close."""

from __future__ import annotations

from refinery.lines import ZERO_WIDTH
from refinery.report.sanitize import fenced, inline_code, plain_line, prose, sanitize_markdown, table_cell


def test_links_survive_only_to_the_allowed_hosts_and_their_subdomains() -> None:
    assert prose("[run](https://github.com/o/r/actions/runs/1)") == "[run](https://github.com/o/r/actions/runs/1)"
    assert prose("[trace](https://eu.smith.langchain.com/t/1)") == "[trace](https://eu.smith.langchain.com/t/1)"
    assert prose("[login](https://evilgithub.com/x)") == "login"
    assert prose("[login](https://github.com.evil.io/x)") == "login"
    scripted = prose("[x](javascript:alert(1))")
    assert "](" not in scripted and scripted.startswith("x")  # no link left, whatever the parentheses
    assert prose("see https://evil.io/a?b=c now") == "see `https://evil.io/a?b=c` now"
    assert prose("see https://GitHub.com/o/r") == "see https://GitHub.com/o/r"


def test_images_become_their_alt_text_and_html_is_shown_not_run() -> None:
    assert prose("![tracking pixel](https://evil.io/p.png)") == "tracking pixel"
    assert prose("![](https://evil.io/p.png)") == "image"
    assert prose("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"


def test_mentions_and_cross_references_notify_nobody_but_addresses_stay() -> None:
    z = ZERO_WIDTH
    assert prose("ping @octocat and @org/team") == f"ping @{z}octocat and @{z}org/team"
    assert prose("mail ops@example.com") == "mail ops@example.com"
    assert prose("fixes #12, o/r#34 and GH-5") == f"fixes #{z}12, o/r#{z}34 and GH-{z}5"
    assert prose("&#12; and #tag") == "&#12; and #tag"


def test_prose_is_cut_at_exactly_its_limit() -> None:
    assert prose("a" * 10, limit=10) == "a" * 10
    assert prose("a" * 11, limit=10) == "a" * 9 + "…"
    assert prose("  two\n\nlines\t here ") == "two lines here"


def test_code_and_cells_cannot_be_closed_or_split_from_inside() -> None:
    assert inline_code("rm `x`") == "`rm 'x'`"
    assert inline_code("") == "``" and inline_code("  \n ") == "``"
    assert inline_code("b" * 6, limit=5) == "`bbbb…`" and inline_code("b" * 5, limit=5) == "`bbbbb`"
    assert table_cell("a | b") == "a \\| b"
    assert table_cell("c" * 200).endswith("…") and len(table_cell("c" * 200)) == 160
    block = fenced("```\nescape\n```")
    assert block.startswith("````") and block.rstrip().endswith("````")
    assert fenced("d" * 10, limit=5) == fenced("dddd…")


def test_a_whole_document_keeps_its_code_blocks_and_closes_one_left_open() -> None:
    text = "\n".join(
        [
            "# Report @octocat",
            "~~~",
            "@kept inside #1",
            "```",
            "still inside",
            "~~~",
            "after #2",
            "````python",
            "code",
        ]
    )
    out = sanitize_markdown(text).split("\n")
    z = ZERO_WIDTH
    assert out[0] == f"# Report @{z}octocat"
    assert out[2:6] == ["@kept inside #1", "```", "still inside", "~~~"]  # a ``` inside ~~~ closes nothing
    assert out[6] == f"after #{z}2"
    assert out[-1] == "````" and out[-2] == "code"


def test_a_plain_line_keeps_only_what_no_shell_runs_and_is_cut_at_its_limit() -> None:
    assert plain_line("ok; rm -rf $HOME `id` 'q' \"d\" | tee > f & (x)") == "ok rm -rf HOME id q d tee f x"
    assert plain_line("score 0.5, 3/4 = 75% #1") == f"score 0.5, 3/4 = 75% #{ZERO_WIDTH}1"
    assert plain_line("e" * 10, limit=10) == "e" * 10
    assert plain_line("word " * 5, limit=12) == "word word w…"


def test_a_document_line_keeps_allowed_links_and_shows_tabs_as_spaces() -> None:
    doc = "See [the run](https://github.com/o/r/actions/runs/1)\tand [bait](https://evil.io/x)."
    assert sanitize_markdown(doc) == "See [the run](https://github.com/o/r/actions/runs/1) and bait."
    assert sanitize_markdown("[ok](https://mirror.example/x)", hosts=("mirror.example",)) == (
        "[ok](https://mirror.example/x)"
    )


def test_a_bare_link_to_elsewhere_is_shown_as_code_cut_at_two_hundred_characters() -> None:
    url = "https://evil.io/" + "a" * 300
    shown = prose(f"go {url}", limit=2000)
    assert shown == f"go `{url[:199]}…`"


def test_a_code_block_ends_only_at_a_fence_of_its_own_kind_indented_or_not() -> None:
    doc = "```\n<b>kept</b>\n\n```python not a fence\n<i>still code</i>\n  ```\n<b>prose</b>"
    lines = sanitize_markdown(doc).split("\n")
    assert lines[1] == "<b>kept</b>" and lines[4] == "<i>still code</i>"  # a blank line does not close it
    assert lines[5] == "  ```" and lines[6] == "&lt;b&gt;prose&lt;/b&gt;"  # the indented fence closed it
    tilde = sanitize_markdown("~~~~\n```\n<b>x</b>\n~~~~\n<b>y</b>").split("\n")
    assert tilde[2] == "<b>x</b>" and tilde[4] == "&lt;b&gt;y&lt;/b&gt;"


def test_a_plain_line_at_its_limit_is_whole_and_one_cut_before_a_space_has_no_space_before_the_mark() -> None:
    assert plain_line("a" * 255) == "a" * 255
    assert plain_line("word " * 60, limit=11) == "word word…"
    assert plain_line("tab\there") == "tab here"
