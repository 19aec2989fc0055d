"""What comparing needs of a run, and nothing more: its steps and what surrounded them.

A summary is small next to its trace, so a baseline can be read, summarized and let go before
the failing run is compared with it; and redacting a summary costs a fraction of redacting
the whole baseline trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from refinery.compare.steps import Step, extract_steps, model_calls, offered_tools
from refinery.trace.model import Trace
from refinery.trace.source import example_key

_PARAMETERS = ("temperature", "top_p", "max_tokens", "max_output_tokens", "reasoning_effort", "seed", "stop")


@dataclass
class RunSummary:
    """One run, as the comparison sees it."""

    trace_id: str
    example: str | None
    """The dataset example or benchmark task it ran (``trace.source.example_key``)."""
    root_inputs: dict[str, Any]
    steps: list[Step]
    model_calls: int
    system_prompt: str | None
    tools: set[str] = field(default_factory=set)
    """The tools offered to the model, where the trace records their definitions."""
    models: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


def _system_prompt(trace: Trace) -> str | None:
    for run in trace.runs:
        if run.run_type != "llm":
            continue
        system = run.inputs.get("system")
        if isinstance(system, str) and system.strip():
            return system
        messages = run.inputs.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], list):
            messages = messages[0]
        for message in messages or []:
            if isinstance(message, dict) and message.get("role") in ("system", "developer"):
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return None


def _parameters(trace: Trace) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for run in trace.runs:
        params = run.metadata.get("invocation_params") if run.run_type == "llm" else None
        if isinstance(params, dict):
            for key in _PARAMETERS:
                if key in params and key not in found:
                    found[key] = params[key]
    return found


def summarize(trace: Trace) -> RunSummary:
    return RunSummary(
        trace_id=trace.id,
        example=example_key(trace),
        root_inputs=dict(trace.root.inputs),
        steps=extract_steps(trace),
        model_calls=model_calls(trace),
        system_prompt=_system_prompt(trace),
        tools=set(offered_tools(trace)),
        models=sorted({r.model for r in trace.runs if r.model}),
        parameters=_parameters(trace),
    )


def redact_summary(summary: RunSummary, text: Callable[[str], str], value: Callable[[Any], Any]) -> RunSummary:
    """The summary with every text a document or the pack shows passed through the redactor."""
    steps = [
        replace(
            s,
            name=text(s.name),
            args=text(s.args),
            agent=text(s.agent) if s.agent else None,
            error=text(s.error) if s.error else None,
            output=text(s.output),
        )
        for s in summary.steps
    ]
    return replace(
        summary,
        root_inputs=value(summary.root_inputs),
        steps=steps,
        system_prompt=text(summary.system_prompt) if summary.system_prompt else None,
        tools={text(t) for t in summary.tools},
        models=[text(m) for m in summary.models],
        parameters=value(summary.parameters),
    )
