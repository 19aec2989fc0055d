"""A secret rule: what it matches, which part of the match is the secret, and what rules it out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Check = Literal["", "literal", "scheme_or_literal"]


@dataclass(frozen=True)
class Allow:
    """One allowlist of a rule, with gitleaks' semantics: a finding it names is not a secret."""

    regexes: tuple[str, ...] = ()
    target: Literal["secret", "match", "line"] = "secret"
    """What the regexes are tried on: the secret, the whole match, or the line holding it."""
    stopwords: tuple[str, ...] = ()
    """Lower-case words: a secret that contains one is a placeholder or an example."""
    all_of: bool = False
    """gitleaks' ``condition = "AND"``: every kind of check listed must allow it."""


@dataclass(frozen=True)
class SecretRule:
    """One kind of secret. Patterns are RE2 syntax: matched in time linear in the text, whatever it holds."""

    name: str
    """The rule's name."""
    pattern: str
    keywords: tuple[str, ...] = ()
    """Lower-case substrings, one of which any match contains; a text holding none skips the rule.
    Empty: the rule runs on every text."""
    secret_group: int = 0
    """Which group is the secret: 0 means the group named ``secret`` if the pattern has one, else the
    first group that matched (gitleaks' rule), else the whole match."""
    entropy: float = 0.0
    """A secret whose Shannon entropy is at or below this is not one (gitleaks' ``entropy``)."""
    allows: tuple[Allow, ...] = ()
    check: Check = ""
    """A context rule's value check: ``literal`` (the value must look like a literal credential),
    ``scheme_or_literal`` (an auth scheme word before it, or a literal)."""
    source: Literal["refinery", "gitleaks", "configured", "custom", "pii"] = "refinery"
    value_pattern: str = ""
    """A context rule in two steps: ``pattern`` finds a name and its separator, and this, anchored right
    after them, reads the value, only when the name is sensitive (most names are not: their values are
    never read)."""
    kind: str = ""
    """What the redaction says, ``[REDACTED:<kind>]``, when it is not the name: every context rule is a
    ``sensitive_field``."""
    block_end: str = ""
    """A block rule (a PEM key): the secret runs from the match to the line holding this marker, within
    ``BLOCK_LIMIT`` characters; a block cut short (no marker), over the base64 that follows."""

    @property
    def label(self) -> str:
        """The type a redaction of this rule reports."""
        return self.kind or self.name
