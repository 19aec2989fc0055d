"""The CLI's output and error layer: plain text or rich styling, and one line per error."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from refinery.errors import RefineryError

INTERNAL_EXIT = 70
"""EX_SOFTWARE: a bug in Refinery, not in what it was given."""


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
        click.echo(f"error: {exc.one_line()}", err=True)
        ctx.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        ctx.exit(130)
    except BrokenPipeError:
        raise  # the reader went away (`refinery show F | head -1`): main() ends quietly
    except Exception as exc:  # the last line of defence: still one line, never a bare traceback
        if debug:
            traceback.print_exc()
        click.echo(
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
