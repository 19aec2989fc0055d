"""Any OpenAI-compatible server (Ollama, vLLM, LiteLLM, Azure OpenAI) through Chat Completions.

Structured output is ``response_format: json_schema`` (strict). A server that rejects it
gets JSON mode (``json_object``) with the schema in the prompt from then on; the shared
validation and re-ask catch what JSON mode lets through.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import openai
from pydantic import Field, SecretStr

from refinery.analysis.providers.base import BuildOptions, ProviderPlugin, Usage
from refinery.analysis.providers.errors import translate_openai_error
from refinery.analysis.providers.inline import GenerateRequest, Generation, InlineProvider
from refinery.analysis.providers.openai_responses import OpenAISettings, mark_quota_final
from refinery.errors import MissingSecretError, ProviderBadRequest
from refinery.settings import Section, Settings, Source


class OpenAIChatProvider(InlineProvider):
    """Chat Completions with the documents inline."""

    name = "openai-compatible"

    def __init__(self, client: Any, model: str, **kwargs: Any) -> None:
        super().__init__(client, model, **kwargs)
        self.json_mode = "json_schema"
        """json_schema until a server refuses it, then json_object."""

    def _request(self, request: GenerateRequest, mode: str) -> dict[str, Any]:
        system, schema_name, schema = request.system, request.schema_name, request.schema
        body: dict[str, Any] = {"model": self.model, "max_tokens": request.max_tokens}
        chat = [{"role": "system", "content": system}, *request.messages]
        if mode == "json_schema":
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
        body = self._request(request, self.json_mode)
        try:
            with translate_openai_error(f"running {request.schema_name} on {self.model}"):
                completion = self._client.chat.completions.create(**body)
        except ProviderBadRequest:
            # Servers that lack json_schema answer 400 in words of their own: one try in JSON mode tells.
            # A request that is bad for another reason fails there too, and that error is raised.
            if self.json_mode != "json_schema":
                raise
            body = self._request(request, "json_object")
            with translate_openai_error(f"running {request.schema_name} on {self.model} in JSON mode"):
                completion = self._client.chat.completions.create(**body)
            self.json_mode = "json_object"  # JSON mode worked where json_schema did not: keep to it
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


class CompatibleSettings(Section):
    """The openai-compatible provider: any server speaking Chat Completions, documents packed inline."""

    NAME: ClassVar[str] = "openai-compatible"
    SOURCES: ClassVar[dict[str, Source]] = {
        "compatible_base_url": Source(("REFINERY_COMPATIBLE_BASE_URL",), "compatible-base-url"),
        "compatible_api_key": Source(("REFINERY_COMPATIBLE_API_KEY",), "compatible-api-key"),
        "compatible_model": Source(("REFINERY_COMPATIBLE_MODEL",), "compatible-model"),
    }

    compatible_base_url: str | None = None
    """Base URL of an OpenAI-compatible server (provider openai-compatible): Ollama, vLLM, LiteLLM, Azure."""
    compatible_api_key: SecretStr | None = Field(default=None, repr=False)
    """Its key, if it wants one."""
    compatible_model: str | None = None
    """Its model name (default: the OpenAI provider's ``model``)."""

    def configured(self) -> bool:
        return bool(self.compatible_base_url)


def build(settings: Settings, options: BuildOptions) -> OpenAIChatProvider:
    """Any OpenAI-compatible server through Chat Completions, on the openai SDK."""
    section = settings.section(CompatibleSettings)
    if not section.compatible_base_url:
        raise MissingSecretError(
            "A base URL is needed for the openai-compatible provider: "
            f"set {section.SOURCES['compatible_base_url'].describe()}."
        )
    key = section.compatible_api_key.get_secret_value() if section.compatible_api_key else "not-needed"
    client = openai.OpenAI(
        api_key=key,
        base_url=section.compatible_base_url,
        max_retries=options.max_retries,
        timeout=options.timeout_s,
        http_client=openai.DefaultHttpxClient(event_hooks=options.event_hooks(mark_quota_final)),
    )
    model = section.compatible_model or settings.section(OpenAISettings).openai_model
    return OpenAIChatProvider(client, model, context_budget=options.context_budget, control=options.control)


PLUGIN = ProviderPlugin("openai-compatible", CompatibleSettings, build)
