"""gitleaks' default rules, each against its own true and false positives.

The true positives are made as gitleaks makes them (``benchmarks/gitleaks_corpus.py``: a secret
drawn from the rule's pattern, alone and in ``GenerateSampleSecrets``' contexts, kept only when
gitleaks' own semantics flag it), plus its literal ones (``benchmarks/gitleaks_literals.py``).
Every rule must have at least one, and none may survive redaction. Its literal false positives
must come out word for word, but for the exceptions listed with their reasons.
"""

from __future__ import annotations

from functools import cache

import pytest

from benchmarks.gitleaks_corpus import Case, Reference, true_positives
from benchmarks.gitleaks_literals import LITERAL_FPS, LITERAL_TPS
from refinery.documents.redact import Redactor
from refinery.documents.secrets.gitleaks import gitleaks_rules, global_allow

# A false positive of one gitleaks rule that another rule of Refinery's redacts on purpose.
DELIBERATE = {
    # The name says it holds an AWS access key and the value has a key's shape: context rules go by
    # the name, even for AWS's documented example key (the gitleaks rule allowlists it by its text).
    "aws_access_key: AKIAIOSFODNN7EXAMPLE": "a value named as a secret, in a key's shape",
}


@cache
def cases() -> list[Case]:
    generated, _ = true_positives()
    rules = {r.name: r for r in gitleaks_rules()}
    literal = []
    for name, texts in LITERAL_TPS.items():
        reference = Reference(rules[name], global_allow())
        for text in texts:
            literal += [Case(name, text, secret, "literal") for secret in reference.secrets(text)]
    return generated + literal


def test_the_vendored_rule_set_is_gitleaks_default_one() -> None:
    rules = gitleaks_rules()
    assert len(rules) == 221  # 222 rules, one of which matches file names only
    assert len({r.name for r in rules}) == 221


def test_every_gitleaks_rule_has_a_true_positive() -> None:
    covered = {c.rule for c in cases()}
    assert {r.name for r in gitleaks_rules()} - covered == set()


def test_no_true_positive_of_any_rule_survives_redaction() -> None:
    redactor = Redactor()
    survived = [(c.rule, c.context, c.secret) for c in cases() if c.secret in redactor.text(c.text)]
    assert survived == []


def test_every_literal_true_positive_is_one_gitleaks_flags() -> None:
    """A transcription slip would make a case that tests nothing: each must be flagged by its rule."""
    rules = {r.name: r for r in gitleaks_rules()}
    unflagged = [
        (name, text[:60])
        for name, texts in LITERAL_TPS.items()
        for text in texts
        if not Reference(rules[name], global_allow()).secrets(text)
    ]
    assert unflagged == []


@pytest.mark.parametrize(
    "rule,text", [(rule, text) for rule, texts in LITERAL_FPS.items() for text in texts], ids=lambda v: str(v)[:40]
)
def test_gitleaks_false_positives_come_out_word_for_word(rule: str, text: str) -> None:
    rules = {r.name: r for r in gitleaks_rules()}
    assert Reference(rules[rule], global_allow()).secrets(text) == []  # gitleaks itself leaves it alone
    out = Redactor().text(text)
    assert (out != text) if text in DELIBERATE else (out == text), DELIBERATE.get(text, "")
