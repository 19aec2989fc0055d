"""Redaction takes time linear in its input, whatever the input holds.

Every pattern is RE2 (no backtracking), so one search is linear in the text it reads; what is
left is how many searches a text costs. These texts are the shapes that made the old engine
quadratic (long runs near trigger words and URLs, separators repeated, labels whose values are
rejected one after another), mixed at random: the number of searches per character must not grow
with the size, and every secret planted among them is still found.
"""

from __future__ import annotations

import random

import pytest

from refinery.documents.redact import Redactor

BAD_SHAPES = [
    lambda n: "token " + "a" * n + " http://",
    lambda n: "0123456789abcdef" * (n // 16) + " https://x.example/cb?auth=",
    lambda n: "key=" * (n // 4),
    lambda n: "password: see " * (n // 14),
    lambda n: "Authorization: " * (n // 15),
    lambda n: "-----BEGIN PRIVATE KEY-----!" * (n // 28),
    lambda n: "\\n" * (n // 2),
    lambda n: "a." * (n // 2) + "secret",
    lambda n: "x=" + "=" * n,
    lambda n: ("aws_secret" + " " * 20) * (n // 30),
]
SECRET = "ghp_" + "Q7rT2mX9vB4kL1w3F9a8C7d6E5b4A39281Zy"


def searches_for(text: str) -> int:
    redactor = Redactor()
    scanner = redactor._scanner
    before = scanner.searches
    out = redactor.text(text)
    assert SECRET not in out
    return scanner.searches - before


@pytest.mark.parametrize("shape", range(len(BAD_SHAPES)))
def test_each_bad_shape_costs_searches_linear_in_its_size(shape: int) -> None:
    costs = []
    for size in (16_000, 64_000, 256_000):
        text = BAD_SHAPES[shape](size) + " " + SECRET
        costs.append(searches_for(text) / len(text))
    # Per character, a bigger text costs no more (beyond a small constant's noise).
    assert costs[2] <= costs[0] * 1.5 + 0.01, costs


def test_random_mixtures_of_bad_shapes_stay_linear() -> None:
    rng = random.Random(23)
    for _ in range(20):
        parts = [rng.choice(BAD_SHAPES)(rng.randrange(200, 4_000)) for _ in range(rng.randrange(3, 12))]
        small = " ".join(parts) + " " + SECRET
        large = " ".join(parts * 16) + " " + SECRET
        assert searches_for(large) / len(large) <= searches_for(small) / len(small) * 1.5 + 0.01
