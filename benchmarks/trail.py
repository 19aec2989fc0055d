"""TRAIL-style scoring of predicted (category, location) errors against annotated span traces.

The metrics follow the TRAIL paper (Deshpande et al., 2025):

- **category F1**: each trace's set of error categories, predicted vs annotated, as a multi-label
  problem; per-category F1 over traces, averaged weighted by how many traces carry the category;
- **location accuracy**: per trace, the share of annotated error locations (span ids) that were
  predicted, averaged over traces with at least one annotated error;
- **joint accuracy**: the same for (location, category) pairs: right span *and* right category.

Input: the dataset's own shape. A trace is its OpenInference span tree (``{"trace_id", "spans":
[... "child_spans" ...]}``), labels are ``{"trace_id", "errors": [{"category", "location", ...}]}``.
Either a JSONL/JSON file of ``{"trace": ..., "labels": ...}`` rows (objects or JSON strings, as the
Hugging Face export holds them) or a directory with ``traces/`` and ``labels/`` matched by file stem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Pair = tuple[str, str]
"""(location, category)"""


@dataclass(frozen=True)
class TrailCase:
    trace_id: str
    trace: dict[str, Any]
    errors: frozenset[Pair]


@dataclass(frozen=True)
class TrailScore:
    traces: int
    category_f1: float
    location_accuracy: float
    joint_accuracy: float


def _obj(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _errors(labels: Any) -> frozenset[Pair]:
    return frozenset((str(e["location"]), str(e["category"])) for e in _obj(labels).get("errors") or [])


def load_cases(path: Path) -> list[TrailCase]:
    """Annotated traces from a TRAIL export; a case without labels is an error, never skipped."""
    rows: list[tuple[Any, Any]] = []
    if path.is_dir():
        for trace_file in sorted((path / "traces").glob("*.json")):
            labels = path / "labels" / trace_file.name
            if not labels.exists():
                raise ValueError(f"{trace_file} has no labels: expected {labels}")
            rows.append((json.loads(trace_file.read_text()), json.loads(labels.read_text())))
    else:
        text = path.read_text()
        items = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
        rows = [(item["trace"], item["labels"]) for item in items]
    cases = []
    for trace, labels in rows:
        trace_obj = _obj(trace)
        cases.append(
            TrailCase(str(trace_obj.get("trace_id") or _obj(labels).get("trace_id")), trace_obj, _errors(labels))
        )
    if not cases:
        raise ValueError(f"{path}: no annotated traces found")
    return cases


def category_f1(truth: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]]) -> float:
    """Support-weighted F1 over categories, each trace a multi-label sample."""
    gold = [set(t) for t in truth]
    pred = [set(p) for p in predicted]
    weighted = support_total = 0.0
    for category in set().union(*gold):
        tp = sum(category in g and category in p for g, p in zip(gold, pred, strict=True))
        fp = sum(category not in g and category in p for g, p in zip(gold, pred, strict=True))
        fn = sum(category in g and category not in p for g, p in zip(gold, pred, strict=True))
        support = tp + fn
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        weighted += f1 * support
        support_total += support
    return weighted / support_total if support_total else 0.0


def score(cases: Sequence[TrailCase], predictions: Sequence[Iterable[Pair]]) -> TrailScore:
    """Score predictions (one collection of (location, category) per case, in order)."""
    preds = [frozenset(p) for p in predictions]
    if len(preds) != len(cases):
        raise ValueError(f"{len(preds)} predictions for {len(cases)} traces")
    located = joint = 0.0
    counted = 0
    for case, pred in zip(cases, preds, strict=True):
        if not case.errors:
            continue
        counted += 1
        gold_locations = {loc for loc, _ in case.errors}
        located += len(gold_locations & {loc for loc, _ in pred}) / len(gold_locations)
        joint += len(case.errors & pred) / len(case.errors)
    return TrailScore(
        traces=len(cases),
        category_f1=category_f1([{c for _, c in case.errors} for case in cases], [{c for _, c in p} for p in preds]),
        location_accuracy=located / counted if counted else 0.0,
        joint_accuracy=joint / counted if counted else 0.0,
    )
