"""The CLI's output and error layer: plain text or rich styling, and one line per error.

Every line a command prints about a trace goes through ``echo`` (or ``Output.line``): redacted
(every secret shape, and the configured keys once the settings are read) and made one inert
line, since the CLI also runs inside workflow steps where the runner reads stdout for
commands. Data a command exists to print (``fetch``'s JSON, ``schema``) goes out as it is.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from refinery.documents.redact import Redactor
from refinery.errors import RefineryError
from refinery.lines import printable_line

INTERNAL_EXIT = 70
"""EX_SOFTWARE: a bug in Refinery, not in what it was given."""

# The entry point's one redactor for what it prints; ``use_secrets`` adds the configured keys.
_printing = Redactor()


def use_secrets(secrets: list[str]) -> None:
    """Redact these values (the configured keys) from everything printed from now on."""
    global _printing
    _printing = Redactor(known_secrets=secrets)


def clean_line(text: str) -> str:
    """What may be printed of ``text``: redacted, one line, inert."""
    return printable_line(_printing.text(str(text)))


def clean_data(value: object) -> object:
    """A JSON-like value a command prints as data, redacted (its shape kept)."""
    return _printing.value(value)


def echo(text: str, *, err: bool = False) -> None:
    """Print one line about a trace or a result."""
    click.echo(clean_line(text), err=err)


class Output:
    """Writes to stdout (or stderr): rich styling on a TTY, plain text otherwise."""

    def __init__(self, color: bool | None = None, *, err: bool = False) -> None:
        stream = sys.stderr if err else sys.stdout
        self.rich = stream.isatty() if color is None else color
        self._err = err
        self._console: Any = None
        if self.rich:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True, stderr=err)

    def line(self, text: str, style: str | None = None) -> None:
        text = clean_line(text)
        if self._console is not None:
            from rich.text import Text

            self._console.print(Text(text, style=style or ""))
        else:
            click.echo(text, err=self._err)


@contextmanager
def handle_errors(ctx: click.Context) -> Iterator[None]:
    """One line and a non-zero exit for our errors; a traceback only with --debug."""
    debug = bool(ctx.ensure_object(dict).get("debug"))
    try:
        yield
    except RefineryError as exc:
        if debug:
            traceback.print_exc()
        echo(f"error: {exc.one_line()}", err=True)
        ctx.exit(exc.exit_code)
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        ctx.exit(130)
    except BrokenPipeError:
        raise  # the reader went away (`refinery show F | head -1`): main() ends quietly
    except Exception as exc:  # the last line of defence: still one line, never a bare traceback
        if debug:
            traceback.print_exc()
        echo(
            f"error: internal error {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
            "(re-run with --debug and report it)",
            err=True,
        )
        ctx.exit(INTERNAL_EXIT)


def silence_broken_pipe() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test runner's capture)
        pass
