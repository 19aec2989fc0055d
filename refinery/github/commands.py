"""GitHub Actions workflow commands and file commands, escaped as the runner expects.

Data is escaped for ``%``, CR and LF; property values also for ``:`` and ``,`` (the
runner's ``escapeData``/``escapeProperty``). Outputs use a random heredoc delimiter, so a
multi-line value can never close it early.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from refinery.lines import printable_line, strip_ansi

if TYPE_CHECKING:
    from refinery.documents.redact import Redactor

SUMMARY_LIMIT = 1024 * 1024
"""The runner refuses a step summary over 1 MiB."""


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: str | int | None) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


class Log:
    """Writes to the job log (stdout): our own workflow commands, and every other line made inert.

    Every message is redacted first (the configured keys and every secret shape), because a
    message can carry trace text: a root error, a feedback comment, a trace id. Plain lines then
    go through ``printable_line``; command messages are stripped of escapes and escaped as the
    runner expects, so their text can never end the command or start another.
    """

    def __init__(self, stream: TextIO, redactor: Redactor | None = None) -> None:
        self._stream = stream
        self._redactor = redactor
        self._lock = threading.Lock()  # traces are analysed in threads: keep lines whole

    def _clean(self, message: str) -> str:
        return strip_ansi(self._redactor.text(message) if self._redactor is not None else message)

    def emit(self, line: str) -> None:
        """Write one line as it is: only for lines this class built."""
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def mask(self, secret: str) -> None:
        # The one line that must carry a secret as it is: it tells the runner what to hide.
        if secret:
            self.emit(command("add-mask", secret))

    def warning(self, message: str, **properties: str | int | None) -> None:
        self.emit(command("warning", self._clean(message), **properties))

    def error(self, message: str, **properties: str | int | None) -> None:
        self.emit(command("error", self._clean(message), **properties))

    def notice(self, message: str, **properties: str | int | None) -> None:
        self.emit(command("notice", self._clean(message), **properties))

    def info(self, message: str) -> None:
        self.emit(printable_line(self._clean(message)))

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.emit(command("group", self._clean(title)))
        try:
            yield
        finally:
            self.emit("::endgroup::")


def write_outputs(path: Path | None, outputs: Mapping[str, str]) -> None:
    """Append outputs to ``$GITHUB_OUTPUT`` with per-value random delimiters."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            while delimiter in value:  # astronomically unlikely, but then it would truncate
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def write_summary(path: Path | None, markdown: str) -> bool:
    """Append to ``$GITHUB_STEP_SUMMARY``, kept under 1 MiB. True when written."""
    if path is None:
        return False
    data = markdown.encode("utf-8")
    if len(data) > SUMMARY_LIMIT - 1024:
        note = b"\n\n> The summary was cut to stay under GitHub's 1 MiB limit; see the artifacts.\n"
        cut = data[: SUMMARY_LIMIT - 1024 - len(note)].decode("utf-8", errors="ignore")
        # Never leave a code fence open: it would swallow the rest of the page.
        if cut.count("```") % 2:
            cut += "\n```"
        data = cut.encode() + note
    with path.open("ab") as handle:
        handle.write(data + b"\n")
    return True
