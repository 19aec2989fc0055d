"""Bounds on what a trace file may make Refinery do: how much it reads, how deep it nests, which
numbers and times it accepts. Each limit ends in a clear error or a warning, never a hang.

- Only regular files are read (a FIFO would block for ever, ``/dev/zero`` never ends).
- At most ``InputLimits.max_bytes``, decompressed: a 1.5 MB gzip bomb stops at the limit.
- JSON nested deeper than the parser can go is an error; values nested deeper than
  ``MAX_NESTING`` are replaced by a placeholder when runs are built, so nothing later recurses
  past it.
- Numbers: integers too long to be counts stay text; ``NaN``, ``Infinity`` and ``1e400`` stay text.
- Times: only finite epochs between years 1 and 9999 become datetimes.
"""

from __future__ import annotations

import math
import os
import stat
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from refinery.errors import TraceFormatError, TraceNotFound

MAX_NESTING = 64
"""Containers below this depth within one run field become a placeholder (and a warning)."""
MAX_INT_DIGITS = 30
"""Longer integer literals are kept as text: no count or timestamp needs more digits."""
_CHUNK = 1 << 20
_MIN_EPOCH = datetime(1, 1, 2, tzinfo=UTC).timestamp()
_MAX_EPOCH = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class InputLimits:
    """How much one trace file may hold."""

    max_bytes: int = 512 * 1024 * 1024
    """Decompressed bytes read at most (REFINERY_MAX_INPUT_MB)."""

    @property
    def max_mb(self) -> int:
        return self.max_bytes // (1024 * 1024)


def read_bounded(path: Path, limits: InputLimits) -> bytes:
    """The bytes of a regular file, gunzipped when gzipped, refusing to go past ``limits``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        what = "is a dangling symlink" if os.path.islink(path) else "does not exist"
        raise TraceNotFound(
            f"Trace file {path} {what}.", hint="Check the path (globs are expanded by the action)."
        ) from None
    except OSError as exc:  # ELOOP, ENAMETOOLONG, EACCES
        raise TraceFormatError(
            f"Cannot read {path}: {exc.strerror or exc}.", hint="Give a readable trace file."
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise TraceFormatError(f"{path} is a directory.", hint="Give a trace file.")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
        raise TraceFormatError(f"{path} is {kind}, not a regular file.", hint="Give a trace file saved to disk.")
    too_big = TraceFormatError(
        f"{path} holds more than {limits.max_mb:,} MB of trace data (decompressed).",
        hint="Split it, or raise the limit with the REFINERY_MAX_INPUT_MB environment variable.",
    )
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
            if head != b"\x1f\x8b":
                data = head + handle.read(max(limits.max_bytes - len(head), 0))
                if handle.read(1):
                    raise too_big
                return data
            return _gunzip(path, head + handle.read(), limits, too_big)
    except OSError as exc:
        raise TraceFormatError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def _gunzip(path: Path, raw: bytes, limits: InputLimits, too_big: TraceFormatError) -> bytes:
    out = bytearray()
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = raw
    try:
        while data:
            out += decompressor.decompress(data, _CHUNK)
            if len(out) > limits.max_bytes:
                raise too_big
            data = decompressor.unconsumed_tail
            if not data and decompressor.eof and decompressor.unused_data:
                # Concatenated gzip members (``cat a.gz b.gz``) are one stream to gunzip.
                data = decompressor.unused_data
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if not decompressor.eof:
            raise TraceFormatError(f"{path} looks gzipped but is cut short.", hint="Re-create or re-download it.")
    except zlib.error as exc:
        raise TraceFormatError(f"{path} looks gzipped but cannot be decompressed: {exc}.") from None
    return bytes(out)


def parse_int_literal(text: str) -> int | str:
    """A JSON integer: as an int when it can be a count or a time, else kept as its digits."""
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else text


def parse_float_literal(text: str) -> float | str:
    """A JSON number with a fraction or exponent: a finite float, else (``1e400``) its text."""
    value = float(text)
    return value if math.isfinite(value) else text


def parse_constant_literal(text: str) -> str:
    """``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, but Python writes them) stay text."""
    return text


def epoch_datetime(seconds: float) -> datetime | None:
    """A UTC datetime for finite epoch seconds within years 1 to 9999; None otherwise."""
    if not math.isfinite(seconds) or not _MIN_EPOCH <= seconds <= _MAX_EPOCH:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def epoch_any_unit(value: float) -> datetime | None:
    """Epoch seconds, or milli-, micro- or nanoseconds for large values (as exporters write them)."""
    seconds = float(value)
    if not math.isfinite(seconds):
        return None
    for _ in range(3):
        if abs(seconds) <= 1e11:
            break
        seconds /= 1000
    return epoch_datetime(seconds)
