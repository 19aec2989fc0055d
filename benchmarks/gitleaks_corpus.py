"""gitleaks' own true positives for every rule, made the way gitleaks makes them, and its literal ones.

gitleaks (``cmd/generate/config/rules/*.go``) validates each rule on true positives that are
mostly *generated*: a secret drawn from the rule's pattern (``secrets.NewSecret``) written into
the contexts of ``utils.GenerateSampleSecrets`` (INI, JSON, escaped JSON, XML, YAML, Go, Java,
Python, Makefile …), plus literal strings. This module does the same for all 221 content rules
of the vendored ``gitleaks.toml``: for each, strings drawn from the rule's pattern and the secret
written into those contexts. A case is kept only when gitleaks' own semantics (its regex, secret
group, entropy and allowlists, applied here independently of Refinery's scanner) flag that
secret in that text, so every case is one gitleaks calls a true positive.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import re2

from benchmarks.regex_sample import sample
from refinery.documents.secrets.gitleaks import gitleaks_rules, global_allow
from refinery.documents.secrets.model import Allow, SecretRule

# gitleaks/gitleaks cmd/generate/config/utils/generate.go (GenerateSampleSecrets), MIT: {i} is the
# identifier, {s} the secret.
TEMPLATES: dict[str, str] = {
    "ini - quoted1": '{i}Token="{s}"',
    "ini - quoted2": '{i}Token = "{s}"',
    "ini - unquoted1": "{i}Token={s}",
    "ini - unquoted2": "{i}Token = {s}",
    "json - string": '{\n    "{i}_token": "{s}"\n}',
    "json - escaped string": '\\{\n    \\"{i}_token\\": \\"{s}\\"\n\\}',
    "xml - element": "<{i}Token>{s}</{i}Token>",
    "xml - element multiline": "<{i}Token>\n    {s}\n</{i}Token>",
    "yaml - singleline - unquoted": "{i}_token: {s}",
    "yaml - singleline - single quote": "{i}_token: '{s}'",
    "yaml - singleline - double quote": '{i}_token: "{s}"',
    "yaml - multiline - literal": "{i}_token: |\n  {s}",
    "yaml - multiline - folding": "{i}_token: >\n  {s}",
    "C#": 'string {i}Token = "{s}";',
    "go - normal": 'var {i}Token string = "{s}"',
    "go - short": '{i}Token := "{s}"',
    "go - backticks": "{i}Token := `{s}`",
    "java": 'String {i}Token = "{s}";',
    "kotlin - notype": 'var {i}Token = "{s}"',
    "php - string concat": '${i}Token .= "{s}"',
    "python - single quote": "{i}Token = '{s}'",
    "python - double quote": '{i}Token = "{s}"',
    "csv - unquoted": "{i}Token,{s},",
    "logstash": '  "{i}Token" => "{s}"',
    "make - recursive assignment": '{i}_TOKEN = "{s}"',
    "make - simple assignment": '{i}_TOKEN := "{s}"',
    "make - shell assignment": '{i}_TOKEN ::= "{s}"',
    "make - evaluated shell assignment": '{i}_TOKEN :::= "{s}"',
    "make - conditional assignment": '{i}_TOKEN ?= "{s}"',
    "make - append": '{i}_TOKEN += "{s}"',
}


@dataclass(frozen=True)
class Case:
    """One text that holds a secret (or, for a false positive, none) and the rule it is about."""

    rule: str
    text: str
    secret: str
    context: str
    """``drawn`` (the rule's pattern itself), a template's name, or ``literal``."""


class Reference:
    """gitleaks' detection semantics for one rule, on RE2: what gitleaks reports in a text."""

    def __init__(self, rule: SecretRule, allow: Allow, *, keywords: bool = True) -> None:
        self.rule = rule
        self.keywords = keywords
        self.regex = re2.compile(rule.pattern)
        self.allows = [(a, [re2.compile(p) for p in a.regexes]) for a in (allow, *rule.allows)]

    def secrets(self, text: str) -> list[str]:
        lowered = text.lower()
        if self.keywords and self.rule.keywords and not any(k in lowered for k in self.rule.keywords):
            return []  # gitleaks only runs a rule on a text holding one of its keywords
        found = []
        for match in self.regex.finditer(text):
            secret = self._secret(match)
            if not secret or (self.rule.entropy and _entropy(secret) <= self.rule.entropy):
                continue
            if any(
                _allowed(a, regexes, secret, match.group(0), _line(text, match.span())) for a, regexes in self.allows
            ):
                continue
            found.append(secret)
        return found

    def _secret(self, match: Any) -> str:
        if self.rule.secret_group:
            return str(match.group(self.rule.secret_group) or "")
        groups = [g for g in match.groups() if g]
        return str(groups[0] if groups else match.group(0)).strip("\n")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _line(text: str, span: tuple[int, int]) -> str:
    start = text.rfind("\n", 0, span[0]) + 1
    end = text.find("\n", span[1])
    return text[start : end if end >= 0 else len(text)]


def _allowed(allow: Allow, regexes: list[Any], secret: str, match: str, line: str) -> bool:
    target = {"secret": secret, "match": match, "line": line}[allow.target]
    checks = []
    if regexes:
        checks.append(any(r.search(target) for r in regexes))
    if allow.stopwords:
        checks.append(any(w in secret.lower() for w in allow.stopwords))
    if not checks:
        return False
    return all(checks) if allow.all_of else any(checks)


def true_positives(*, per_rule: int = 2, tries: int = 40, seed: int = 7) -> tuple[list[Case], list[str]]:
    """Cases for every rule, and the rules no draw gave a true positive for (said, never hidden)."""
    rng = random.Random(seed)
    allow = global_allow()
    cases: list[Case] = []
    missing: list[str] = []
    for rule in gitleaks_rules():
        reference = Reference(rule, allow)
        found = _cases_for(rule, reference, rng, per_rule, tries)
        if not found:
            missing.append(rule.name)
        cases.extend(found)
    return cases, missing


def _cases_for(rule: SecretRule, reference: Reference, rng: random.Random, per_rule: int, tries: int) -> list[Case]:
    cases: list[Case] = []
    identifier = (rule.keywords[0] if rule.keywords else "app").strip("._-") or "app"
    names = sorted(TEMPLATES)
    for _ in range(tries):
        if len({c.secret for c in cases}) >= per_rule:
            break
        drawn = sample(rule.pattern, rng)
        secret = Reference(rule, reference.allows[0][0], keywords=False).secrets(drawn)
        if not secret:
            continue
        if reference.secrets(drawn):
            cases.append(Case(rule.name, drawn, secret[0], "drawn"))
        for name in rng.sample(names, 3):
            text = TEMPLATES[name].replace("{i}", identifier).replace("{s}", secret[0])
            if secret[0] in reference.secrets(text):
                cases.append(Case(rule.name, text, secret[0], name))
    return cases
