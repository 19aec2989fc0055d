"""SWE-agent trajectories (``.traj``): the 1.x ``history`` with tool calls, and the 0.x thought /
action / observation form (read from its ``trajectory`` when the history carries no message types), with ``info.model_stats`` for tokens and cost and ``info.exit_status``.

Each action is an LLM step (its thought) followed by a tool run (the command, its arguments
and the observation that came back). The agent is kept; an exit status other than a
submission is the run's verdict.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from refinery.trace.assemble import RunDraft, assemble_trace
from refinery.trace.model import Feedback, Trace

SUBMITTED = {"submitted", "submitted (exit_cost)", "submitted (exit_context)"}


def is_swe_agent(data: Any) -> bool:
    """A ``history`` whose messages carry SWE-agent's ``message_type`` (system_prompt, action, observation),
    or SWE-agent 0.x's ``trajectory`` of ``{action, observation}`` steps beside its ``history``."""
    if not isinstance(data, dict) or not isinstance(data.get("history"), list) or not data["history"]:
        return False
    if all(isinstance(m, dict) and "message_type" in m for m in data["history"][:5]):
        return True
    steps = data.get("trajectory")
    return (
        isinstance(steps, list)
        and bool(steps)
        and all(isinstance(s, dict) and "action" in s and "observation" in s for s in steps[:5])
    )


def _history_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages to read: the history as written, or, when its messages carry no ``message_type`` (0.x),
    the ``trajectory`` steps as action and observation messages (the system prompt kept from the history)."""
    history = [m for m in data["history"] if isinstance(m, dict)]
    if any("message_type" in m for m in history):  # 0.x wrote none at all
        return history
    system = next((m for m in history if m.get("role") == "system"), None)
    out: list[dict[str, Any]] = (
        [{"message_type": "system_prompt", "content": system.get("content")}] if system is not None else []
    )
    task = next((m for m in history if m.get("role") == "user"), None)
    if task is not None:  # neither action nor observation: the first such message is the task
        out.append({"content": task.get("content")})
    for step in data.get("trajectory") or []:
        if isinstance(step, dict):
            thought = step.get("thought") or step.get("response")
            out.append({"message_type": "action", "thought": thought, "action": step.get("action")})
            out.append({"message_type": "observation", "content": step.get("observation")})
    return out


def _calls(raw: Any) -> list[dict[str, Any]]:
    """Tool calls as SWE-agent stores them: a list, or the ``repr`` of one."""
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return []
    return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []


def _arguments(call: dict[str, Any]) -> Any:
    args = (call.get("function") or {}).get("arguments")
    if isinstance(args, str):
        try:
            return json.loads(args)
        except ValueError:
            return {"arguments": args}
    return args if isinstance(args, dict) else {}


def load_swe_agent(data: dict[str, Any]) -> list[Trace]:
    info: dict[str, Any] = data["info"] if isinstance(data.get("info"), dict) else {}
    stats: dict[str, Any] = info["model_stats"] if isinstance(info.get("model_stats"), dict) else {}
    trace_id = str(data.get("instance_id") or info.get("instance_id") or "swe-agent")
    root: RunDraft = {"id": trace_id, "name": "swe-agent", "run_type": "chain", "inputs": {}, "outputs": None}
    drafts: list[RunDraft] = [root]
    system: str | None = None
    open_tools: list[RunDraft] = []
    for index, msg in enumerate(_history_of(data)):
        kind, content, agent = msg.get("message_type"), msg.get("content"), msg.get("agent")
        if kind == "system_prompt":
            system = str(content)
            continue
        if kind == "action":
            step = f"{trace_id}:m{index:05d}"
            drafts.append(
                {
                    "id": step,
                    "parent_id": trace_id,
                    "name": str(agent or "assistant"),
                    "agent": agent,
                    "run_type": "llm",
                    "inputs": {"system": system} if system else {},
                    "outputs": {"content": msg.get("thought") or content, "action": msg.get("action")},
                    "metadata": {"message_index": index},
                }
            )
            calls = _calls(msg.get("tool_calls"))
            open_tools = []
            for number, call in enumerate(calls or ([{"action": msg["action"]}] if msg.get("action") else [])):
                name = (call.get("function") or {}).get("name") or str(msg.get("action") or "action").split()[0]
                tool: RunDraft = {
                    "id": f"{step}:call{number}",
                    "parent_id": trace_id,
                    "name": str(name),
                    "agent": agent,
                    "run_type": "tool",
                    "inputs": {"command": msg.get("action"), **({"arguments": _arguments(call)} if calls else {})},
                    "outputs": None,
                    "status": "pending",
                    "metadata": {"tool_call_id": call.get("id"), "message_index": index},
                }
                drafts.append(tool)
                open_tools.append(tool)
            continue
        if kind == "observation" and open_tools:
            tool = open_tools.pop(0)
            tool["outputs"], tool["status"] = {"output": content}, None
        elif not root["inputs"]:
            root["inputs"] = {"task": content}
    exit_status = info.get("exit_status")
    root["outputs"] = {"submission": info["submission"]} if info.get("submission") else None
    root["prompt_tokens"] = stats.get("tokens_sent") or None
    root["completion_tokens"] = stats.get("tokens_received") or None
    if root["prompt_tokens"] or root["completion_tokens"]:
        root["total_tokens"] = (root["prompt_tokens"] or 0) + (root["completion_tokens"] or 0)
    root["cost"] = stats.get("instance_cost")
    feedback = []
    if isinstance(exit_status, str):
        feedback.append(
            Feedback(
                key="exit_status",
                score=1.0 if exit_status.lower() in SUBMITTED else 0.0,
                value=exit_status,
                source="swe-agent",
                fails_below=1.0,
            )
        )
    meta = {k: v for k, v in info.items() if k not in ("submission",)}
    trace = assemble_trace(drafts, source="file:swe-agent", times_expected=False, feedback=feedback, metadata=meta)
    return [trace]
