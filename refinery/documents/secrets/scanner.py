"""Finding secrets in a text: every rule scanned on its own, the spans merged, then replaced.

Each rule runs over the whole text independently (no rule's match hides another's), so a label
never shields a secret: in ``private_key: -----BEGIN …`` the key block is found whole by its own
rule, whatever the context rule made of the label. Overlapping spans are merged and named after
the first rule in priority order. Rules are RE2 (linear time: no input can make a scan hang);
a text is first checked for the rules' keywords in one pass (an RE2 set), and only the rules
whose keywords it holds run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import re2

from refinery.documents.secrets.literal import entropy, env_style, looks_literal, placeholder
from refinery.documents.secrets.model import Allow, SecretRule

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20
_OPTIONS.log_errors = False
_QUOTES = "\"'`"
_VALUE_GROUPS = ("dq", "sq", "bq", "bare")
CHECKED_LENGTH = 4_096
"""A text longer than this checks for cancellation between its rules."""
SET_CHECKED = 65_536
"""Texts longer than this have an empty keyword-set answer checked by substring search."""
BLOCK_LIMIT = 16_384
"""The longest block (a 4096-bit RSA key in PEM is about 3,300 characters)."""
_BLOCK_BODY = re.compile(r"[A-Za-z0-9+/=\s\\:.,-]{0,1000}")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    priority: int
    name: str


@dataclass
class _Compiled:
    rule: SecretRule
    priority: int
    regex: Any
    groups: dict[str, int]
    allows: list[tuple[Allow, list[Any]]]
    on_bytes: bool
    value: Any = None
    """The value pattern of a two-step context rule, anchored after the name."""
    """RE2 reads the text's bytes (a ``str`` would be encoded again on every search); Python's engine, the text."""


def compile_pattern(pattern: str) -> Any:
    """RE2 when the pattern is RE2 syntax (every built-in rule is); Python's engine for a user's
    ``--redact-pattern`` that needs a feature RE2 lacks (their time is then the pattern's own)."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error:
        return re.compile(pattern)


class Scanner:
    """All the rules, compiled once; finds the secret spans in a text."""

    def __init__(self, rules: Sequence[SecretRule], global_allow: Allow, sensitive: Callable[[str], bool]) -> None:
        self._rules = [self._compile(rule, index) for index, rule in enumerate(rules)]
        self._global = (global_allow, [compile_pattern(p) for p in global_allow.regexes])
        self._names: dict[str, bool] = {}
        self._judge = sensitive
        keywords = sorted({k for rule in rules for k in rule.keywords})
        self._keywords = keywords
        self._by_keyword: list[list[int]] = [
            [i for i, c in enumerate(self._rules) if k in c.rule.keywords] for k in keywords
        ]
        self._always = [i for i, c in enumerate(self._rules) if not c.rule.keywords]
        self._set = re2.Set.SearchSet(_OPTIONS)
        for keyword in keywords:
            self._set.Add(re2.escape(keyword))
        self._set.Compile()
        self.searches = 0
        """Regex searches run so far: the fuzz test holds their number linear in the text."""

    def _sensitive(self, name: str) -> bool:
        """Whether a name marks its value as secret, cached: the same names recur in every run."""
        known = self._names.get(name)
        if known is None:
            known = self._names[name] = self._judge(name)
        return known

    @staticmethod
    def _compile(rule: SecretRule, priority: int) -> _Compiled:
        regex = compile_pattern(rule.pattern)
        allows = [(a, [compile_pattern(p) for p in a.regexes]) for a in rule.allows]
        value = compile_pattern(rule.value_pattern) if rule.value_pattern else None
        on_bytes = not isinstance(regex, re.Pattern)
        return _Compiled(rule, priority, regex, dict(regex.groupindex), allows, on_bytes, value)

    def keywords_in(self, text: str) -> list[int]:
        """The indices of the keywords ``text`` holds, in one pass of the RE2 set."""
        lowered = text.lower()
        found = self._set.Match(ascii_view(lowered).encode("ascii"))
        if found is None and len(lowered) > SET_CHECKED:
            # RE2's set says "no match" both when none matched and when its DFA ran out of memory;
            # on a long text the second is possible, so plain substring search decides instead.
            return [i for i, keyword in enumerate(self._keywords) if keyword in lowered]
        return list(found or ())

    def candidates(self, text: str) -> list[int]:
        """The rules whose keywords ``text`` holds (and those without keywords), in priority order."""
        chosen = set(self._always)
        for index in self.keywords_in(text):
            chosen.update(self._by_keyword[index])
        return sorted(chosen)

    def might_match(self, text: str) -> bool:
        return bool(self._always) or bool(self.keywords_in(text))

    def spans(self, text: str, checkpoint: Callable[[], None] | None = None) -> list[Span]:
        """Every secret in ``text``, merged where they overlap, in order. ``checkpoint`` is called between
        rules on a long text: it raises to stop (a cancelled run)."""
        view = ascii_view(scan_view(text))
        data = view.encode("ascii")
        found: list[Span] = []
        for index in self.candidates(view):
            if checkpoint is not None and len(text) > CHECKED_LENGTH:
                checkpoint()
            found.extend(self._rule_spans(self._rules[index], view, data))
        return merge(found)

    def _rule_spans(self, compiled: _Compiled, text: str, data: bytes) -> Iterator[Span]:
        if compiled.value is not None:
            yield from self._named_value_spans(compiled, text, data)
            return
        rule, pos = compiled.rule, 0
        subject: str | bytes = data if compiled.on_bytes else text
        while pos <= len(text):
            self.searches += 1
            match = compiled.regex.search(subject, pos)
            if match is None:
                return
            span = self._secret_span(compiled, match, text)
            if span is not None and self._accepted(compiled, match, text, span):
                yield Span(span[0], span[1], compiled.priority, rule.label)
                pos = max(span[1], match.end(), pos + 1)
            else:
                # Rejected (a word, an identifier, a placeholder): look again just after its label,
                # where another name and value may start (``aws_secret_key: aws_secret_access_key = …``).
                key = compiled.groups.get("key")
                after_key = match.end(key) if key is not None and match.start(key) >= 0 else match.end()
                pos = max(after_key, pos + 1) if after_key > match.start() else match.end() or pos + 1

    def _named_value_spans(self, compiled: _Compiled, text: str, data: bytes) -> Iterator[Span]:
        """A two-step context rule: each name found, its value read only when the name is sensitive."""
        pos, key = 0, compiled.groups["key"]
        while pos <= len(text):
            self.searches += 1
            named = compiled.regex.search(data, pos)
            if named is None:
                return
            pos = max(named.end(key), pos + 1)  # a value rejected may hold the next name
            name = _group(named, text, key) or ""
            if not self._sensitive(name.strip(".-_")):
                continue
            value = compiled.value.match(data, named.end())
            if value is None:
                continue
            span = _value_span(
                value, dict(value.re.groupindex), text, _group(named, text, compiled.groups["sep"]) or ""
            )
            if span is not None and self._value_ok(compiled, text, span, name):
                yield Span(span[0], span[1], compiled.priority, compiled.rule.label)
                pos = max(pos, span[1])

    def _value_ok(self, compiled: _Compiled, text: str, span: tuple[int, int], name: str) -> bool:
        secret = text[span[0] : span[1]]
        if secret.startswith("[REDACTED:") or placeholder(secret):
            return False
        start, end = span
        if start > 0 and end < len(text) and text[start - 1] in _QUOTES and text[end] == text[start - 1]:
            return True
        return looks_literal(secret, env_style=env_style(name))

    def _secret_span(self, compiled: _Compiled, match: Any, text: str) -> tuple[int, int] | None:
        groups = compiled.groups
        if compiled.rule.block_end:
            return match.start(), _block_end(text, match.end(), compiled.rule.block_end)
        if compiled.rule.secret_group:
            start, end = match.span(compiled.rule.secret_group)
        elif "secret" in groups:
            start, end = match.span(groups["secret"])
        elif any(g in groups for g in _VALUE_GROUPS):
            sep = (_group(match, text, groups["sep"]) or "") if "sep" in groups else ""
            return _value_span(match, groups, text, sep)
        else:
            start, end = _first_group(match)
        if start < 0 or end <= start:
            return None
        return start, end

    def _accepted(self, compiled: _Compiled, match: Any, text: str, span: tuple[int, int]) -> bool:
        rule, secret = compiled.rule, text[span[0] : span[1]]
        if rule.entropy and entropy(secret) <= rule.entropy:
            return False
        key = compiled.groups.get("key")
        name = _group(match, text, key) if key is not None else None
        if name is not None and not self._sensitive(name.strip(".-_")):
            return False
        if rule.check and not _literal_ok(rule, match, compiled.groups, text, span, name):
            return False
        if secret.startswith("[REDACTED:"):
            return False
        if rule.source == "gitleaks" and _allowed(self._global, secret, match, text, span):
            return False
        return not any(_allowed(a, secret, match, text, span) for a in compiled.allows)


def _value_span(match: Any, groups: dict[str, int], text: str, sep: str) -> tuple[int, int] | None:
    """The value of a name: the quoted string's inside, or an unquoted value to its structural end."""
    spans = [match.span(groups[g]) for g in _VALUE_GROUPS if g in groups]
    start, end = next((s for s in spans if s[0] >= 0), (-1, -1))
    if start < 0:
        return None
    if "bare" in groups and match.span(groups["bare"])[0] >= 0:
        end = _bare_end(text, start, end, sep)
    start = _after_scheme(text, start, end)
    # A quoted value's edges: the blank the scan view puts where an escape's backslash is.
    while end > start and text[end - 1] == " ":
        end -= 1
    while start < end and text[start] == " ":
        start += 1
    return (start, end) if end > start else None


def _literal_ok(
    rule: SecretRule, match: Any, groups: dict[str, int], text: str, span: tuple[int, int], name: str | None
) -> bool:
    start, end = span
    value = text[start:end]
    if placeholder(value):
        return False  # ${DB_PASSWORD}, <your token>, XXXXXXXX: quoted or not, after a scheme or not
    if start > 0 and end < len(text) and text[start - 1] in _QUOTES and text[end] == text[start - 1]:
        return True  # a quoted string is a literal
    if rule.check == "scheme_or_literal" and "scheme" in groups and match.span(groups["scheme"])[0] >= 0:
        return True  # Authorization: Bearer …
    return looks_literal(value, env_style=name is not None and env_style(name))


def _bare_end(text: str, start: int, end: int, sep: str) -> int:
    """Where an unquoted value ends: its line's end, a structural delimiter, or (``key=value`` written
    tight, as in a URL, a shell or a log) the first space."""
    value = text[start:end]
    if sep.strip() == sep and "=" in sep:
        cut = next((i for i, c in enumerate(value) if c.isspace()), len(value))
        value = value[:cut]
    return start + len(value.rstrip())


def _group(match: Any, text: str, index: int) -> str | None:
    """A group's text, sliced from the text (a match on bytes would give bytes)."""
    start, end = match.span(index)
    return text[start:end] if start >= 0 else None


class _AsciiTable(dict[int, str]):
    """``str.translate``'s table to ASCII, filled as characters are met: a letter becomes its base letter
    (``ñ`` → ``n``), anything else a blank or an ``x``, one character for one, so offsets never move."""

    def __missing__(self, code: int) -> str:
        base = unicodedata.normalize("NFKD", chr(code))[:1]
        if base.isascii() and base.isprintable():
            replacement = base
        else:
            replacement = " " if chr(code).isspace() or not chr(code).isalnum() else "x"
        self[code] = replacement
        return replacement


_ASCII = _AsciiTable()


def ascii_view(text: str) -> str:
    """``text`` in ASCII, character for character: RE2 then reads bytes whose offsets are the text's."""
    return text if text.isascii() else text.translate(_ASCII)


_ESCAPE = re.compile(r"\\(?:[nrt]|(?P<quote>[\"']))")


def scan_view(text: str) -> str:
    """``text`` as the rules read it: the escapes of a string printed inside another (``\\n`` in a
    repr, ``\\"`` in JSON within JSON) become the blanks and quotes they stand for, at the same
    length, so that spans found in the view are spans of the text. Otherwise ``\\nAuthorization``
    would glue a letter to the name and ``token=abc\\nNEXT`` would take the next line as its value."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_unescape, text)


def _unescape(match: re.Match[str]) -> str:
    kind = match.group("quote") or match.group(0)[1]
    return " " + {"n": "\n", "r": "\r", "t": " "}.get(kind, kind)


def _block_end(text: str, start: int, marker: str) -> int:
    """The end of the line holding ``marker`` after ``start``; without one, the end of the base64 body."""
    found = text.find(marker, start, start + BLOCK_LIMIT)
    if found >= 0:
        close = text.find("-----", found + len(marker), found + len(marker) + 200)
        return close + 5 if close >= 0 else found + len(marker)
    end = start
    while end - start < BLOCK_LIMIT:
        body = _BLOCK_BODY.match(text, end)
        if body is None or body.end() == end:
            break
        end = body.end()
    return end


_SCHEME = re.compile(r"(?i:basic|bearer|token|digest)[ \t]+(?=\S)")


def _after_scheme(text: str, start: int, end: int) -> int:
    """A value that opens with an auth scheme (``Basic dXNl…``): the credential starts after it."""
    scheme = _SCHEME.match(text, start, end)
    return scheme.end() if scheme else start


def _first_group(match: Any) -> tuple[int, int]:
    """gitleaks' rule: the first capture group that matched, else the whole match."""
    for index in range(1, (match.re.groups if hasattr(match, "re") else 0) + 1):
        start, end = match.span(index)
        if start >= 0 and end > start:
            return start, end
    whole: tuple[int, int] = match.span()
    return whole


def _allowed(allow_pair: tuple[Allow, list[Any]], secret: str, match: Any, text: str, span: tuple[int, int]) -> bool:
    allow, regexes = allow_pair
    target = {"secret": secret, "match": _group(match, text, 0), "line": _line(text, span)}[allow.target]
    checks = []
    if regexes:
        checks.append(any(r.search(target) for r in regexes))
    if allow.stopwords:
        lowered = secret.lower()
        checks.append(any(word in lowered for word in allow.stopwords))
    if not checks:
        return False
    return all(checks) if allow.all_of else any(checks)


def _line(text: str, span: tuple[int, int]) -> str:
    start = text.rfind("\n", 0, span[0]) + 1
    end = text.find("\n", span[1])
    return text[start : end if end >= 0 else len(text)]


def merge(spans: list[Span]) -> list[Span]:
    """Overlapping spans as one, named after the first rule among them."""
    if not spans:
        return []
    spans.sort(key=lambda s: (s.start, s.priority))
    merged = [spans[0]]
    for span in spans[1:]:
        last = merged[-1]
        if span.start < last.end:
            best = last if last.priority <= span.priority else span
            merged[-1] = Span(last.start, max(last.end, span.end), best.priority, best.name)
        else:
            merged.append(span)
    return merged
