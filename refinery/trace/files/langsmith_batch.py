"""LangSmith SDK batch-ingest payloads: ``{"post": [runs…], "patch": [updates…]}``.

The SDK posts a run when it starts and patches it when it ends (outputs, end time, errors).
A file may hold one payload or, one per line, every payload a session sent (as a proxy
records them). Each patch is merged onto its post by id, or, where a patch carries no id (the JS SDK), onto
the posts in order; the merged runs are then read as any LangSmith export.
"""

from __future__ import annotations

from typing import Any

from refinery.trace.files.langsmith_export import load_langsmith
from refinery.trace.model import Trace


def is_langsmith_batch(data: Any) -> bool:
    """An object whose only lists are ``post`` and ``patch`` runs, or a list (JSONL) of them."""
    if isinstance(data, list):
        return bool(data) and all(_is_payload(d) for d in data)
    return _is_payload(data)


def _is_payload(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and bool(data)
        and set(data) <= {"post", "patch"}
        and all(isinstance(v, list) and all(isinstance(r, dict) for r in v) for v in data.values())
        and bool(data.get("post") or data.get("patch"))
    )


def merge_batch(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs the payload describes, each post updated by its patch."""
    posts = [dict(run) for run in data.get("post") or []]
    by_id = {str(run["id"]): run for run in posts if run.get("id")}
    unmatched = iter(posts)
    merged = list(posts)
    for patch in data.get("patch") or []:
        target = by_id.get(str(patch.get("id"))) if patch.get("id") else next(unmatched, None)
        if target is None:
            merged.append(dict(patch))  # a patch for a run posted in another batch: keep what it says
            continue
        for key, value in patch.items():
            if value is None:
                continue
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = {**target[key], **value}
            else:
                target[key] = value
    return merged


def load_langsmith_batch(data: dict[str, Any] | list[dict[str, Any]]) -> list[Trace]:
    """One payload, or the payloads of a whole session in the order the SDK sent them.

    A run is often posted in one batch and patched in a later one, so the payloads are read as one.
    """
    payloads = data if isinstance(data, list) else [data]
    joined = {
        "post": [run for p in payloads for run in p.get("post") or []],
        "patch": [run for p in payloads for run in p.get("patch") or []],
    }
    return load_langsmith(merge_batch(joined))
