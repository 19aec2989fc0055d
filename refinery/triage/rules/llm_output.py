"""What the model's own replies show: cut off by the token limit, invalid JSON, an empty answer."""

from __future__ import annotations

import json
from typing import Any

from refinery.documents.text import compact_json
from refinery.trace.model import Run, Trace
from refinery.triage.classify import excerpt, new_finding
from refinery.triage.model import Finding
from refinery.triage.rules.base import RuleOptions

_TRUNCATED = {"length", "max_tokens", "max_output_tokens", "MAX_TOKENS", "model_length"}
_FINISH_KEYS = ("finish_reason", "stop_reason", "finishReason", "finish_reasons", "reason")


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


def find_truncation(trace: Trace, options: RuleOptions) -> list[Finding]:
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
            new_finding(
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


def llm_messages(run: Run) -> list[dict[str, Any]]:
    """The assistant messages in an LLM run's outputs, whichever SDK shape they were recorded in."""
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


def find_invalid_json(trace: Trace, options: RuleOptions) -> list[Finding]:
    """Tool-call arguments, or JSON-mode replies, that are not valid JSON."""
    findings = []
    for run in trace.runs:
        if run.run_type != "llm":
            continue
        wants_json = "json" in compact_json((run.metadata.get("invocation_params") or {}).get("response_format") or "")
        candidates: list[tuple[str, str, str]] = []  # (text, evidence, what it is)
        for message in llm_messages(run):
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
                    new_finding(
                        run,
                        rule="invalid_json",
                        category="Formatting Errors",
                        severity="high",
                        evidence=excerpt(evidence),
                        explanation=f"{what} not valid JSON ({problem}).",
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


def find_empty_output(trace: Trace, options: RuleOptions) -> list[Finding]:
    """A final answer that is empty."""
    root = trace.root
    if root.is_error or root.status == "pending":
        return []
    llm_runs = [r for r in trace.runs if r.run_type == "llm"]
    last_llm = llm_runs[-1] if llm_runs else None
    if last_llm is not None:
        messages = llm_messages(last_llm)
        if messages and all(_empty(m.get("content")) and not m.get("tool_calls") for m in messages):
            return [
                new_finding(
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
            new_finding(
                root,
                rule="empty_output",
                category="Goal Deviation",
                severity="high",
                evidence=f"final output: {excerpt(compact_json(root.outputs), 120)}",
                explanation="The trace finished without an answer.",
            )
        ]
    return []
