"""The OpenTelemetry GenAI semantic conventions, current and previous, as OpenAI-style messages.

Instrumentations write a model call's messages in four shapes:

- ``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions``:
  JSON of ``{role, parts: [...]}`` with ``text``, ``tool_call``, ``tool_call_response``,
  ``reasoning`` … parts (the current conventions; OpenLLMetry writes these too);
- flattened ``gen_ai.prompt.N.*`` and ``gen_ai.completion.N.*`` with ``tool_calls.M.*``
  (OpenLLMetry before it moved to the current form);
- events, on the span or as log records tied to it: ``gen_ai.system.message``,
  ``gen_ai.user.message``, ``gen_ai.assistant.message``, ``gen_ai.tool.message``,
  ``gen_ai.choice`` (the OpenTelemetry OpenAI instrumentation, v2);
- OpenInference's ``llm.input_messages.N.message.*`` (read in otlp.py).

All become ``{role, content, tool_calls: [{id, type, function: {name, arguments}}],
tool_call_id}``. A tool call no tool span answers becomes a tool run of its own, with the
result the next model call received for it, so that every tool call is a run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

_INPUT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def maybe_json(value: Any) -> Any:
    """A JSON object or array given as text, parsed; anything else as it is."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments if arguments is not None else {})
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def _from_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``{role, parts}`` message as OpenAI-style messages (a tool response is a message of its own)."""
    role = str(message.get("role") or "unknown")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for part in message.get("parts") or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("content") or ""))
        elif kind == "tool_call":
            calls.append(_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            response = part.get("response", part.get("result"))
            content = response if isinstance(response, str) else json.dumps(response)
            out.append({"role": "tool", "tool_call_id": part.get("id"), "content": content})
        elif kind == "reasoning":
            reasoning.append(str(part.get("content") or ""))
        else:  # blob, uri, file, server tool calls: kept as they are, never dropped
            texts.append(json.dumps(part))
    if texts or calls or reasoning or not out:
        msg: dict[str, Any] = {"role": role, "content": "\n".join(texts) if texts else None}
        if calls:
            msg["tool_calls"] = calls
        if reasoning:
            msg["reasoning"] = "\n".join(reasoning)
        if message.get("finish_reason"):
            msg["finish_reason"] = message["finish_reason"]
        out.insert(0, msg)
    return out


def normalize_messages(value: Any) -> list[dict[str, Any]] | None:
    """``gen_ai.*.messages`` (JSON or parsed) as OpenAI-style messages; None when there are none."""
    value = maybe_json(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    out: list[dict[str, Any]] = []
    for message in value:
        if isinstance(message, dict) and isinstance(message.get("parts"), list):
            out.extend(_from_parts(message))
        elif isinstance(message, dict):
            out.append(message)
    return out or None


def system_text(value: Any) -> Any:
    """``gen_ai.system_instructions`` (a list of parts) as plain text, when it is text."""
    value = maybe_json(value)
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        return "\n".join(str(p.get("content") or "") for p in value)
    return value


def flattened_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` (with ``tool_calls.M.*``) as messages."""
    items: dict[int, dict[str, Any]] = defaultdict(dict)
    for key, value in attrs.items():
        if key.startswith(prefix + "."):
            index, _, rest = key[len(prefix) + 1 :].partition(".")
            if index.isdigit() and rest:
                items[int(index)][rest] = value
    out = []
    for position in sorted(items):
        item = items[position]
        calls: dict[int, dict[str, Any]] = defaultdict(dict)
        for key, value in item.items():
            if key.startswith("tool_calls."):
                number, _, field = key[len("tool_calls.") :].partition(".")
                if number.isdigit():
                    calls[int(number)][field] = value
        msg: dict[str, Any] = {"role": item.get("role", "assistant" if "completion" in prefix else "user")}
        msg["content"] = item.get("content")
        if calls:
            msg["tool_calls"] = [
                _call(c.get("id"), c.get("name"), c.get("arguments")) for _, c in sorted(calls.items())
            ]
        if item.get("tool_call_id"):
            msg["tool_call_id"] = item["tool_call_id"]
        if item.get("finish_reason"):
            msg["finish_reason"] = item["finish_reason"]
        out.append(msg)
    return out or None


def event_messages(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Input and output messages from GenAI events (``gen_ai.user.message`` … ``gen_ai.choice``)."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for event in events:
        name = event.get("name") or event.get("event.name")
        body: dict[str, Any] = event["body"] if isinstance(event.get("body"), dict) else event
        if name in _INPUT_EVENTS:
            inputs.append(_event_message(_INPUT_EVENTS[str(name)], body))
        elif name == "gen_ai.choice":
            message: dict[str, Any] = body["message"] if isinstance(body.get("message"), dict) else body
            msg = _event_message(str(message.get("role") or "assistant"), message)
            if body.get("finish_reason"):
                msg["finish_reason"] = body["finish_reason"]
            outputs.append(msg)
    return inputs, outputs


def _event_message(role: str, body: dict[str, Any]) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": role, "content": maybe_json(body.get("content"))}
    calls = maybe_json(body.get("tool_calls"))
    if isinstance(calls, list) and calls:
        msg["tool_calls"] = [
            _call(c.get("id"), (c.get("function") or {}).get("name"), (c.get("function") or {}).get("arguments"))
            for c in calls
            if isinstance(c, dict)
        ]
    if body.get("id") and role == "tool":
        msg["tool_call_id"] = body["id"]
    return msg


_TOOL_CALL_ID_KEYS = ("gen_ai.tool.call.id", "tool_call.id", "tool.id", "tool_call_id")


def _tool_call_id(draft: dict[str, Any]) -> str | None:
    metadata = draft.get("metadata")
    if not isinstance(metadata, dict):
        return None
    return next((str(metadata[k]) for k in _TOOL_CALL_ID_KEYS if metadata.get(k)), None)


def _claim_span(drafts: list[dict[str, Any]], claimed: set[int], name: str, after: Any) -> dict[str, Any] | None:
    """The first span not yet claimed that runs the tool ``name`` after the model asked for it.

    Spans of a tool that carry no call id (a Traceloop ``@task``, a plain tool span) are the
    call's execution: taking them keeps one run per call instead of adding a second.
    """
    for index, draft in enumerate(drafts):
        if (
            index not in claimed
            and draft.get("run_type") in ("tool", "chain")
            and draft.get("name") == name
            and _tool_call_id(draft) is None
            and (after is None or draft.get("start_time") is None or draft["start_time"] >= after)
        ):
            claimed.add(index)
            return draft
    return None


def add_tool_runs(drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tool call a model made is a tool run: its own span when one ran it, else a run made here."""
    answered = {call_id for d in drafts if d.get("run_type") == "tool" and (call_id := _tool_call_id(d))}
    results: dict[str, Any] = {}
    for draft in drafts:
        for message in (draft.get("inputs") or {}).get("messages") or []:
            if isinstance(message, dict) and message.get("role") == "tool" and message.get("tool_call_id"):
                results.setdefault(str(message["tool_call_id"]), message.get("content"))
    added: list[dict[str, Any]] = []
    claimed: set[int] = set()
    for draft in drafts:
        if draft.get("run_type") != "llm":
            continue
        for message in (draft.get("outputs") or {}).get("messages") or []:
            for number, call in enumerate(message.get("tool_calls") or [] if isinstance(message, dict) else []):
                call_id = str(call.get("id") or f"{draft['id']}:call{number}")
                if call_id in answered:
                    continue
                function = call.get("function") or {}
                name = str(function.get("name") or "tool")
                span = _claim_span(drafts, claimed, name, draft.get("start_time"))
                if span is not None:
                    span["run_type"] = "tool"
                    span["metadata"] = {**(span.get("metadata") or {}), "tool_call_id": call_id}
                    span["inputs"] = {"arguments": maybe_json(function.get("arguments")), **(span.get("inputs") or {})}
                    continue
                found = call_id in results
                added.append(
                    {
                        "id": f"{draft['id']}:call{number}",
                        "parent_id": draft.get("parent_id") or draft["id"],
                        "trace_id": draft.get("trace_id"),
                        "name": name,
                        "run_type": "tool",
                        "inputs": {"arguments": maybe_json(function.get("arguments"))},
                        "outputs": {"output": results[call_id]} if found else None,
                        "status": None if found else "pending",
                        # Right after the model call that asked for it: execution order stays true.
                        "start_time": draft.get("end_time") or draft.get("start_time"),
                        "metadata": {"tool_call_id": call_id, "from_model_output": True},
                    }
                )
    return [*drafts, *added]
