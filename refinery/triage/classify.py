"""What every rule shares: naming an error's TRAIL category, and building a finding from a run."""

from __future__ import annotations

import re
from typing import Any

from refinery.documents.ids import run_section
from refinery.trace.model import Run
from refinery.triage.model import CATEGORY_GROUP, Finding

EXCERPT = 300

# First match wins; specific shapes before generic ones ("ModuleNotFoundError" is setup, not a 404).
_ERROR_CLASSES: list[tuple[str, re.Pattern[str]]] = [
    (c, re.compile(p, re.IGNORECASE))
    for c, p in [
        (
            "Rate Limiting",
            r"rate.?limit|too many requests|\b429\b|quota (?:exceeded|exhausted)|insufficient_quota|throttl",
        ),
        (
            "Authentication Errors",
            r"\b401\b|\b403\b|unauthori[sz]ed|forbidden|invalid.?api.?key|authenticat|access denied|not authori[sz]ed",
        ),
        (
            "Context Handling Failures",
            r"context.?length|maximum context|context window|prompt is too long|too many tokens|token limit exceeded",
        ),
        (
            "Environment Setup Errors",
            r"ModuleNotFoundError|ImportError|No module named|command not found|permission denied|not installed|"
            r"environment variable|ENOENT|EACCES",
        ),
        (
            "Tool Definition Issues",
            r"unexpected keyword argument|missing \d+ required|takes \d+ positional|unknown tool|no tool named|"
            r"tool \S+ (?:is )?not found|invalid tool|tool_use_failed",
        ),
        ("Timeout Issues", r"time[ds]?[ _-]?out|deadline exceeded|\b504\b|\b408\b"),
        ("Resource Not Found", r"\b404\b|not found|no such file|does not exist|NotFound"),
        (
            "Service Errors",
            r"\b50[0-3]\b|service unavailable|internal server error|bad gateway|connection (?:refused|reset|error|aborted)|"
            r"overloaded|server error",
        ),
        (
            "Resource Exhaustion",
            r"out of memory|MemoryError|no space left|RecursionError|recursion limit|max(?:imum)? iterations",
        ),
        (
            "Formatting Errors",
            r"json|OutputParserException|pars(?:e|ing) error|could not parse|invalid format|validation error",
        ),
    ]
]


def classify_error(text: str, run_type: str | None = None, fallback: str | None = None) -> str:
    """The TRAIL category an error message most likely belongs to; ``fallback`` when no shape matches
    (else a call's failure is a service's, and any other step's is orchestration)."""
    if run_type == "parser":
        return "Formatting Errors"
    head = text[:4000]
    for category, pattern in _ERROR_CLASSES:
        if pattern.search(head):
            return category
    if fallback is not None:
        return fallback
    return "Service Errors" if run_type in ("tool", "retriever", "llm", "embedding") else "Task Orchestration"


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_finding(run: Run, **fields: Any) -> Finding:
    """A finding located at ``run``: its id, section, step, agent and name filled in."""
    category = fields.pop("category")
    return Finding(
        run_id=run.id,
        section=run_section(run.order),
        step=run.order,
        agent=run.agent,
        name=run.name,
        category=category,
        group=CATEGORY_GROUP.get(category, "system_execution"),
        **fields,
    )


def last_error_line(error: str) -> str:
    """The last non-blank line of an error: where a traceback says what went wrong."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else error
