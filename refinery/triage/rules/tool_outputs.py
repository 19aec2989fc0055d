"""Tool (or executor-agent) outputs that report a failure without raising one."""

from __future__ import annotations

import re

from refinery.documents.ids import run_section
from refinery.documents.text import compact_json
from refinery.trace.model import Run, Trace
from refinery.trace.roles import Roles
from refinery.triage.classify import classify_error, excerpt, new_finding
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions

# Failure signals in tool output, each behind a cheap substring test: the regexes only run
# on outputs that contain their trigger (run on lower-cased text).
_OUTPUT_SIGNALS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("http", "status", "error code"), re.compile(r"\b(?:http|status(?:[ _]code)?|error code)\b\W{0,4}[45]\d\d\b")),
    (
        (
            "too many requests",
            "unauthorized",
            "forbidden",
            "not found",
            "internal server error",
            "bad gateway",
            "service unavailable",
            "gateway timeout",
            "bad request",
            "request timeout",
        ),
        re.compile(
            r"\b[45]\d\d\s+(?:too many requests|unauthorized|forbidden|not found|internal server error|bad gateway|"
            r"service unavailable|gateway timeout|bad request|request timeout)\b"
        ),
    ),
    (("limit",), re.compile(r"rate.?limit(?:ed| exceeded| reached)")),
    (("traceback (most recent call last)",), re.compile(r"traceback \(most recent call last\)")),
    (("exitcode: ",), re.compile(r"exitcode: [1-9]\d*")),
    (("execution failed",), re.compile(r"\bexecution failed\b")),
    (("timed out",), re.compile(r"\btimed out\b")),
    (("error: ", "exception: "), re.compile(r"(?:^|(?<=\w))\s*(?:error|exception): \S", re.MULTILINE)),
]


def _failure_signal(lower: str) -> re.Match[str] | None:
    """The earliest failure signal in lower-cased output text."""
    found = [
        m
        for triggers, pattern in _OUTPUT_SIGNALS
        if any(t in lower for t in triggers)
        for m in [pattern.search(lower)]
        if m
    ]
    return min(found, key=lambda m: m.start()) if found else None


def _output_text(run: Run) -> str:
    outputs = run.outputs
    if outputs is None:
        return ""
    if set(outputs) <= {"output", "content"} and isinstance(next(iter(outputs.values()), None), str):
        text = str(next(iter(outputs.values())))
    else:
        text = compact_json(outputs)
    return text if len(text) <= 6000 else text[:4000] + "\n" + text[-2000:]


def _reported_error(run: Run) -> str | None:
    outputs = run.outputs or {}
    for key in ("error", "errors", "exception"):
        value = outputs.get(key)
        if value:
            return value if isinstance(value, str) else compact_json(value)
        inner = outputs.get("output")
        if isinstance(inner, dict) and inner.get(key):
            return str(inner[key]) if isinstance(inner[key], str) else compact_json(inner[key])
    return None


def _author_of(trace: Trace, run: Run, roles: Roles) -> Run | None:
    """The last step of the system under test before an executor's: who wrote the code that failed."""
    for earlier in reversed(trace.runs[1 : run.order]):
        if roles.acts(earlier) and (earlier.agent or earlier.name) != (run.agent or run.name):
            return earlier
    return None


def find_tool_output_errors(trace: Trace, options: RuleOptions) -> list[Finding]:
    """Tool (or executor-agent) outputs that report a failure without raising one."""
    findings = []
    for run in trace.runs[1:]:
        if run.is_error or run.run_type not in ("tool", "retriever", "agent"):
            continue
        if run.run_type == "agent" and options.roles.actor(run) != "environment":
            continue  # an agent's own words about an error are not a tool reporting one
        text = _reported_error(run)
        match = None
        if text is None:
            output = _output_text(run)
            lower = output.lower()
            match = _failure_signal(lower)
            if match is None:
                continue
            start = max(0, match.start() - 80)
            text = output[start : match.end() + 200]
        category = classify_error(text, run.run_type)
        blamed = None
        if (
            run.run_type == "agent"
            and match
            and re.search(r"exitcode|traceback|execution failed|error", match.group(0))
        ):
            blamed = _author_of(trace, run, options.roles)
        findings.append(
            new_finding(
                run,
                rule="tool_output_error",
                category=category,
                severity="high",
                evidence=excerpt(text),
                explanation=(
                    f"`{run.name}` returned a failure ({category.lower()}) as its output instead of raising it; "
                    "the agent continued with it."
                ),
                blamed_run_id=blamed.id if blamed else None,
                related_sections=[run_section(blamed.order)] if blamed else [],
            )
        )
    return findings
