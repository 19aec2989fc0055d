"""Whether a value after a sensitive name is a literal secret, or code and prose that are evidence.

A context rule (``password: …``, ``Authorization: …``) only knows the name; the value decides.
Quoted strings are literals. An unquoted value is a literal when it has a credential's shape:
digits or symbols among letters, or mixed case inside one token. An identifier or an attribute
access (``self.password``, ``password_validators``), a call, a placeholder (``${DB_PASSWORD}``,
``<your key>``) or an ordinary word of prose (``see the docs``) is not: it is kept.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_]*(?:\.[A-Za-z_][A-Za-z_]*)*")
"""Letters, underscores and dots, no digit: a name in code, or a word (possibly a dotted path)."""
_PLACEHOLDER_START = ("$", "{{", "%", "<", "[REDACTED", "[", "{", "(", "*")
_WORDS = {"null", "none", "true", "false", "undefined", "nil", "empty", "redacted", "hidden", "masked", "unset"}
_SCHEMES = {"basic", "bearer", "token", "digest"}
"""Authorization schemes: the credential is the token after the scheme's name."""
MIN_LITERAL = 3
"""Shorter values are never called secrets by their shape (``key: a1``)."""
MIN_DIGITS = 6
"""A number shorter than this is a count or a status (``token: 429``); longer, a PIN or a code."""


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character (gitleaks' measure)."""
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def first_token(value: str) -> str:
    """The value's first whitespace-separated token, without trailing punctuation."""
    head = value.strip().split(None, 1)[0] if value.strip() else ""
    return head.rstrip(".,;:!?)")


_CONSTANT_NAME = re.compile(r"[A-Z][A-Z]*(?:_[A-Z]+)+")


def placeholder(value: str) -> bool:
    """A stand-in for a secret, not one: a variable (``$API_KEY``, ``${{ secrets.X }}``, ``%PW%``), a
    command (``$(cat pw.txt)``), a slot (``<your key>``, ``[PASSWORD]``), a constant's name written
    where the value goes (``'YOUR_ACCESS_TOKEN'``), or one character repeated (``XXXXXXXX``)."""
    token = first_token(value) or value.strip()
    if not token:
        return True
    if token.startswith(_PLACEHOLDER_START) or _CONSTANT_NAME.fullmatch(token):
        return True
    return len(set(token.strip(".-_"))) <= 1


def looks_literal(value: str, *, env_style: bool = False) -> bool:
    """Whether an unquoted value after a sensitive name is a literal credential.

    ``env_style``: the name is an environment variable (``DATABASE_PASSWORD=…``); its value is
    data, never code, so a plain word counts too.
    """
    token = first_token(value)
    rest = value.strip().split(None, 1)
    if token.lower() in _SCHEMES and len(rest) == 2:
        return looks_literal(rest[1], env_style=env_style)  # "Basic dXNlcjpwYXNz": the token decides
    if len(token) < MIN_LITERAL or token.lower() in _WORDS or placeholder(token):
        return False
    if token.isdigit():
        return len(token) >= MIN_DIGITS
    if any(c in token for c in "()[]{}"):
        return False  # a call, an index, a literal structure: code
    # self.password, password_validators, documentation: names and words, unless the name is an env var's
    return env_style or not _IDENTIFIER.fullmatch(token)


def env_style(name: str) -> bool:
    """An environment variable's name: capitals, digits and underscores (``AWS_SECRET_ACCESS_KEY``)."""
    return bool(name) and name.upper() == name and any(c.isalpha() for c in name) and " " not in name
