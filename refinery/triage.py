"""Deterministic triage: what rules can see in a trace before any model runs.

Each finding names a TRAIL category (reasoning / system execution / planning), a run and
its section id, an evidence excerpt and an explanation. Findings are ranked, and the
most likely origin step is named, with its agent where the trace has agents. This is
the whole report when there is no model key, and the fallback when a model fails.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, Field

from refinery.documents.ids import numbered, run_section
from refinery.documents.text import compact_json
from refinery.trace.model import Run, Trace

Severity = Literal["critical", "high", "medium", "low"]
Role = Literal["origin", "propagated", "independent"]

CATEGORY_GROUP = {
    "Language-only Hallucinations": "reasoning",
    "Tool-related Hallucinations": "reasoning",
    "Poor Information Retrieval": "reasoning",
    "Tool Output Misinterpretation": "reasoning",
    "Incorrect Problem Identification": "reasoning",
    "Tool Selection Errors": "reasoning",
    "Formatting Errors": "reasoning",
    "Instruction Non-compliance": "reasoning",
    "Tool Definition Issues": "system_execution",
    "Environment Setup Errors": "system_execution",
    "Rate Limiting": "system_execution",
    "Authentication Errors": "system_execution",
    "Service Errors": "system_execution",
    "Resource Not Found": "system_execution",
    "Resource Exhaustion": "system_execution",
    "Timeout Issues": "system_execution",
    "Context Handling Failures": "planning",
    "Resource Abuse": "planning",
    "Goal Deviation": "planning",
    "Task Orchestration": "planning",
    "Eval Gap": "evaluation",
}
TRAIL_CATEGORIES = tuple(c for c, g in CATEGORY_GROUP.items() if g != "evaluation")

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


_EXECUTOR = re.compile(r"terminal|executor|computer|interpreter|code_exec|sandbox|shell|python", re.IGNORECASE)
_TRUNCATED = {"length", "max_tokens", "max_output_tokens", "MAX_TOKENS", "model_length"}
_FINISH_KEYS = ("finish_reason", "stop_reason", "finishReason", "finish_reasons", "reason")
_SEVERITY_WEIGHT = {"critical": 4, "high": 3, "medium": 2, "low": 1}
_EXCERPT = 300


class Finding(BaseModel):
    """One thing the rules saw."""

    id: str = ""
    """``F01``…, in rank order."""
    rule: str
    """The rule that fired: run_error, tool_output_error, truncated_output, invalid_json, repeated_call, …"""
    category: str
    """TRAIL category (or ``Eval Gap`` for evaluator verdicts)."""
    group: str
    """reasoning, system_execution, planning or evaluation."""
    severity: Severity
    """critical, high, medium or low."""
    run_id: str | None
    """The run the evidence is in."""
    section: str | None
    """Its section id in trace.md (``R0007``)."""
    step: int | None
    """Its execution position."""
    agent: str | None = None
    """The acting agent, when the trace has agents."""
    name: str | None = None
    """The run's name."""
    evidence: str
    """An excerpt from the trace (redacted, capped)."""
    explanation: str
    """What the rule concluded, in one or two sentences."""
    role: Role | None = None
    """For errors: origin of the chain, propagated from it, or an independent failure."""
    blamed_run_id: str | None = None
    """Where the fault most likely lies when not where it surfaced (code that failed to run)."""
    related_sections: list[str] = Field(default_factory=list)
    """Other sections the finding spans (each repetition of a loop, the propagated chain)."""


class Origin(BaseModel):
    """The step where the failure most likely began."""

    run_id: str
    section: str
    step: int
    name: str
    agent: str | None
    finding_id: str
    reason: str
    run_type: str | None = None
    """llm, tool, chain, … of the origin run."""


class TriageReport(BaseModel):
    """Every finding, ranked, and the most likely origin."""

    trace_id: str
    findings: list[Finding]
    origin: Origin | None
    runs: int
    errored_runs: int

    @property
    def by_category(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for finding in self.findings:
            counts[finding.category] += 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def classify_error(text: str, run_type: str | None = None) -> str:
    """The TRAIL category an error message most likely belongs to."""
    if run_type == "parser":
        return "Formatting Errors"
    head = text[:4000]
    for category, pattern in _ERROR_CLASSES:
        if pattern.search(head):
            return category
    return "Service Errors" if run_type in ("tool", "retriever", "llm", "embedding") else "Task Orchestration"


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finding(run: Run, **fields: Any) -> Finding:
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


def _last_error_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else error


# -- rules -----------------------------------------------------------------------------------


def find_run_errors(trace: Trace) -> list[Finding]:
    """Errored runs; the first error leaf in causal order is the origin, its errored ancestors propagated."""
    errored = [r for r in trace.runs if r.is_error]
    if not errored:
        return []
    errored_ids = {r.id for r in errored}
    has_errored_descendant: set[str] = set()
    for run in errored:
        for ancestor in trace.ancestors(run.id):
            if ancestor.id in errored_ids:
                has_errored_descendant.add(ancestor.id)
    leaves = [r for r in errored if r.id not in has_errored_descendant]
    findings: list[Finding] = []
    claimed: set[str] = set()
    for index, leaf in enumerate(leaves):
        error = leaf.error or "status error"
        category = classify_error(error, leaf.run_type)
        chain = [a for a in trace.ancestors(leaf.id) if a.id in errored_ids and a.id not in claimed]
        claimed.update(a.id for a in chain)
        role: Role = "origin" if index == 0 else "independent"
        findings.append(
            _finding(
                leaf,
                rule="run_error",
                category=category,
                severity="critical" if role == "origin" else "high",
                evidence=excerpt(_last_error_line(error) if len(error) > _EXCERPT else error),
                explanation=(
                    f"{leaf.run_type} `{leaf.name}` failed"
                    + (f"; the error propagated to {len(chain)} enclosing runs." if chain else ".")
                ),
                role=role,
                related_sections=[run_section(a.order) for a in chain],
            )
        )
        for ancestor in chain:
            findings.append(
                _finding(
                    ancestor,
                    rule="run_error",
                    category=category,
                    severity="medium",
                    evidence=excerpt(_last_error_line(ancestor.error or "status error")),
                    explanation=f"Failed because `{leaf.name}` ({run_section(leaf.order)}) failed below it.",
                    role="propagated",
                    related_sections=[run_section(leaf.order)],
                )
            )
    return findings


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


def find_tool_output_errors(trace: Trace) -> list[Finding]:
    """Tool (or executor-agent) outputs that report a failure without raising one."""
    findings = []
    for run in trace.runs[1:]:
        if run.is_error or run.run_type not in ("tool", "retriever", "agent"):
            continue
        if run.run_type == "agent" and not _EXECUTOR.search(run.agent or run.name):
            continue
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
            blamed = _author_of(trace, run)
        findings.append(
            _finding(
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


def _author_of(trace: Trace, run: Run) -> Run | None:
    """The step before an executor's, by another agent: who wrote the code that failed."""
    for earlier in reversed(trace.runs[1 : run.order]):
        if (earlier.agent or earlier.name) != (run.agent or run.name):
            return earlier
    return None


def _finish_reasons(value: Any, depth: int = 0) -> list[str]:
    if depth > 5:
        return []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _FINISH_KEYS and isinstance(item, str):
                found.append(item)
            elif key in _FINISH_KEYS and isinstance(item, list):
                found.extend(str(i) for i in item if isinstance(i, str))
            else:
                found.extend(_finish_reasons(item, depth + 1))
    elif isinstance(value, list):
        for item in value[:20]:
            found.extend(_finish_reasons(item, depth + 1))
    return found


def find_truncation(trace: Trace) -> list[Finding]:
    """LLM runs cut off by the output limit."""
    findings = []
    for run in trace.runs:
        if run.run_type != "llm":
            continue
        reasons = _finish_reasons(run.outputs) + _finish_reasons(run.metadata.get("gen_ai.response.finish_reasons"))
        hit = next((r for r in reasons if r in _TRUNCATED), None)
        if hit is None and (run.outputs or {}).get("status") == "incomplete":
            hit = "incomplete"
        if hit is None:
            continue
        findings.append(
            _finding(
                run,
                rule="truncated_output",
                category="Resource Exhaustion",
                severity="high",
                evidence=f"finish reason: {hit}"
                + (f"; completion tokens: {run.completion_tokens}" if run.completion_tokens else ""),
                explanation="The model hit its output-token limit, so this reply is cut off; whatever used it saw a partial answer.",
            )
        )
    return findings


def _llm_messages(run: Run) -> list[dict[str, Any]]:
    outputs = run.outputs or {}
    messages: list[dict[str, Any]] = []
    for choice in outputs.get("choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            messages.append(choice["message"])
    for generation in (outputs.get("generations") or [[]])[0] if outputs.get("generations") else []:
        if isinstance(generation, dict) and isinstance(generation.get("message"), dict):
            kwargs = generation["message"].get("kwargs", generation["message"])
            messages.append(kwargs if isinstance(kwargs, dict) else {})
    if "content" in outputs or "tool_calls" in outputs:
        messages.append(outputs)
    return messages


def _json_error(text: str) -> str | None:
    """Why ``text`` is not valid JSON, or None when it is."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.msg
    return None


def find_invalid_json(trace: Trace) -> list[Finding]:
    """Tool-call arguments, or JSON-mode replies, that are not valid JSON."""
    findings = []
    for run in trace.runs:
        if run.run_type != "llm":
            continue
        wants_json = "json" in compact_json((run.metadata.get("invocation_params") or {}).get("response_format") or "")
        candidates: list[tuple[str, str, str]] = []  # (text, evidence, what it is)
        for message in _llm_messages(run):
            for call in message.get("tool_calls") or []:
                fn = call.get("function") if isinstance(call, dict) else None
                args = fn.get("arguments") if isinstance(fn, dict) else None
                if isinstance(fn, dict) and isinstance(args, str) and args.strip():
                    candidates.append((args, f"{fn.get('name')}({args})", "The model's tool-call arguments are"))
            content = message.get("content")
            if wants_json and isinstance(content, str) and content.strip():
                candidates.append((content, content, "JSON output was requested but the reply is"))
        for text, evidence, what in candidates:
            problem = _json_error(text)
            if problem is not None:
                findings.append(
                    _finding(
                        run,
                        rule="invalid_json",
                        category="Formatting Errors",
                        severity="high",
                        evidence=excerpt(evidence),
                        explanation=f"{what} not valid JSON ({problem}).",
                    )
                )
    return findings


def find_repeated_calls(trace: Trace, threshold: int = 3) -> list[Finding]:
    """The same tool with the same arguments (or the same agent message) 3 or more times."""
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in trace.runs[1:]:
        if run.run_type in ("tool", "retriever"):
            groups[(run.name, compact_json(run.inputs))].append(run)
        elif run.run_type == "agent" and run.outputs:
            groups[(f"agent:{run.agent or run.name}", compact_json(run.outputs))].append(run)
    findings = []
    for (name, key), runs in groups.items():
        if len(runs) < threshold:
            continue
        first_repeat = runs[1]
        is_agent = name.startswith("agent:")
        label = name.removeprefix("agent:")
        findings.append(
            _finding(
                first_repeat,
                rule="repeated_call",
                category="Resource Abuse",
                severity="high" if len(runs) >= 5 else "medium",
                evidence=excerpt(
                    f"{label} said the same thing {len(runs)} times" if is_agent else f"{label}({key}) × {len(runs)}"
                ),
                explanation=(
                    f"`{label}` repeated the identical "
                    + ("message" if is_agent else "call")
                    + f" {len(runs)} times; nothing changed between attempts, so the agent is looping."
                ),
                related_sections=[run_section(r.order) for r in runs],
            )
        )
    return findings


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    return False


def find_empty_output(trace: Trace) -> list[Finding]:
    """A final answer that is empty."""
    root = trace.root
    if root.is_error or root.status == "pending":
        return []
    llm_runs = [r for r in trace.runs if r.run_type == "llm"]
    last_llm = llm_runs[-1] if llm_runs else None
    if last_llm is not None:
        messages = _llm_messages(last_llm)
        if messages and all(_empty(m.get("content")) and not m.get("tool_calls") for m in messages):
            return [
                _finding(
                    last_llm,
                    rule="empty_output",
                    category="Goal Deviation",
                    severity="high",
                    evidence="final reply content: (empty)",
                    explanation="The agent's last model call produced no answer and no tool call, so the run ended empty.",
                )
            ]
    if root.outputs is not None and _empty(root.outputs) and trace.source != "file:history":
        return [
            _finding(
                root,
                rule="empty_output",
                category="Goal Deviation",
                severity="high",
                evidence=f"final output: {excerpt(compact_json(root.outputs), 120)}",
                explanation="The trace finished without an answer.",
            )
        ]
    return []


def find_eval_gaps(trace: Trace, threshold: float) -> list[Finding]:
    """Feedback at or below the threshold, and a reference answer missing from the output."""
    findings = []
    root = trace.root
    for item in trace.feedback:
        if item.score is None or item.score > threshold:
            continue
        target = root
        if item.run_id and item.run_id != root.id:
            try:
                target = trace.get(item.run_id)
            except KeyError:
                target = root
        findings.append(
            _finding(
                target,
                rule="eval_feedback",
                category="Eval Gap",
                severity="high",
                evidence=excerpt(f"{item.key} = {item.score:g}" + (f": {item.comment}" if item.comment else "")),
                explanation=f"The evaluator `{item.key}` scored this run {item.score:g} (threshold {threshold:g}).",
            )
        )
    reference = trace.reference_outputs
    if reference and root.outputs:
        expected = [str(v) for v in reference.values() if isinstance(v, (str, int, float)) and str(v).strip()]
        got = compact_json(root.outputs)
        if expected and not any(_normalize(v) in _normalize(got) for v in expected):
            findings.append(
                _finding(
                    root,
                    rule="reference_mismatch",
                    category="Eval Gap",
                    severity="medium",
                    evidence=excerpt(f"expected {compact_json(reference)}; got {got}"),
                    explanation="The reference answer does not appear in the final output.",
                )
            )
    return findings


def _normalize(text: str) -> str:
    return re.sub(r"[\s,]+", "", text.lower())


def find_outliers(trace: Trace, limit: int = 3) -> list[Finding]:
    """Runs far slower, or LLM calls with far larger prompts, than their peers."""
    findings: list[Finding] = []
    by_type: dict[str, list[tuple[float, Run]]] = defaultdict(list)
    for run in trace.runs[1:]:
        if run.duration_ms is not None:
            by_type[run.run_type].append((run.duration_ms, run))
    for run_type, items in sorted(by_type.items()):
        if len(items) < 5:
            continue
        median = statistics.median(d for d, _ in items)
        slow = sorted(
            ((d, r) for d, r in items if d >= 1000 and d > max(5 * median, median + 2000)), key=lambda x: -x[0]
        )
        for duration, run in slow[:limit]:
            findings.append(
                _finding(
                    run,
                    rule="latency_outlier",
                    category="Timeout Issues",
                    severity="low",
                    evidence=f"{duration / 1000:.1f}s vs median {median / 1000:.2f}s over {len(items)} {run_type} runs",
                    explanation=f"This {run_type} run took {duration / max(median, 1):.0f}× the median.",
                )
            )
    prompts = [(r.prompt_tokens, r) for r in trace.runs if r.run_type == "llm" and r.prompt_tokens]
    if len(prompts) >= 5:
        median = statistics.median(t for t, _ in prompts)
        big = sorted(((t, r) for t, r in prompts if t >= 2000 and t > 3 * median), key=lambda x: -x[0])
        for tokens, run in big[:limit]:
            findings.append(
                _finding(
                    run,
                    rule="token_outlier",
                    category="Context Handling Failures",
                    severity="low",
                    evidence=f"{tokens} prompt tokens vs median {median:.0f} over {len(prompts)} LLM calls",
                    explanation="This call's prompt is far larger than its peers': context is accumulating or a large payload was pasted in.",
                )
            )
    return findings


# -- ranking and origin ----------------------------------------------------------------------

_ORIGIN_RULES = ("run_error", "tool_output_error", "truncated_output", "invalid_json")


def _score(finding: Finding) -> float:
    score = float(_SEVERITY_WEIGHT[finding.severity])
    if finding.role == "origin":
        score += 2
    elif finding.role == "propagated":
        score -= 1
    if finding.rule in ("latency_outlier", "token_outlier"):
        score -= 0.5
    return score


def _choose_origin(trace: Trace, findings: list[Finding]) -> Origin | None:
    candidates = [f for f in findings if f.rule in _ORIGIN_RULES and f.role != "propagated" and f.step is not None]
    reason = "the earliest failure signal in execution order"
    if not candidates:
        candidates = [f for f in findings if f.rule in ("repeated_call", "empty_output")]
        reason = "no run failed outright; the agent looped or ended empty here"
    if not candidates:
        return None
    first = min(candidates, key=lambda f: (f.step if f.step is not None else 1 << 30, -_score(f)))
    run = trace.get(first.blamed_run_id or str(first.run_id))
    if first.blamed_run_id:
        reason = f"its output was executed and failed at {first.section}"
    return Origin(
        run_id=run.id,
        section=run_section(run.order),
        step=run.order,
        name=run.name,
        agent=run.agent,
        finding_id=first.id,
        reason=reason,
        run_type=run.run_type,
    )


def run_triage(trace: Trace, *, eval_threshold: float = 0.5) -> TriageReport:
    """Every rule over ``trace``; findings ranked (F01 first) and the origin named."""
    findings = [
        *find_run_errors(trace),
        *find_tool_output_errors(trace),
        *find_truncation(trace),
        *find_invalid_json(trace),
        *find_repeated_calls(trace),
        *find_empty_output(trace),
        *find_eval_gaps(trace, eval_threshold),
        *find_outliers(trace),
    ]
    findings.sort(key=lambda f: (-_score(f), f.step if f.step is not None else 1 << 30, f.rule))
    for index, finding in enumerate(findings, start=1):
        finding.id = numbered("F", index)
    return TriageReport(
        trace_id=trace.id,
        findings=findings,
        origin=_choose_origin(trace, findings),
        runs=len(trace.runs),
        errored_runs=len(trace.errored_runs),
    )
