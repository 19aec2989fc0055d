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


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences and control characters (tabs and line breaks kept)."""
    if "\x1b" in text or "\x9b" in text:
        text = _ANSI.sub("", text)
    return _CONTROL.sub("", text)


def break_commands(text: str) -> str:
    """No ``::`` and no ``##[`` left for the runner to read as a workflow command."""
    return text.replace("::", f":{ZERO_WIDTH}:").replace("##[", f"#{ZERO_WIDTH}#[")


def printable_line(text: str) -> str:
    """Any text as one inert log line: no escapes, no control characters, no line breaks, no commands."""
    text = _BREAKS.sub(FOLD, strip_ansi(str(text))).replace("\t", " ")
    return break_commands(text)
