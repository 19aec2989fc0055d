"""Pure builders for every Responses API request body Refinery sends.

Shapes follow the API as it is (and ``../shared/contracts/openai.openapi.yaml``), not the
older design notes: ``text.format`` is flat (``{"type": "json_schema", "name", "schema",
"strict"}``), text input is plain string content (one ``input_text``
in effect, and unambiguous under the spec's ``oneOf``), the vector store id goes inside the
``file_search`` tool, and reasoning models take ``reasoning.effort`` instead of
``temperature``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "codex")
CANARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reply": {"type": "string", "enum": ["OK"]}},
    "required": ["reply"],
    "additionalProperties": False,
}


def is_reasoning_model(model: str) -> bool:
    """o-series and GPT-5-family models reason, take ``reasoning.effort`` and reject ``temperature``."""
    name = model.lower().split("/")[-1]
    return name.startswith(REASONING_PREFIXES)


@dataclass(frozen=True)
class ModelOptions:
    """How to call the model."""

    model: str
    reasoning_effort: str | None = "medium"
    """For reasoning models: minimal, low, medium or high."""
    temperature: float | None = 0.2
    """For other models."""
    background: bool | None = None
    """None: on for reasoning models (long calls), off otherwise."""

    @property
    def reasoning(self) -> bool:
        return is_reasoning_model(self.model)

    @property
    def use_background(self) -> bool:
        return self.reasoning if self.background is None else self.background


def user_message(text: str) -> dict[str, Any]:
    """A user input message with text content.

    The spec's ``InputItem`` is a ``oneOf`` in which a user message with a list of
    ``input_text`` parts matches two branches (EasyInputMessage and InputMessage), which
    contract validators such as Prism reject. String content is the same single text
    input and matches exactly one branch.
    """
    return {"role": "user", "content": text}


def build_stage_request(
    *,
    options: ModelOptions,
    system_text: str,
    user_text: str,
    schema_name: str,
    schema: dict[str, Any],
    max_output_tokens: int,
    vector_store_id: str | None = None,
    max_num_results: int = 8,
    extra_input: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /responses`` for one stage (tools only when a vector store is given)."""
    body: dict[str, Any] = {
        "model": options.model,
        "instructions": system_text,
        "input": [user_message(user_text), *(extra_input or [])],
        "text": {"format": {"type": "json_schema", "name": schema_name, "schema": schema, "strict": True}},
        "max_output_tokens": max_output_tokens,
        "store": options.use_background,  # background responses must be stored; otherwise keep nothing
    }
    if vector_store_id is not None:
        body["tools"] = [
            {"type": "file_search", "vector_store_ids": [vector_store_id], "max_num_results": max_num_results}
        ]
        body["include"] = ["file_search_call.results"]
    if options.reasoning:
        if options.reasoning_effort:
            body["reasoning"] = {"effort": options.reasoning_effort}
    elif options.temperature is not None:
        body["temperature"] = options.temperature
    if options.use_background:
        body["background"] = True
    if metadata:
        body["metadata"] = metadata
    return body


def build_canary_request(options: ModelOptions) -> dict[str, Any]:
    """A one-word reply under a tiny json_schema: proves auth, base URL, model access and structured outputs."""
    body: dict[str, Any] = {
        "model": options.model,
        "input": [user_message('Reply with {"reply": "OK"}.')],
        "text": {"format": {"type": "json_schema", "name": "canary", "schema": CANARY_SCHEMA, "strict": True}},
        "max_output_tokens": 256 if options.reasoning else 16,
        "store": False,
    }
    if options.reasoning:
        body["reasoning"] = {"effort": "low"}
    return body
