"""Any OpenAI-compatible server (Ollama, vLLM, LiteLLM, Azure OpenAI) through Chat Completions.

Structured output is ``response_format: json_schema`` (strict). A server that rejects it
gets JSON mode (``json_object``) with the schema in the prompt from then on; the shared
validation and re-ask catch what JSON mode lets through.
"""

from __future__ import annotations

import json
from typing import Any

from refinery.analysis.providers.base import Usage
from refinery.analysis.providers.errors import translate_openai_error
from refinery.analysis.providers.inline import GenerateRequest, Generation, InlineProvider
from refinery.errors import ProviderBadRequest


class OpenAIChatProvider(InlineProvider):
    """Chat Completions with the documents inline."""

    name = "openai-compatible"

    def __init__(self, client: Any, model: str, **kwargs: Any) -> None:
        super().__init__(client, model, **kwargs)
        self.json_mode = "json_schema"
        """json_schema until a server refuses it, then json_object."""

    def _request(self, request: GenerateRequest) -> dict[str, Any]:
        system, schema_name, schema = request.system, request.schema_name, request.schema
        body: dict[str, Any] = {"model": self.model, "max_tokens": request.max_tokens}
        chat = [{"role": "system", "content": system}, *request.messages]
        if self.json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        else:
            body["response_format"] = {"type": "json_object"}
            chat[0] = {
                "role": "system",
                "content": f"{system}\n\nReply with one JSON object matching this JSON Schema:\n"
                f"{json.dumps(schema, separators=(',', ':'))}",
            }
        body["messages"] = chat
        if self._temperature is not None:
            body["temperature"] = self._temperature
        return body

    def generate(self, request: GenerateRequest) -> Generation:
        body = self._request(request)
        try:
            with translate_openai_error(f"running {request.schema_name} on {self.model}"):
                completion = self._client.chat.completions.create(**body)
        except ProviderBadRequest as exc:
            text = str(exc).lower()
            if self.json_mode != "json_schema" or not any(
                w in text for w in ("response_format", "json_schema", "schema")
            ):
                raise
            self.json_mode = "json_object"  # the server lacks json_schema: fall back to JSON mode
            body = self._request(request)
            with translate_openai_error(f"running {request.schema_name} on {self.model} in JSON mode"):
                completion = self._client.chat.completions.create(**body)
        choice = completion.choices[0]
        usage = completion.usage
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0) or 0 if usage else 0
        return Generation(
            text=choice.message.content or "",
            usage=Usage(
                input_tokens=usage.prompt_tokens if usage else 0,
                cached_tokens=cached,
                output_tokens=usage.completion_tokens if usage else 0,
            ),
            truncated=choice.finish_reason == "length",
            response_id=completion.id,
        )
