"""Strings that match a regex, drawn at random: the Python counterpart of gitleaks' ``secrets.NewSecret``.

gitleaks makes most of its rules' true positives by drawing a secret from the rule's own pattern
and writing it into ``GenerateSampleSecrets``' contexts. This walks the pattern's parse tree
(Python's ``re`` parser, after RE2's mid-pattern ``(?i)`` and ``\\z`` are rewritten) and draws one
string, seeded so that a corpus is the same on every run.
"""

from __future__ import annotations

import random
import re
import string
import warnings
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_WORD = string.ascii_letters + string.digits + "_"
_PRINTABLE = string.ascii_letters + string.digits + "_-.+/=@:"
_UNBOUNDED_EXTRA = 6
"""An open-ended repeat (``+``, ``*``, ``{n,}``) draws up to this many beyond its minimum."""


def python_syntax(pattern: str) -> str:
    """An RE2 pattern as Python's parser takes it (flags mid-pattern dropped: the draw ignores case anyway)."""
    head = "(?i)" if pattern.startswith("(?i)") else ""
    body = pattern[len(head) :].replace("(?i)", "").replace("\\z", "\\Z")
    return head + body


def sample(pattern: str, rng: random.Random) -> str:
    """One string drawn from ``pattern``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # RE2's [[:alnum:]] reads as a nested set here
        tree = sre_parse.parse(python_syntax(pattern))
    return "".join(_draw(tree, rng))


def _draw(tree: Any, rng: random.Random) -> list[str]:
    out: list[str] = []
    for op, arg in tree:
        out.extend(_one(op, arg, rng))
    return out


def _one(op: Any, arg: Any, rng: random.Random) -> list[str]:
    if op is C.LITERAL:
        return [chr(arg)]
    if op is C.NOT_LITERAL:
        return [rng.choice([c for c in _PRINTABLE if ord(c) != arg])]
    if op is C.ANY:
        return [rng.choice(_WORD)]
    if op is C.IN:
        return [rng.choice(_charset(arg))]
    if op is C.BRANCH:
        return _draw(rng.choice(arg[1]), rng)
    if op is C.SUBPATTERN:
        return _draw(arg[-1], rng)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
        low, high, sub = arg
        high = low + _UNBOUNDED_EXTRA if high is C.MAXREPEAT else high
        count = rng.randint(low, max(low, min(high, low + _UNBOUNDED_EXTRA)))
        return [c for _ in range(count) for c in _draw(sub, rng)]
    if op is C.CATEGORY:
        return [rng.choice(_category(arg))]
    return []  # anchors and boundaries draw nothing


def _category(category: Any) -> str:
    return {
        C.CATEGORY_DIGIT: string.digits,
        C.CATEGORY_WORD: _WORD,
        C.CATEGORY_SPACE: " ",
        C.CATEGORY_NOT_DIGIT: string.ascii_letters,
        C.CATEGORY_NOT_WORD: "-.:/",
        C.CATEGORY_NOT_SPACE: _WORD,
    }.get(category, _WORD)


def _charset(items: Any) -> str:
    chars: list[str] = []
    negate = False
    for op, arg in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            chars.append(chr(arg))
        elif op is C.RANGE:
            chars.extend(chr(c) for c in range(arg[0], arg[1] + 1) if chr(c).isprintable())
        elif op is C.CATEGORY:
            chars.extend(_category(arg))
    if negate:
        return "".join(c for c in _PRINTABLE if c not in chars) or "x"
    return "".join(c for c in chars if c not in "\r\n\t") or " "


def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(python_syntax(pattern))
