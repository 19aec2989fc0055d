"""Run inputs and outputs as readable text: chat messages as role-tagged blocks, tool calls
as ``name(args)``, everything else as compact ``key: value`` lines. Each string is capped
with an explicit head/tail marker, and binary payloads become a placeholder."""

from __future__ import annotations

import json
import re
from typing import Any

from refinery.lines import elide_middle, visible
from refinery.trace.payload import binary_placeholder

_BACKTICKS = re.compile(r"`{3,}")
_LC_ROLES = {
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "tool",
    "ChatMessage": "chat",
    "AIMessageChunk": "assistant",
}


def cap(text: str, limit: int) -> str:
    """Binary payloads become a placeholder; long text keeps its head and tail."""
    placeholder = binary_placeholder(text)
    if placeholder is not None:
        return placeholder
    return elide_middle(visible(text), limit)


def compact_json(value: Any) -> str:
    """One-line JSON with stable key order (documents must be byte-identical run to run)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def as_message(value: Any) -> dict[str, Any] | None:
    """Normalize OpenAI, LangChain-serialized or OpenInference messages to {role, content, tool_calls…}."""
    if not isinstance(value, dict):
        return None
    if value.get("lc") == 1 and isinstance(value.get("kwargs"), dict) and isinstance(value.get("id"), list):
        kwargs = value["kwargs"]
        role: str = _LC_ROLES.get(str(value["id"][-1]), str(value["id"][-1]))
        return {
            "role": role,
            "content": kwargs.get("content"),
            "tool_calls": kwargs.get("tool_calls") or (kwargs.get("additional_kwargs") or {}).get("tool_calls"),
            "tool_call_id": kwargs.get("tool_call_id"),
            "name": kwargs.get("name"),
        }
    if "role" in value and ("content" in value or "tool_calls" in value or "parts" in value):
        content = value.get("content")
        if content is None and isinstance(value.get("parts"), list):
            content = "\n".join(
                str(p.get("content") or p.get("text") or "") for p in value["parts"] if isinstance(p, dict)
            )
        return {**value, "content": content}
    if value.get("type") in ("human", "ai", "system", "tool") and "content" in value:
        kind = str(value["type"])
        return {**value, "role": {"human": "user", "ai": "assistant"}.get(kind, kind)}
    return None


def tool_call_text(call: Any) -> str:
    """``name(args)`` for OpenAI, LangChain and OpenInference tool-call shapes."""
    if not isinstance(call, dict):
        return str(call)
    fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
    name = fn.get("name") or "tool"
    args = fn.get("arguments", fn.get("args", {}))
    if isinstance(args, str):
        # Shown as the model wrote them: that is the evidence (and invalid JSON must stay visible).
        return f"{name}({args})"
    return f"{name}({compact_json(args)})"


def content_text(content: Any, limit: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return cap(content, limit)
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                parts.append(cap(str(part.get("text", "")), limit))
            elif isinstance(part, dict) and part.get("type") in ("image_url", "input_image", "image"):
                parts.append("[image]")
            elif isinstance(part, dict) and part.get("type") == "tool_use":
                parts.append(f"→ {part.get('name')}({compact_json(part.get('input'))})")
            elif isinstance(part, dict) and part.get("type") == "tool_result":
                parts.append(content_text(part.get("content"), limit))
            else:
                parts.append(cap(compact_json(part), limit))
        return "\n".join(parts)
    return cap(compact_json(content), limit)


def message_block(message: dict[str, Any], limit: int, prompt_refs: dict[str, str] | None = None) -> str:
    """``[role] content`` plus one ``→ tool(args)`` line per tool call.

    A system prompt listed in ``prompt_refs`` is shown by its prompts.md id, not again in full.
    """
    role = str(message.get("role") or "message")
    if prompt_refs and role in ("system", "developer"):
        ref = prompt_refs.get(content_text(message.get("content"), 10**9))
        if ref:
            return f"[{role}] (prompt {ref} in prompts.md)"
    tag = role
    if message.get("name"):
        tag += f" {message['name']}"
    if message.get("tool_call_id"):
        tag += f" {message['tool_call_id']}"
    lines = [f"[{tag}] {content_text(message.get('content'), limit)}".rstrip()]
    for call in message.get("tool_calls") or []:
        lines.append(f"  → {tool_call_text(call)}")
    return "\n".join(lines)


def _messages(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list) and value:
        if all(isinstance(v, list) for v in value) and len(value) == 1:
            value = value[0]  # LangChain batches: [[messages]]
        msgs = [as_message(v) for v in value]
        if all(m is not None for m in msgs):
            return [m for m in msgs if m is not None]
    return None


def _completion_messages(value: dict[str, Any]) -> list[dict[str, Any]] | None:
    choices = value.get("choices")
    if isinstance(choices, list) and choices and all(isinstance(c, dict) for c in choices):
        found = [as_message(c.get("message")) for c in choices]
        if all(m is not None for m in found):
            return [m for m in found if m is not None]
    generations = value.get("generations")
    if isinstance(generations, list) and generations:
        flat = generations[0] if isinstance(generations[0], list) else generations
        generated: list[dict[str, Any]] = []
        for gen in flat:
            if isinstance(gen, dict):
                generated.append(as_message(gen.get("message")) or {"role": "assistant", "content": gen.get("text")})
        return generated or None
    return None


def render_value(value: Any, limit: int, prompt_refs: dict[str, str] | None = None) -> str:
    """A run's inputs or outputs as readable text."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return cap(value, limit)
    if isinstance(value, dict):
        if not value:
            return "(empty)"
        completion = _completion_messages(value)
        if completion is not None:
            return "\n".join(message_block(m, limit, prompt_refs) for m in completion)
        single = as_message(value)
        if single is not None:
            return message_block(single, limit, prompt_refs)
        lines = []
        for key in value:
            item = value[key]
            msgs = _messages(item)
            if msgs is not None:
                lines.append(f"{key}:")
                lines.extend(message_block(m, limit, prompt_refs) for m in msgs)
            elif isinstance(item, dict) and _completion_messages(item) is not None:
                lines.append(f"{key}:")
                lines.append(render_value(item, limit, prompt_refs))
            elif key == "tool_calls" and isinstance(item, list):
                lines.extend(f"→ {tool_call_text(c)}" for c in item)
            elif isinstance(item, str):
                text = cap(item, limit)
                lines.append(f"{key}: {text}" if "\n" not in text else f"{key}:\n{text}")
            else:
                lines.append(f"{key}: {cap(compact_json(item), limit)}")
        return "\n".join(lines)
    msgs = _messages(value)
    if msgs is not None:
        return "\n".join(message_block(m, limit, prompt_refs) for m in msgs)
    return cap(compact_json(value), limit)


def fence(text: str) -> str:
    """A fenced block that no backtick run inside ``text`` can close."""
    text = visible(text)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0) if "```" in text else 0
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text}\n{ticks}"
