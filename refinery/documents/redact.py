"""Redaction of secrets (and, on request, PII) before anything is written, printed or sent.

Secrets are found two ways:

- **by shape**: provider formats with a fixed prefix or structure (OpenAI, Anthropic,
  LangSmith, GitHub, GitLab, AWS, Stripe, Slack, Google, Hugging Face, npm, PyPI, SendGrid,
  Twilio, Mailchimp, Square, Telegram, Azure storage, Databricks, JWTs, private key blocks),
  and URL credentials (``postgres://app:PASS@host``);
- **by context**: the value of a field, assignment or header whose name says it is secret,
  at any depth and in any text: ``db_password``, ``aws_secret_access_key``, ``AUTH_TOKEN=…``,
  ``"passphrase": "…"``, ``Authorization: Basic …``, an AWS secret key next to "aws".

The rule set follows Yelp's detect-secrets plugins (the field's reference set); detect-secrets
itself scans at 0.4 MB/s here against our budget of tens of MB/s, so its rules are compiled
into one regex instead (see benchmarks/RESULTS.md). Strings that are JSON are parsed and
walked, so a secret inside a tool call's ``arguments`` is found by its field name too.

Every rule declares the substrings one of which any match must contain (its *triggers*);
a string holding none of them cannot match and skips the regex. A test checks, for every
rule, that the fast path and the full scan agree. Values become ``[REDACTED:<type>]``; only
counts by type are reported.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from refinery.errors import ConfigError
from refinery.trace.model import Feedback, Run, Trace, TraceWarning

REDACTED = "[REDACTED:"


@dataclass(frozen=True)
class Rule:
    """One kind of secret: its name, its regex, and the substrings every match contains."""

    name: str
    pattern: str
    triggers: tuple[str, ...]
    """Case-sensitive substrings; a match contains at least one of them."""
    lower_triggers: tuple[str, ...] = ()
    """Substrings of the lower-cased text, for case-insensitive rules."""


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
}
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
}
_JSON_ENDS = re.compile(r"\s*[\[{][\s\S]*[\]}]\s*\Z")
"""A string that may be JSON: it opens with ``{`` or ``[`` and closes to match (checked without a copy)."""
_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# The stems of those words, for the cheap pre-check (lower-cased text).
_CONTEXT_STEMS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "contrase")
# A name that may be sensitive (checked by sensitive_name), then what assigns it a value.
_ASSIGNMENT = (
    r"(?P<akey>[A-Za-z0-9_.\-]*(?i:pass|pwd|secret|token|key|auth|credential|cookie|contrase)[A-Za-z0-9_.\-]*)"
    r"(?P<asep>[\"'\]]{0,2}[ \t]*(?:==?|:=|:|=>)[ \t]*)"
    r"(?P<avalue>\"(?:[^\"\\\n]|\\.){1,2000}\"|'[^'\n]{1,2000}'|`[^`\n]{1,2000}`"
    r"|(?i:(?:bearer|basic|token)[ \t]+)?[^\s\"'`,;&}\])<>]{2,2000})"
)

RULES: list[Rule] = [
    Rule(
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        ("-----BEGIN",),
    ),
    Rule("anthropic_key", r"\bsk-ant-[a-z]{3,6}\d{2}-[A-Za-z0-9_\-]{20,}", ("sk-ant-",)),
    Rule("openai_key", r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}", ("sk-",)),
    Rule("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[0-9a-zA-Z]{16,}", ("k_live_", "k_test_")),
    Rule("langsmith_key", r"\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b", ("lsv2_",)),
    Rule(
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9_]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    Rule(
        "gitlab_token",
        r"\b(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-[A-Za-z0-9_\-]{20,1024}(?!\w)",
        ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-"),
    ),
    Rule(
        "aws_access_key",
        r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
        ("A3T", "AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    Rule(
        "aws_secret_key",
        r"(?i:(?P<awslabel>aws[\w.\-]{0,30}?(?:secret|key|token|pass)[\w.\-\"' \t]{0,20}?[=:>\s\"']{1,4}))"
        r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
        (),
        ("aws",),
    ),
    Rule("slack_token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}", ("xox",)),
    Rule(
        "slack_webhook",
        r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
        ("hooks.slack.com",),
    ),
    Rule("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}\b", ("AIza",)),
    Rule("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}\b", ("hf_",)),
    Rule("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    Rule("pypi_token", r"\bpypi-AgE[A-Za-z0-9\-_]{50,}", ("pypi-AgE",)),
    Rule("sendgrid_key", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b", ("SG.",)),
    Rule("twilio_key", r"\bSK[0-9a-fA-F]{32}\b", ("SK",)),
    Rule("mailchimp_key", r"\b[0-9a-f]{32}-us\d{1,2}\b", ("-us",)),
    Rule("square_token", r"\bsq0(?:atp|csp|idp)-[0-9A-Za-z\-_]{22,43}\b", ("sq0",)),
    Rule("telegram_token", r"\b\d{8,10}:AA[0-9A-Za-z_\-]{33}\b", (":AA",)),
    Rule("azure_storage_key", r"(?P<azlabel>AccountKey=)[A-Za-z0-9+/=]{40,}", ("AccountKey=",)),
    Rule("databricks_token", r"\bdapi[0-9a-f]{32}(?:-\d)?\b", ("dapi",)),
    Rule("shopify_token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", ("shpat_", "shpca_", "shppa_", "shpss_")),
    Rule("groq_key", r"\bgsk_[A-Za-z0-9]{40,}\b", ("gsk_",)),
    Rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyJ",)),
    Rule(
        "url_credentials",
        r"(?P<urllabel>\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s/:@\"'<>]{1,256}:)[^\s/@\"'<>]{1,256}(?=@)",
        ("://",),
    ),
    Rule(
        "authorization",
        r"(?i:(?P<authlabel>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token|digest)\s+)?[^\s\"',;]{8,})",
        (),
        ("authoriz",),
    ),
    Rule("bearer_token", r"(?i:\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*)", (), ("bearer",)),
    Rule("assignment", _ASSIGNMENT, (), _CONTEXT_STEMS),
]
PII_RULES: list[Rule] = [
    Rule("email", r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b", ("@",)),
    Rule("phone", r"(?<![\w+])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}(?!\w)", ()),
    Rule("phone", r"(?<![\w+])\+\d{1,3}(?:[\s.\-]\d{2,5}){2,5}(?!\w)", ("+",)),
]
_LABELS = ("authlabel", "awslabel", "azlabel", "urllabel")


def _trie_regex(words: Iterable[str]) -> re.Pattern[str] | None:
    """One regex finding any of ``words``, shaped as a trie: 3-4x faster than ``any(w in s ...)``.

    A word that contains another is dropped: the shorter one already finds it.
    """
    unique = sorted(set(words))
    kept = [w for w in unique if not any(o != w and o in w for o in unique)]
    if not kept:
        return None
    trie: dict[str, Any] = {}
    for word in kept:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and "" not in node else "(?:" + "|".join(branches) + ")"
        return body + ("?" if "" in node else "")

    return re.compile(build(trie))


def sensitive_name(name: str) -> bool:
    """Whether a field, variable or header called ``name`` holds a secret.

    ``db_password``, ``AWS_SECRET_ACCESS_KEY``, ``authToken`` and ``x-api-key`` do; ``max_tokens``,
    ``token_type``, ``password_hint`` and ``key`` do not.
    """
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
    ) -> None:
        rules = list(RULES)
        extra_patterns = tuple(extra_patterns)
        for index, pattern in enumerate(extra_patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"--redact-pattern {pattern!r} is not a valid regex: {exc}.") from None
            rules.append(Rule(f"custom_{index + 1}", pattern, ()))
        if pii:
            rules.extend(PII_RULES)
        secrets = sorted({s for s in known_secrets if len(s) >= 6}, key=len, reverse=True)
        rules[:0] = [Rule("configured_secret", re.escape(s), (s,)) for s in secrets]
        # A rule without triggers can match anything: then every string gets the full scan.
        self._always = any(not r.triggers and not r.lower_triggers for r in rules)
        self._triggers = _trie_regex([t for r in rules for t in r.triggers])
        self._lower_triggers = _trie_regex([t for r in rules for t in r.lower_triggers])
        self._names = [r.name for r in rules]
        self._regex = re.compile("|".join(f"(?P<g{i}>{r.pattern})" for i, r in enumerate(rules)))
        self.stats = RedactionStats()
        self._name_cache: dict[str, bool] = {}
        self._clean_keys: set[str] = set()
        """Dict keys already seen to hold no secret: the same keys recur in every run."""

    # -- strings ---------------------------------------------------------------------------

    def might_match(self, value: str) -> bool:
        """False only when no rule can match ``value`` (the fast path)."""
        if self._always or (self._triggers is not None and self._triggers.search(value)):
            return True
        return self._lower_triggers is not None and self._lower_triggers.search(value.lower()) is not None

    def text(self, value: str, *, fast: bool = True) -> str:
        """``value`` with every secret replaced. ``fast=False`` skips the pre-check (for tests)."""
        if len(value) < 6 or (fast and not self.might_match(value)):
            return value
        return self._regex.sub(self._replace, value)

    def _replace(self, match: re.Match[str]) -> str:
        name = self._names[int(str(match.lastgroup)[1:])]
        if name == "assignment":
            return self._assignment(match)
        self.stats.counts[name] += 1
        label = next((match.group(g) for g in _LABELS if g in match.re.groupindex and match.group(g)), "")
        return f"{label}[REDACTED:{name}]"

    def _assignment(self, match: re.Match[str]) -> str:
        key, sep, value = match.group("akey"), match.group("asep"), match.group("avalue")
        if not self.sensitive(key.strip(".-_")) or value.startswith(REDACTED):
            # Not a secret's name: the value may still hold a secret of a known shape.
            return key + sep + self.text(value)
        self.stats.counts["sensitive_field"] += 1
        quote = value[0] if value[0] in "\"'`" else ""
        return f"{key}{sep}{quote}[REDACTED:sensitive_field]{quote}"

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
                return self._regex.sub(self._replace, value)
            before = self.stats.total
            walked = self.value(parsed)
            if self.stats.total == before:
                return value
            return json.dumps(walked, ensure_ascii=False)
        return value

    # -- traces ----------------------------------------------------------------------------------

    def trace(self, trace: Trace) -> Trace:
        """A copy of ``trace`` with every run, feedback, name, metadata and reference value redacted."""
        runs = [_redact_run(self, run) for run in trace.runs]
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
