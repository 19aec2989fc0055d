"""Redaction of secrets (and, on request, PII) before anything is written, printed or sent.

Secrets are found by three rule sets, each rule run over the whole text on its own
(``secrets/scanner.py``), their spans merged and replaced by ``[REDACTED:<rule>]``:

- **Refinery's own** (``secrets/ours.py``): the shapes traces carry most (provider prefixes,
  private key blocks whole, URL credentials, ``Authorization`` values) and context: the value of a
  field, assignment, XML element or ``.netrc`` line whose name says it is secret, in several
  languages' words for password;
- **gitleaks' default rules** (``secrets/gitleaks.toml``, 221 rules, MIT): their regexes,
  keywords, entropy thresholds and allowlists;
- the **configured keys** themselves, whatever their shape, and any ``--redact-pattern``.

Every pattern is RE2: a scan takes time linear in the text, whatever it holds. Context rules
redact only literals (quoted strings, or tokens with a credential's shape), so code and prose
that name a secret without holding one (``self.password = password``, "see the docs") stay
evidence. Strings that are JSON are parsed and walked, so a field named ``api_key`` inside a
tool call's ``arguments`` string is redacted by name. Only counts by type are reported.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import re2

from refinery.documents.secrets.gitleaks import gitleaks_rules, global_allow
from refinery.documents.secrets.model import SecretRule
from refinery.documents.secrets.ours import PII_RULES
from refinery.documents.secrets.ours import RULES as OUR_RULES
from refinery.documents.secrets.scanner import Scanner, compile_pattern
from refinery.errors import ConfigError
from refinery.trace.model import Feedback, Run, Trace, TraceWarning

REDACTED = "[REDACTED:"


# Words whose presence in a name marks its value as secret, and the name parts that make
# such a name harmless again ("max_tokens", "token_type", "password_hint").
_SECRET_WORDS = {
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "secrets",
    "token",
    "credential",
    "credentials",
    "apikey",
    "cookie",
    "authorization",
    "auth",
    "privatekey",
    "accesskey",
    "secretkey",
    "authtoken",
    "contrasena",
    "contraseña",
    "passwort",
    "kennwort",
    "senha",
    "wachtwoord",
}
_SECRET_PHRASES = {"motdepasse"}
_SECRET_PAIRS = {
    ("api", "key"),
    ("auth", "key"),
    ("access", "key"),
    ("secret", "key"),
    ("private", "key"),
    ("client", "key"),
    ("service", "key"),
    ("account", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("master", "key"),
    ("session", "key"),
    ("db", "pass"),
    ("database", "pass"),
    ("key", "pass"),
    ("set", "cookie"),
}
_HARMLESS_PARTS = {
    "count",
    "counts",
    "type",
    "types",
    "usage",
    "limit",
    "limits",
    "length",
    "len",
    "max",
    "min",
    "budget",
    "estimate",
    "estimated",
    "id",
    "ids",
    "name",
    "names",
    "hint",
    "policy",
    "url",
    "uri",
    "endpoint",
    "path",
    "file",
    "expires",
    "expiry",
    "expiration",
    "ttl",
    "required",
    "enabled",
    "rotation",
    "field",
    "label",
    "header",
    "prefix",
    "format",
    "provider",
    "version",
    "env",
    "source",
    "kind",
    "tokenizer",
    "lifetime",
    "scope",
    "scopes",
    "public",
    "csrf",
    "xsrf",
    "variable",
}
_JSON_ENDS = re.compile(r"\s*[\[{][\s\S]*[\]}]\s*\Z")
"""A string that may be JSON: it opens with ``{`` or ``[`` and closes to match (checked without a copy)."""
_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
RULES: list[SecretRule] = list(OUR_RULES)
"""Refinery's own rules (gitleaks' are added by every Redactor)."""


def sensitive_name(name: str) -> bool:
    """Whether a field, variable or header called ``name`` holds a secret.

    ``db_password``, ``AWS_SECRET_ACCESS_KEY``, ``authToken`` and ``x-api-key`` do; ``max_tokens``,
    ``token_type``, ``password_hint`` and ``key`` do not.
    """
    # contraseña and contrasena alike: accents go before the name is split into its words.
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    if name.lower().replace(" ", "") in _SECRET_PHRASES:
        return True
    parts = [p.lower() for p in _NAME_PARTS.findall(name)]
    if not parts or any(p in _HARMLESS_PARTS for p in parts):
        return False
    if any(p in _SECRET_WORDS for p in parts):
        return True
    return any(pair in _SECRET_PAIRS for pair in pairwise(parts))


@dataclass
class RedactionStats:
    """How many values of each type were redacted. Never the values."""

    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


class Redactor:
    """Replaces secrets in strings and nested JSON values; counts what it replaced."""

    def __init__(
        self,
        *,
        pii: bool = False,
        extra_patterns: Iterable[str] = (),
        known_secrets: Iterable[str] = (),
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        self._checkpoint = checkpoint
        """Called often on long work: it raises to stop it (the run was cancelled)."""
        secrets = sorted({s for s in known_secrets if len(s) >= 6}, key=len, reverse=True)
        rules = [SecretRule("configured_secret", re2.escape(s), (s.lower(),), source="configured") for s in secrets]
        rules += OUR_RULES
        for index, pattern in enumerate(extra_patterns):
            try:
                compile_pattern(pattern)
            except re.error as exc:
                raise ConfigError(f"--redact-pattern {pattern!r} is not a valid regex: {exc}.") from None
            rules.append(SecretRule(f"custom_{index + 1}", pattern, source="custom"))
        if pii:
            rules.extend(PII_RULES)
        rules += gitleaks_rules()
        self._name_cache: dict[str, bool] = {}
        self._scanner = _scanner(tuple(rules))
        self.stats = RedactionStats()
        self._clean_keys: set[str] = set()
        """Dict keys already seen to hold no secret: the same keys recur in every run."""

    # -- strings ---------------------------------------------------------------------------

    def might_match(self, value: str) -> bool:
        """False only when no rule can match ``value`` (the fast path)."""
        return self._scanner.might_match(value)

    def text(self, value: str, *, fast: bool = True) -> str:
        """``value`` with every secret replaced (``fast`` is kept for callers; the keyword check always runs)."""
        if len(value) < 6:
            return value
        spans = self._scanner.spans(value, self._checkpoint)
        if not spans:
            return value
        out: list[str] = []
        last = 0
        for span in spans:
            out.append(value[last : span.start])
            out.append(f"{REDACTED}{span.name}]")
            self.stats.counts[span.name] += 1
            last = span.end
        out.append(value[last:])
        return "".join(out)

    def sensitive(self, name: str) -> bool:
        """``sensitive_name``, cached: the same keys recur in every run."""
        known = self._name_cache.get(name)
        if known is None:
            known = self._name_cache[name] = sensitive_name(name)
        return known

    # -- JSON-like values ----------------------------------------------------------------------

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value, keys included; secret fields lose their values."""
        kind = type(value)
        if kind is str:
            return self._string(value)
        if kind is dict:
            out = {}
            for key, item in value.items():
                safe_key = self._key(key) if type(key) is str else key
                if type(key) is str and type(item) is str and item and self.sensitive(key):
                    if not item.startswith(REDACTED):
                        self.stats.counts["sensitive_field"] += 1
                    out[safe_key] = "[REDACTED:sensitive_field]"
                else:
                    out[safe_key] = self.value(item)
            return out
        if kind is list:
            return [self.value(item) for item in value]
        if isinstance(value, str):  # str subclasses
            return self._string(str(value))
        return value

    def _key(self, key: str) -> str:
        if key in self._clean_keys:
            return key
        safe = self.text(key)
        if safe == key:
            self._clean_keys.add(key)
        return safe

    def _string(self, value: str) -> str:
        """A string value: walked as JSON when it is JSON, so its fields are judged by name."""
        if len(value) < 8 or not _JSON_ENDS.match(value):
            return self.text(value)  # most strings: no copy, one pre-check
        if self.might_match(value):
            try:
                parsed = json.loads(value)
            except ValueError:
                return self.text(value)
            before = self.stats.total
            walked = self.value(parsed)
            if self.stats.total == before:
                return value
            return json.dumps(walked, ensure_ascii=False)
        return value

    # -- traces ----------------------------------------------------------------------------------

    def trace(self, trace: Trace) -> Trace:
        """A copy of ``trace`` with every run, feedback, name, metadata and reference value redacted."""
        runs = []
        for index, run in enumerate(trace.runs):
            if self._checkpoint is not None and index % 200 == 0:
                self._checkpoint()
            runs.append(_redact_run(self, run))
        feedback = [
            Feedback(
                **{
                    **item.model_dump(),
                    "key": self.text(item.key),
                    "source": self.value(item.source),
                    "comment": self.value(item.comment),
                    "value": self.value(item.value),
                }
            )
            for item in trace.feedback
        ]
        warnings = [
            TraceWarning(code=w.code, message=self.text(w.message), run_ids=w.run_ids, count=w.count)
            for w in trace.warnings
        ]
        return trace.model_copy(
            update={
                "runs": runs,
                "feedback": feedback,
                "project": self.value(trace.project),
                "experiment": self.value(trace.experiment),
                "metadata": self.value(trace.metadata),
                "reference_outputs": self.value(trace.reference_outputs),
                "warnings": warnings,
            }
        )


def _redact_run(redactor: Redactor, run: Run) -> Run:
    return run.model_copy(
        update={
            "name": redactor.text(run.name),
            "inputs": redactor.value(run.inputs),
            "outputs": redactor.value(run.outputs),
            "error": redactor.value(run.error),
            "metadata": redactor.value(run.metadata),
            "events": redactor.value(run.events),
            "tags": redactor.value(run.tags),
            "agent": redactor.value(run.agent),
            "model": redactor.value(run.model),
        }
    )


_SCANNERS: dict[tuple[SecretRule, ...], Scanner] = {}


def _scanner(rules: tuple[SecretRule, ...]) -> Scanner:
    """One compiled scanner per rule set: the RE2 programs are built once per process, not per Redactor."""
    found = _SCANNERS.get(rules)
    if found is None:
        found = _SCANNERS[rules] = Scanner(rules, global_allow(), sensitive_name)
    return found
