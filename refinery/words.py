"""Counting nouns in messages: "1 run", "2 runs"."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun in the right number: ``plural(1, "run")`` is "1 run"."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"
