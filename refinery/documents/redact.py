"""Redaction of secrets (and, on request, PII) before anything leaves the machine.

One combined regex pass per string. Values are replaced by ``[REDACTED:<type>]``; only
counts by type are ever reported. The configured keys' exact values are redacted too,
whatever their shape, and so are string values under sensitive-looking keys.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from refinery.errors import ConfigError
from refinery.trace.model import Feedback, Run, Trace

# Order matters: more specific shapes first (an Anthropic key also starts with "sk-").
SECRET_PATTERNS: list[tuple[str, str]] = [
    ("private_key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    ("anthropic_key", r"\bsk-ant-[a-z]{3,6}\d{2}-[A-Za-z0-9_\-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}"),
    ("langsmith_key", r"\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    ("slack_token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    (
        "authorization",
        r"(?i:(?P<authlabel>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;]{8,})",
    ),
    ("bearer_token", r"(?i:\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*)"),
]
PII_PATTERNS: list[tuple[str, str]] = [
    ("email", r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b"),
    ("phone", r"(?<![\w+])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}(?!\w)"),
    ("phone", r"(?<![\w+])\+\d{1,3}(?:[\s.\-]\d{2,5}){2,5}(?!\w)"),
]
# Every built-in secret pattern starts with one of these; a string without any of them
# cannot match, and substring tests are ~10x cheaper than running the combined regex.
_TRIGGERS = (
    "sk-",
    "lsv2_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "xox",
    "AIza",
    "eyJ",
    "-----BEGIN",
)
_TRIGGERS_LOWER = ("uthoriz", "earer")
_SENSITIVE_KEY = re.compile(
    r"(?i)^(?:x-)?(?:api[_\-]?key|apikey|secret|client[_\-]?secret|password|passwd|pwd|token|access[_\-]?token|"
    r"refresh[_\-]?token|auth|authorization|cookie|set-cookie|private[_\-]?key)$"
)


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
        patterns = list(SECRET_PATTERNS)
        extra_patterns = tuple(extra_patterns)
        for index, pattern in enumerate(extra_patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"--redact-pattern {pattern!r} is not a valid regex: {exc}.") from None
            patterns.append((f"custom_{index + 1}", pattern))
        if pii:
            patterns.extend(PII_PATTERNS)
        secrets = sorted({s for s in known_secrets if len(s) >= 6}, key=len, reverse=True)
        for secret in secrets:
            patterns.insert(0, ("configured_secret", re.escape(secret)))
        # PII and user patterns have no fixed prefix: with them, every string gets the full scan.
        self._triggers: tuple[str, ...] | None = None if (pii or extra_patterns) else (*_TRIGGERS, *secrets)
        self._names = [name for name, _ in patterns]
        self._regex = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(patterns)))
        self.stats = RedactionStats()
        self._key_cache: dict[str, bool] = {}

    def text(self, value: str) -> str:
        """``value`` with every match replaced."""
        if len(value) < 8:
            return value
        if self._triggers is not None and not any(t in value for t in self._triggers):
            lower = value.lower()
            if not any(t in lower for t in _TRIGGERS_LOWER):
                return value

        def replace(match: re.Match[str]) -> str:
            name = self._names[int(str(match.lastgroup)[1:])]
            self.stats.counts[name] += 1
            if name == "authorization":
                # keep the header name, so the text still reads as a header
                return f"{match.group('authlabel')}[REDACTED:{name}]"
            return f"[REDACTED:{name}]"

        return self._regex.sub(replace, value)

    def _sensitive(self, key: str) -> bool:
        known = self._key_cache.get(key)
        if known is None:
            known = self._key_cache[key] = _SENSITIVE_KEY.match(key) is not None
        return known

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value; sensitive keys lose their values."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is dict:
            out = {}
            for key, item in value.items():
                if type(item) is str and item and type(key) is str and self._sensitive(key):
                    if not item.startswith("[REDACTED:"):
                        self.stats.counts["sensitive_field"] += 1
                    out[key] = "[REDACTED:sensitive_field]"
                else:
                    out[key] = self.value(item)
            return out
        if kind is list:
            return [self.value(item) for item in value]
        if isinstance(value, str):  # str subclasses
            return self.text(value)
        return value

    def trace(self, trace: Trace) -> Trace:
        """A copy of ``trace`` with every run, feedback, metadata and reference value redacted."""
        runs = [_redact_run(self, run) for run in trace.runs]
        feedback = [
            Feedback(**{**item.model_dump(), "comment": self.value(item.comment), "value": self.value(item.value)})
            for item in trace.feedback
        ]
        return trace.model_copy(
            update={
                "runs": runs,
                "feedback": feedback,
                "metadata": self.value(trace.metadata),
                "reference_outputs": self.value(trace.reference_outputs),
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
        }
    )
