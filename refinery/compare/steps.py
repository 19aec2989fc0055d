"""A trace as the sequence of steps that alignment compares: tool calls, agent turns, failed model calls.

Chains and other framework runs are left out (they differ between versions of a framework
without the agent behaving differently). A model call is a step only when it failed: the
calls that succeeded are what decided the tool calls, which are compared instead, and a
conversation with the user has model calls that no passing run repeats one for one (their
counts are reported beside the alignment). A tool call's arguments are normalized (keys
sorted, whitespace and number spelling ignored) so that ``{"a": 1.0}`` and ``{ "a":1 }`` are
the same call. Consecutive identical calls whose earlier attempts errored are one step with
its attempts counted: a retry is not a divergence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from refinery.documents.ids import run_section
from refinery.trace.model import Run, Trace

STEP_TYPES = ("llm", "tool", "retriever", "agent")
# A tool that only thinks or computes: named for it (its name's first word), or declared so.
_REASONING_VERB = re.compile(r"^(?:think|reason|reflect|scratchpad|calculate|calculator|compute)(?:_|$)", re.I)
_DECLARED_INERT = re.compile(
    r"\b(?:will not|won't|does not|doesn't|never|without)\s+(?:\w+\s+){0,3}?"
    r"(?:obtain|change|modify|update|alter|affect|write|touch)\w*",
    re.I,
)
_READ = re.compile(
    r"^(get|find|list|search|read|lookup|look_up|fetch|query|retrieve|describe|show|check|calculate|think)", re.I
)


@dataclass(frozen=True)
class Step:
    """One step of a run, as alignment sees it."""

    index: int
    """Position among the trace's steps (0-based)."""
    kind: str
    """llm, tool, retriever or agent."""
    name: str
    """The tool's or agent's name; the model for an LLM call."""
    args: str
    """Normalized arguments (tools and retrievers), else empty."""
    run_id: str
    section: str
    """trace.md section of the run (``R0007``)."""
    agent: str | None = None
    error: str | None = None
    """First line of the error, when the step (its last attempt) failed."""
    attempts: int = 1
    output: str = ""
    """A short excerpt of what the step returned, for the side-by-side view."""
    reasoning: bool = False
    """A tool that only thinks or computes (``reasoning_tools``): its text differing changes nothing by itself."""

    @property
    def key(self) -> tuple[str, str, str]:
        """What must be equal for two steps to be the same step."""
        return (self.kind, self.name if self.kind != "llm" else "", self.args)

    @property
    def is_read(self) -> bool:
        """A call that reads state (by its name): independent reads may come in any order."""
        return self.kind == "retriever" or (self.kind == "tool" and is_read_name(self.name))

    @property
    def label(self) -> str:
        """``search_flights({"from": "SFO"})``, ``LLM gpt-4.1``, ``agent planner``."""
        if self.kind in ("tool", "retriever"):
            return f"{self.name}({self.args})"
        return f"LLM {self.name}" if self.kind == "llm" else f"agent {self.name}"


def offered_tools(trace: Trace) -> dict[str, str]:
    """The tools the model was offered (name -> description), where the trace records their definitions."""
    tools: dict[str, str] = {}
    for run in trace.runs:
        if run.run_type != "llm":
            continue
        params = run.metadata.get("invocation_params")
        for source in (run.inputs.get("tools"), params.get("tools") if isinstance(params, dict) else None):
            for tool in source if isinstance(source, list) else []:
                spec = tool.get("function", tool) if isinstance(tool, dict) else None
                if isinstance(spec, dict) and spec.get("name"):
                    tools.setdefault(str(spec["name"]), str(spec.get("description") or ""))
    return tools


def reasoning_tools(trace: Trace) -> set[str]:
    """Tools that neither read nor change anything: a scratchpad or a pure calculation.

    Recognised by what they declare, never by a list of one benchmark's names: a description that
    says the tool does not obtain or change anything ("It will not obtain new information or change
    the database"), or a name whose first word is a reasoning or computing verb (``think``,
    ``reflect``, ``calculate``, ``compute``). A difference in such a step is shown, but it is where the
    runs parted only if what the run did next differs too.
    """
    named = {r.name for r in trace.runs if r.run_type == "tool"}
    declared = offered_tools(trace)
    return {
        name
        for name in named | set(declared)
        if _REASONING_VERB.match(name) or _DECLARED_INERT.search(declared.get(name, ""))
    }


def is_read_name(name: str) -> bool:
    """Whether a tool's name says it reads state (``get_…``, ``search_…``, ``check_…``) rather than changes it."""
    return bool(_READ.match(name))


def normalize_args(value: Any) -> str:
    """Arguments as canonical JSON: keys sorted, no whitespace, integral floats as integers."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return " ".join(value.split())
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, str):
        return " ".join(value.split())
    return value


def call_arguments(run: Run) -> Any:
    """A tool call's arguments as the producer passed them (unwrapped from ``{"arguments": …}``)."""
    inputs = run.inputs
    for key in ("arguments", "args", "input", "kwargs", "query"):
        if key in inputs and len(inputs) <= 2:
            return inputs[key]
    return inputs


def _excerpt(run: Run) -> str:
    if run.outputs is None:
        return ""
    value = run.outputs.get("output", run.outputs) if isinstance(run.outputs, dict) else run.outputs
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return " ".join(text.split())[:160]


def model_calls(trace: Trace) -> int:
    return sum(r.run_type == "llm" for r in trace.runs)


def extract_steps(trace: Trace) -> list[Step]:
    """The trace's steps in execution order, retries folded into the step they retried."""
    steps: list[Step] = []
    reasoning = reasoning_tools(trace)
    for run in trace.runs:
        if run.run_type not in STEP_TYPES or run.parent_id is None or (run.run_type == "llm" and not run.is_error):
            continue
        if run.run_type == "llm":
            name, args = run.model or run.name, ""
        elif run.run_type == "agent":
            name, args = run.agent or run.name, ""
        else:
            name, args = run.name, normalize_args(call_arguments(run))
        # A run marked errored may carry no error text at all (status "error", error null).
        lines = (run.error or "").strip().splitlines()
        error = (lines[0][:200] if lines else "error (no message)") if run.is_error else None
        step = Step(
            index=len(steps),
            kind=run.run_type,
            name=name,
            args=args,
            run_id=run.id,
            section=run_section(run.order),
            agent=run.agent,
            error=error,
            output=_excerpt(run),
            reasoning=run.run_type == "tool" and run.name in reasoning,
        )
        previous = steps[-1] if steps else None
        if previous is not None and previous.error and previous.key == step.key and step.kind != "llm":
            # The same call again after it failed: a retry of that step, not a new one.
            steps[-1] = Step(**{**vars(step), "index": previous.index, "attempts": previous.attempts + 1})
            continue
        steps.append(step)
    return steps
