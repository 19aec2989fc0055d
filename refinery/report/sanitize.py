"""Making untrusted text (trace content, model output) safe inside our Markdown."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def table_cell(text: str, limit: int = 160) -> str:
    """One table cell: a single line, pipes escaped, no HTML, capped."""
    text = _WS.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("`", "'")


def inline_code(text: str, limit: int = 120) -> str:
    """Text shown as inline code: one line, no backticks that could close it."""
    text = _WS.sub(" ", text).strip().replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`" if text else "``"
