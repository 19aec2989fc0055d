"""OpenHands event streams: a list of actions and observations, paired by ``cause``.

An agent action made through a tool call becomes an LLM step (the model response it came
from, once per response, with its tokens and model) and a tool run holding the action's
arguments and the observation whose ``cause`` is the action (or that shares its tool-call
id). Messages without a tool are LLM steps; user messages are the task; an ``error``
observation fails its tool run. ``llm_metrics``, where present, give the cost.
"""

from __future__ import annotations

from typing import Any

from refinery.trace.assemble import RunDraft, assemble_trace
from refinery.trace.files.chat import message_usage
from refinery.trace.model import Trace


def is_openhands(data: Any) -> bool:
    """A list of events with ``id``, ``source`` and an ``action`` or an ``observation``."""
    return (
        isinstance(data, list)
        and bool(data)
        and all(
            isinstance(e, dict) and "source" in e and "id" in e and ("action" in e or "observation" in e)
            for e in data[:10]
        )
    )


def _response(event: dict[str, Any]) -> dict[str, Any]:
    meta = event.get("tool_call_metadata")
    response = meta.get("model_response") if isinstance(meta, dict) else None
    return response if isinstance(response, dict) else {}


def load_openhands(data: list[dict[str, Any]]) -> list[Trace]:
    trace_id = "openhands"
    root: RunDraft = {"id": trace_id, "name": "openhands", "run_type": "chain", "inputs": {}, "outputs": None}
    drafts: list[RunDraft] = [root]
    tools_by_cause: dict[str, RunDraft] = {}
    tools_by_call: dict[str, RunDraft] = {}
    responses: set[str] = set()
    for event in data:
        eid, source = str(event["id"]), event.get("source")
        when = event.get("timestamp")
        if "action" in event:
            action, args = event["action"], event.get("args")
            if source == "user":
                if not root["inputs"]:
                    root["inputs"] = {"task": event.get("message")}
                continue
            response = _response(event)
            meta = event.get("tool_call_metadata") if isinstance(event.get("tool_call_metadata"), dict) else None
            rid = str(response.get("id") or f"{trace_id}:e{eid}")
            if rid not in responses:
                responses.add(rid)
                choice = (response.get("choices") or [{}])[0] if isinstance(response.get("choices"), list) else {}
                message = choice.get("message") if isinstance(choice, dict) else None
                drafts.append(
                    {
                        "id": f"{trace_id}:llm:{rid}",
                        "parent_id": trace_id,
                        "name": "agent",
                        "run_type": "llm",
                        "start_time": when,
                        "outputs": {"content": (message or {}).get("content") or event.get("message")},
                        "metadata": {"event_id": eid},
                        **message_usage({"extra": {"response": response}} if response else {}),
                    }
                )
            if meta is None:
                if action == "finish" or event.get("message"):
                    root["outputs"] = {"output": event.get("message")}
                continue
            tool: RunDraft = {
                "id": f"{trace_id}:tool:e{eid}",
                "parent_id": trace_id,
                "name": str(meta.get("function_name") or action),
                "run_type": "tool",
                "start_time": when,
                "inputs": args if isinstance(args, dict) else {"args": args},
                "outputs": None,
                "status": "pending" if action != "finish" else "success",
                "metadata": {"event_id": eid, "action": action, "tool_call_id": meta.get("tool_call_id")},
            }
            drafts.append(tool)
            tools_by_cause[eid] = tool
            if meta.get("tool_call_id"):
                tools_by_call[str(meta["tool_call_id"])] = tool
            if action == "finish":
                root["outputs"] = {"output": event.get("message")}
            continue
        meta = event.get("tool_call_metadata")
        call_id = str(meta.get("tool_call_id")) if isinstance(meta, dict) else None
        target = tools_by_cause.get(str(event.get("cause"))) or (tools_by_call.get(call_id) if call_id else None)
        if target is None:
            continue  # an environment observation with no action of the agent's (agent state, recall)
        target["outputs"] = {"output": event.get("content"), "extras": event.get("extras")}
        target["end_time"] = when
        if event.get("observation") == "error":
            target["error"], target["status"] = str(event.get("content") or "error"), "error"
        else:
            target["status"] = None
    costs = [e["llm_metrics"].get("accumulated_cost") for e in data if isinstance(e.get("llm_metrics"), dict)]
    root["cost"] = next((c for c in reversed(costs) if isinstance(c, (int, float))), None)
    return [assemble_trace(drafts, source="file:openhands", times_expected=False)]
