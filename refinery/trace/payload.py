"""Bounds on what one run field can hold in memory.

Traces carry multi-MB tool results and base64 screenshots. At load time we keep the head
and tail of huge strings and replace binary payloads by a placeholder that says what
they were, and count both so the trace can warn. The documents layer applies its own,
tighter, per-field caps later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from refinery.lines import elide_middle
from refinery.trace.bounds import MAX_NESTING

MAX_STRING_CHARS = 200_000
"""A string longer than this keeps its head and tail only."""
MIN_BINARY_CHARS = 2_048
"""Shorter base64-looking strings are left alone: ids and hashes look like base64 too."""

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(?:;[\w=.-]+)*;base64,", re.ASCII)
_BASE64_BODY = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$", re.ASCII)


@dataclass
class PayloadStats:
    """What capping changed, for one trace."""

    truncated: int = 0
    binary: int = 0
    truncated_runs: list[str] = field(default_factory=list)
    binary_runs: list[str] = field(default_factory=list)
    deep: int = 0
    deep_runs: list[str] = field(default_factory=list)


def human_size(n_bytes: int) -> str:
    """1536 -> '1.5 KB'."""
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def binary_placeholder(text: str) -> str | None:
    """A placeholder for a base64/binary payload, or None if ``text`` is ordinary text."""
    if len(text) < MIN_BINARY_CHARS:
        return None
    match = _DATA_URL.match(text)
    if match:
        mime = match.group(1) or "application/octet-stream"
        body_len = len(text) - match.end()
        return f"[binary payload elided: {mime}, {human_size(body_len * 3 // 4)}]"
    head = text[:4096]
    if "\x00" in head:
        return f"[binary payload elided: application/octet-stream, {human_size(len(text))}]"
    # Base64 of real binary uses most of its alphabet; a long run of letters does not.
    if len(set(head)) >= 16 and _BASE64_BODY.match(head) and _BASE64_BODY.match(text):
        return f"[binary payload elided: base64, {human_size(len(text) * 3 // 4)}]"
    return None


def cap_payload(value: Any, stats: PayloadStats, run_id: str, limit: int = MAX_STRING_CHARS, depth: int = 0) -> Any:
    """Return ``value`` with binary payloads replaced, huge strings elided and deep nesting cut.

    Below ``MAX_NESTING`` levels a container becomes a placeholder, so nothing after loading
    (redaction, rendering, serializing) ever recurses further than that.
    """
    if isinstance(value, str):
        if len(value) < MIN_BINARY_CHARS:
            return value
        placeholder = binary_placeholder(value)
        if placeholder is not None:
            stats.binary += 1
            _note(stats.binary_runs, run_id)
            return placeholder
        if len(value) > limit:
            stats.truncated += 1
            _note(stats.truncated_runs, run_id)
            return elide_middle(value, limit)
        return value
    if isinstance(value, (dict, list)) and depth >= MAX_NESTING:
        stats.deep += 1
        _note(stats.deep_runs, run_id)
        return f"[{type(value).__name__} nested deeper than {MAX_NESTING} levels elided]"
    if isinstance(value, dict):
        return {k: cap_payload(v, stats, run_id, limit, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [cap_payload(v, stats, run_id, limit, depth + 1) for v in value]
    return value


def _note(runs: list[str], run_id: str) -> None:
    if len(runs) < 5 and run_id not in runs:
        runs.append(run_id)
