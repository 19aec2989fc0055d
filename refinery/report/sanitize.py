"""Making untrusted text (trace content, model output) safe wherever GitHub shows it.

- ``prose``: one Markdown line for the comment, the check run and the job summary: no HTML,
  no images, no links off the allowed hosts, no @mentions that notify, no live ``#123`` or
  ``owner/repo#45`` cross-references, no escape sequences.
- ``inline_code``, ``table_cell``, ``fenced``: the same text inside code or a table.
- ``sanitize_markdown``: a whole Markdown document from elsewhere (a fan-out's report.md),
  line by line, code blocks kept and balanced.
- ``plain_line``: where the text is not Markdown and may reach a shell: the ``summary``
  output and the check run's title. Only letters, digits, spaces and ``. , : - _ / + = % #``.
"""

from __future__ import annotations

import re

from refinery.lines import ZERO_WIDTH, strip_ansi, visible

_WS = re.compile(r"\s+")
ALLOWED_LINK_HOSTS: tuple[str, ...] = ("github.com", "smith.langchain.com")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()`\"']+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w`/])@(?=[A-Za-z0-9_-])")
# "#12", "owner/repo#12" and "GH-12" become links that notify the issue they name.
_XREF = re.compile(r"(?<!&)#(?=\d)|\bGH-(?=\d)", re.IGNORECASE)
_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://([^/:?#]+)", re.IGNORECASE)
_PLAIN_UNSAFE = re.compile(r"[^\w .,:\-/+=%#]")


def _allowed(url: str, hosts: tuple[str, ...]) -> bool:
    match = _HOST.match(url)
    if not match:
        return False
    host = match.group(1).lower()
    return any(host == h or host.endswith("." + h) for h in hosts)


def break_references(text: str) -> str:
    """@mentions and issue cross-references that no longer notify anyone (a zero-width space after @ and #)."""
    text = _MENTION.sub("@" + ZERO_WIDTH, text)
    return _XREF.sub(lambda m: m.group(0) + ZERO_WIDTH, text)


def _inert(text: str, hosts: tuple[str, ...]) -> str:
    """The substitutions every Markdown line needs, leaving its layout (indentation, lists) alone."""
    text = strip_ansi(visible(text)).replace("\t", " ")
    text = _IMAGE.sub(lambda m: m.group(1) or "image", text)

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1), match.group(2)
        return f"[{label}]({url})" if _allowed(url, hosts) else label

    text = _LINK.sub(link, text)
    pieces = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        pieces.append(text[last : match.start()])
        pieces.append(url if _allowed(url, hosts) else inline_code(url, 200))
        last = match.end()
    pieces.append(text[last:])
    text = "".join(pieces)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return break_references(text)


def prose(text: str, limit: int = 1000, hosts: tuple[str, ...] = ALLOWED_LINK_HOSTS) -> str:
    """Untrusted text (trace or model output) as one safe Markdown line."""
    text = _WS.sub(" ", strip_ansi(str(text))).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _inert(text, hosts)


def table_cell(text: str, limit: int = 160) -> str:
    """One table cell: a single safe line (see ``prose``) with pipes escaped."""
    return prose(text, limit).replace("|", "\\|")


def inline_code(text: str, limit: int = 120) -> str:
    """Text shown as inline code: one line, no backticks that could close it."""
    text = _WS.sub(" ", strip_ansi(str(text))).strip().replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


def fenced(text: str, limit: int = 4000) -> str:
    """Untrusted text in a code block that nothing inside can close (code blocks render inert)."""
    from refinery.documents.text import fence

    text = strip_ansi(str(text))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return fence(text)


def sanitize_markdown(markdown: str, hosts: tuple[str, ...] = ALLOWED_LINK_HOSTS) -> str:
    """A Markdown document from outside this process, made as safe as one we rendered.

    Lines outside code blocks get ``prose``'s substitutions (their layout kept); code blocks
    are kept as they are, since GitHub renders them inert, and one left open is closed.
    """
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            marker = stripped[0]
            fence = stripped[: len(stripped) - len(stripped.lstrip(marker))]
            out.append(strip_ansi(line))
        elif fence is not None:
            if stripped.startswith(fence) and stripped.strip(fence[0]) == "":
                fence = None
            out.append(strip_ansi(line))
        else:
            out.append(_inert(line, hosts))
    if fence is not None:
        out.append(fence)
    return "\n".join(out)


def plain_line(text: str, limit: int = 255) -> str:
    """Untrusted text where Markdown is not rendered and a shell may see it (outputs, titles).

    ``run: echo ${{ steps.refinery.outputs.summary }}`` pastes the value into a script before
    the shell reads it, so quotes, ``$``, backticks, ``;``, ``&``, ``|``, redirections and
    brackets could all run something; they are dropped, with every other character outside
    the safe set. Mentions and cross-references are broken as in ``prose``.
    """
    text = _WS.sub(" ", strip_ansi(str(text))).strip()
    text = _PLAIN_UNSAFE.sub("", text)  # quotes and backticks among the rest
    text = _WS.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return break_references(text)
