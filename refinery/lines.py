"""One escaping function for every line the process prints: the job log and the terminal.

Trace text and model output reach the log (a root error, a feedback comment, a trace id).
The Actions runner reads every stdout line that starts with ``::`` (after leading
whitespace) as a workflow command, and the old ``##[`` form too; a terminal obeys ANSI
escapes. ``printable_line`` makes any text one inert line: escapes and control characters
stripped, line breaks folded, and every ``::`` and ``##[`` broken by a zero-width space,
so no part of it can start a command however the runner splits or trims it.
"""

from __future__ import annotations

import re

# CSI (colours, cursor), OSC (titles, hyperlinks: BEL- or ST-terminated), other two-byte escapes, 8-bit CSI.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
# C0 and C1 controls other than tab and the line breaks (those are folded, not dropped), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")
_BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
ZERO_WIDTH = "\u200b"
FOLD = " ⏎ "
# Bidi controls (a right-to-left override makes "txt.exe" read "exe.txt"), zero-width and other
# invisible format characters: text that shows something other than what it holds. U+200B is left
# alone: Refinery writes it itself to keep "#12" and "@name" from linking.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u115f\u1160\u180e\u200c-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)


def visible(text: str) -> str:
    """``text`` with every bidi control and invisible character written out as ``<U+202E>``."""
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text) if _INVISIBLE.search(text) else text


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences and control characters (tabs and line breaks kept), and
    with its bidi controls and invisible characters written out."""
    if "\x1b" in text or "\x9b" in text:
        text = _ANSI.sub("", text)
    return visible(_CONTROL.sub("", text))


def break_commands(text: str) -> str:
    """No ``::`` and no ``##[`` left for the runner to read as a workflow command."""
    return text.replace("::", f":{ZERO_WIDTH}:").replace("##[", f"#{ZERO_WIDTH}#[")


def printable_line(text: str) -> str:
    """Any text as one inert log line: no escapes, no control characters, no line breaks, no commands."""
    text = _BREAKS.sub(FOLD, strip_ansi(str(text))).replace("\t", " ")
    return break_commands(text)


_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~:%]")
TOKEN_REACH = 1_000
"""How far a cut moves to keep a token whole. A longer run is no credential (keys are tens of
characters, a PEM body breaks its lines): it is cut where the limit falls."""


def _token_end(text: str, index: int) -> int:
    """``index``, moved forward past the token it falls inside (unchanged inside a run too long to be one)."""
    if index <= 0 or index >= len(text) or not (_TOKEN.match(text, index - 1) and _TOKEN.match(text, index)):
        return index
    end = index
    while end < len(text) and end - index < TOKEN_REACH and _TOKEN.match(text, end):
        end += 1
    return end if end - index < TOKEN_REACH else index


def _token_start(text: str, index: int) -> int:
    """``index``, moved back to the start of the token it falls inside (unchanged inside a run too long)."""
    if index <= 0 or index >= len(text) or not (_TOKEN.match(text, index - 1) and _TOKEN.match(text, index)):
        return index
    start = index
    while start > 0 and index - start < TOKEN_REACH and _TOKEN.match(text, start - 1):
        start -= 1
    return start if index - start < TOKEN_REACH else index


def clip(text: str, limit: int, marker: str = "…") -> str:
    """At most about ``limit`` characters of ``text``, never cut inside a token: a secret is kept whole
    (and so still redacted by its shape) or left out whole, never a recognisable part of one."""
    if len(text) <= limit:
        return text
    return text[: _token_end(text, limit)] + marker


def elide_middle(text: str, limit: int) -> str:
    """The head and tail of ``text`` with an explicit marker between; neither cut falls inside a token."""
    if len(text) <= limit:
        return text
    keep = max(limit // 2, 1)
    head = _token_end(text, keep)
    tail = max(head, _token_start(text, len(text) - keep))
    if tail == head:  # one token longer than the limit: kept whole, with no marker of nothing elided
        return text
    return f"{text[:head]}[… {tail - head} chars elided …]{text[tail:]}"
