"""Making untrusted text (trace content, model output) safe inside our Markdown."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def table_cell(text: str, limit: int = 160) -> str:
    """One table cell: a single safe line (see ``prose``) with pipes escaped."""
    return prose(text, limit).replace("|", "\\|")


def inline_code(text: str, limit: int = 120) -> str:
    """Text shown as inline code: one line, no backticks that could close it."""
    text = _WS.sub(" ", text).strip().replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`" if text else "``"


ALLOWED_LINK_HOSTS: tuple[str, ...] = ("github.com", "smith.langchain.com")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()`\"']+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w`/])@(?=[A-Za-z0-9_-])")
_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://([^/:?#]+)", re.IGNORECASE)


def _allowed(url: str, hosts: tuple[str, ...]) -> bool:
    match = _HOST.match(url)
    if not match:
        return False
    host = match.group(1).lower()
    return any(host == h or host.endswith("." + h) for h in hosts)


def prose(text: str, limit: int = 1000, hosts: tuple[str, ...] = ALLOWED_LINK_HOSTS) -> str:
    """Untrusted text (trace or model output) as one safe Markdown line: no HTML, no images,
    no links off the allowed hosts, no @mentions that notify anyone."""
    text = _WS.sub(" ", str(text)).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
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
    return _MENTION.sub("@\u200b", text)


def fenced(text: str, limit: int = 4000) -> str:
    """Untrusted text in a code block that nothing inside can close (code blocks render inert)."""
    from refinery.documents.text import fence

    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return fence(text)
