"""Chat transcripts: OpenAI chat messages, ``{messages|traj: [...]}`` objects, and multi-agent
``history`` logs (``{role, name, content}``, as the Who&When benchmark publishes them).

Transcripts have no times, so order is the message order. Every message lands in a run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from refinery.trace.assemble import RunDraft, assemble_trace
from refinery.trace.model import Feedback, Trace, TraceWarning

# Keys of benchmark files that are ground truth for scoring, not input to the analysis.
LABEL_KEYS = ("mistake_agent", "mistake_step", "mistake_reason", "mistake_type", "labels")
_ROLE_AGENT = re.compile(r"^\s*([^()]+?)\s*(?:\(.*\))?\s*$")
_ROLE_ADDRESSEE = re.compile(r"\(\s*->\s*([^()]+?)\s*\)\s*$")
"""A role that records who the message is for: ``Orchestrator (-> WebSurfer)`` (Magentic-One)."""
_ANSWER_TEMPLATE = re.compile(r"^FINAL ANSWER:[ \t]*(\S.*?)\s*$", re.MULTILINE)
"""GAIA's answer template: its prompt asks for ``FINAL ANSWER: [YOUR FINAL ANSWER]``, and GAIA
harnesses print the run's answer so, on a line of its own, at the end of the run."""


def _text(content: Any) -> Any:
    """Flatten OpenAI content parts to text where they are text."""
    if isinstance(content, list):
        texts = [
            p.get("text")
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text")
        ]
        if len(texts) == len(content):
            return "\n".join(str(t) for t in texts)
    return content


def _args(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {"arguments": raw}
        return parsed if isinstance(parsed, dict) else {"arguments": parsed}
    return {"arguments": raw}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12 else None


def message_usage(msg: dict[str, Any]) -> dict[str, Any]:
    """Tokens, cost and model of one assistant message, wherever the producer put them.

    OpenAI's ``usage`` on the message (tau2), or the raw completion under ``extra.response``
    (mini-swe-agent), with ``prompt_tokens``/``completion_tokens`` or ``input_tokens``/``output_tokens``.
    """
    extra: dict[str, Any] = msg["extra"] if isinstance(msg.get("extra"), dict) else {}
    response: dict[str, Any] = extra["response"] if isinstance(extra.get("response"), dict) else {}
    usage = msg.get("usage") if isinstance(msg.get("usage"), dict) else response.get("usage")
    out: dict[str, Any] = {}
    if isinstance(usage, dict):
        prompt = _count(usage.get("prompt_tokens", usage.get("input_tokens")))
        completion = _count(usage.get("completion_tokens", usage.get("output_tokens")))
        total = _count(usage.get("total_tokens"))
        if prompt is not None or completion is not None or total is not None:
            out.update(prompt_tokens=prompt, completion_tokens=completion)
            out["total_tokens"] = total if total is not None else (prompt or 0) + (completion or 0)
    cost = msg.get("cost", extra.get("cost"))
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        out["cost"] = float(cost)
    model = response.get("model") or msg.get("model")
    if isinstance(model, str):
        out["model"] = model
    return out


def is_chat(data: Any) -> bool:
    """A list of chat messages, or an object holding one under ``messages`` or ``traj``."""
    if isinstance(data, dict):
        data = data.get("messages", data.get("traj"))
    return isinstance(data, list) and bool(data) and all(isinstance(m, dict) and "role" in m for m in data)


@dataclass
class _Transcript:
    """A conversation read message by message into runs: one LLM run per assistant message, one tool
    run per tool call it made (answered by the tool message with its id)."""

    trace_id: str
    drafts: list[RunDraft] = field(default_factory=list)
    system: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, RunDraft] = field(default_factory=dict)
    first_user: Any = None
    final: Any = None
    unmatched: list[str] = field(default_factory=list)

    def read(self, index: int, msg: dict[str, Any]) -> None:
        role = str(msg.get("role"))
        content = _text(msg.get("content"))
        if role in ("system", "developer") and self.system is None:
            self.system = content if isinstance(content, str) else json.dumps(content)
        elif role == "assistant":
            self.assistant(index, msg, content)
        elif role == "tool":
            self.tool_result(index, msg, content)
        else:
            if role == "user" and self.first_user is None:
                self.first_user = content
            named = {"name": msg["name"]} if msg.get("name") else {}
            self.pending.append({"role": role, "content": content, **named})

    def assistant(self, index: int, msg: dict[str, Any], content: Any) -> None:
        inputs: dict[str, Any] = {"messages": self.pending}
        if self.system is not None:
            inputs["system"] = self.system
        outputs: dict[str, Any] = {"content": content}
        if msg.get("tool_calls"):
            outputs["tool_calls"] = msg["tool_calls"]
        llm_id = f"{self.trace_id}:m{index:05d}"
        usage = message_usage(msg)
        self.drafts.append(
            {
                "id": llm_id,
                "parent_id": self.trace_id,
                "name": str(msg.get("name") or "assistant"),
                "run_type": "llm",
                "inputs": inputs,
                "outputs": outputs,
                "model": usage.pop("model", None) or msg.get("model"),
                "metadata": {"message_index": index, "role": "assistant"},
                **usage,
            }
        )
        self.pending = []
        if content:
            self.final = content
        for number, call in enumerate(msg.get("tool_calls") or []):
            fn = call.get("function") or {}
            call_id = str(call.get("id") or f"{llm_id}:call{number}")
            run: RunDraft = {
                # By position, not by the call id: producers (tau-bench) reuse ids across turns,
                # and two runs with one id would be merged into one.
                "id": f"{llm_id}:call{number}",
                "parent_id": self.trace_id,
                "name": str(fn.get("name") or "tool"),
                "run_type": "tool",
                "inputs": _args(fn.get("arguments")),
                "outputs": None,
                "metadata": {"tool_call_id": call_id, "message_index": index},
                "status": "pending",
            }
            self.calls[call_id] = run  # a result answers the latest call with its id
            self.drafts.append(run)

    def tool_result(self, index: int, msg: dict[str, Any], content: Any) -> None:
        call_id = str(msg.get("tool_call_id") or "")
        found = self.calls.get(call_id)
        if found is not None and found["outputs"] is None:
            run = found
        else:
            self.unmatched.append(f"message {index}")
            run = {
                "id": f"{self.trace_id}:m{index:05d}",
                "parent_id": self.trace_id,
                "name": str(msg.get("name") or "tool"),
                "run_type": "tool",
                "inputs": {},
                "metadata": {"tool_call_id": call_id or None, "message_index": index},
            }
            self.drafts.append(run)
        run["outputs"] = {"output": content}
        run["status"] = None
        if msg.get("error") is True:  # tau2 marks a failed tool result
            run["error"], run["status"] = str(content or "tool error"), "error"

    def finish(self) -> list[TraceWarning]:
        """Close the transcript: messages no model answered become one run; what did not pair is said."""
        if self.pending:
            self.drafts.append(
                {
                    "id": f"{self.trace_id}:tail",
                    "parent_id": self.trace_id,
                    "name": "unanswered messages",
                    "run_type": "prompt",
                    "inputs": {"messages": self.pending},
                    "outputs": None,
                    "status": "success",
                }
            )
        warnings = []
        unanswered = [r["id"] for r in self.calls.values() if r["outputs"] is None]
        if unanswered:
            warnings.append(
                TraceWarning(
                    code="unanswered_tool_call",
                    message="Tool calls with no result in the transcript.",
                    run_ids=unanswered[:5],
                    count=len(unanswered),
                )
            )
        if self.unmatched:
            warnings.append(
                TraceWarning(
                    code="unmatched_tool_result",
                    message="Tool results that match no call became their own runs.",
                    count=len(self.unmatched),
                )
            )
        return warnings


def load_chat(data: Any) -> list[Trace]:
    """One trace from an OpenAI-style conversation."""
    meta: dict[str, Any] = {}
    if isinstance(data, dict):
        key = "messages" if "messages" in data else "traj"
        messages = data[key]
        meta = {k: v for k, v in data.items() if k != key}
    else:
        messages = data
    transcript = _Transcript(str(meta.pop("id", None) or meta.pop("trace_id", None) or "chat"))
    for index, msg in enumerate(messages):
        transcript.read(index, msg)
    warnings = transcript.finish()
    root: RunDraft = {
        "id": transcript.trace_id,
        "name": str(meta.get("name") or "conversation"),
        "run_type": "chain",
        "inputs": {"input": transcript.first_user} if transcript.first_user is not None else {},
        "outputs": {"output": transcript.final} if transcript.final is not None else None,
        "metadata": {"system_prompt": transcript.system} if transcript.system else {},
    }
    return [
        assemble_trace(
            [root, *transcript.drafts],
            source="file:chat",
            times_expected=False,
            warnings=warnings,
            metadata=meta,
        )
    ]


def is_history(data: Any) -> bool:
    """A multi-agent log: an object with a ``history`` list of messages."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("history"), list)
        and all(isinstance(m, dict) and ("content" in m or "role" in m) for m in data["history"])
    )


def addressee_of(message: dict[str, Any]) -> str | None:
    """The agent the message is for, when its role records it (``Orchestrator (-> WebSurfer)``)."""
    match = _ROLE_ADDRESSEE.search(str(message.get("role") or ""))
    return match.group(1) if match else None


def agent_of(message: dict[str, Any]) -> str:
    """The acting agent: ``name``, else the role without its parenthetical (``Orchestrator (thought)``)."""
    if message.get("name"):
        return str(message["name"])
    role = str(message.get("role") or "unknown")
    match = _ROLE_AGENT.match(role)
    return match.group(1) if match else role


def template_answer(history: list[Any]) -> str | None:
    """The run's answer, when its last message states it in GAIA's answer template (the last such line)."""
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    content = last.get("content")
    answers = _ANSWER_TEMPLATE.findall(content) if isinstance(content, str) else []
    return str(answers[-1]) if answers else None


def load_history(data: dict[str, Any]) -> list[Trace]:
    """One trace from a multi-agent ``history`` log; each message is a step run."""
    trace_id = str(data.get("question_ID") or data.get("id") or "history")
    root_id = trace_id
    raw_prompts = data.get("system_prompt")
    prompts: dict[str, Any] = raw_prompts if isinstance(raw_prompts, dict) else {}
    drafts: list[RunDraft] = [
        {
            "id": root_id,
            "name": "task",
            "run_type": "chain",
            "inputs": {"question": data.get("question")} if data.get("question") is not None else {},
            # The answer the run gave is its output, as a root run's output is in a LangSmith trace.
            "outputs": {"answer": answer} if (answer := template_answer(data["history"])) else None,
        }
    ]
    for step, msg in enumerate(data["history"]):
        agent = agent_of(msg)
        inputs: dict[str, Any] = {}
        if prompts.get(agent):
            inputs["system"] = prompts[agent]
        drafts.append(
            {
                "id": f"{trace_id}:step{step:04d}",
                "parent_id": root_id,
                "name": agent,
                "agent": agent,
                **({"addressee": to} if (to := addressee_of(msg)) else {}),
                "run_type": "agent",
                # A message with a role and no speaker's name is the person who asked.
                **({"actor": "user"} if not msg.get("name") and msg.get("role") in ("human", "user") else {}),
                "inputs": inputs,
                "outputs": {"content": msg.get("content")},
                "metadata": {
                    "step": step,
                    "role": msg.get("role"),
                    **({"name": msg["name"]} if msg.get("name") else {}),
                },
            }
        )
    feedback = []
    verdict = data.get("is_correct", data.get("is_corrected"))
    if isinstance(verdict, bool):
        comment = None
        if data.get("ground_truth") is not None:
            comment = f"Expected answer: {data['ground_truth']}"
        feedback.append(Feedback(key="correctness", score=1.0 if verdict else 0.0, comment=comment, source="dataset"))
    labels = {k: data[k] for k in LABEL_KEYS if k in data}
    skip = {"history", "system_prompt", "ground_truth", "is_correct", "is_corrected", *LABEL_KEYS}
    meta = {k: v for k, v in data.items() if k not in skip}
    if prompts:
        meta["agents"] = sorted(prompts)
    reference = {"answer": data["ground_truth"]} if data.get("ground_truth") is not None else None
    return [
        assemble_trace(
            drafts,
            source="file:history",
            times_expected=False,
            feedback=feedback,
            reference_outputs=reference,
            metadata=meta,
            labels=labels,
        )
    ]
