"""Gemini through google-genai: ``response_mime_type=application/json`` with the stage model as ``response_schema``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from refinery.analysis.providers.base import BuildOptions, ProviderPlugin, Usage
from refinery.analysis.providers.inline import GenerateRequest, Generation, InlineProvider
from refinery.errors import ConfigError, ProviderBadRequest, ProviderError
from refinery.settings import Section, Settings, Source, require_secret


def import_genai() -> Any:
    try:
        from google import genai
    except ImportError:
        raise ConfigError(
            "The gemini provider needs google-genai.", hint="pip install 'refinery-action[gemini]'"
        ) from None
    return genai


@contextmanager
def _translated(action: str) -> Iterator[None]:
    from google.genai import errors

    try:
        yield
    except errors.APIError as exc:
        code = getattr(exc, "code", None)
        status = getattr(exc, "status", None)
        data: dict[str, Any] = {"status_code": code, "code": str(status) if status else None}
        message = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        if code == 400:
            raise ProviderBadRequest(f"Gemini rejected the request while {action} (400): {message}.", **data) from exc
        if code in (401, 403):
            raise ProviderError(
                f"Gemini rejected the key while {action} ({code}).",
                hint="Set GEMINI_API_KEY or GOOGLE_API_KEY.",
                **data,
            ) from exc
        if code == 429:
            raise ProviderError(
                f"Gemini kept refusing {action} for quota or rate after the configured retries (429): {message}.",
                hint="Check the project's quota in Google AI Studio, or retry later.",
                **data,
            ) from exc
        raise ProviderError(f"Gemini failed while {action} ({code}): {message}.", **data) from exc


class GeminiProvider(InlineProvider):
    """generateContent with the documents inline and a JSON response schema."""

    name = "gemini"

    def generate(self, request: GenerateRequest) -> Generation:
        from google.genai import types

        contents = [
            types.Content(role="model" if m["role"] == "assistant" else "user", parts=[types.Part(text=m["content"])])
            for m in request.messages
        ]
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            response_mime_type="application/json",
            response_schema=request.output_model,
            max_output_tokens=request.max_tokens,
            temperature=self._temperature,
        )
        with _translated(f"running {request.schema_name} on {self.model}"):
            response = self._client.models.generate_content(model=self.model, contents=contents, config=config)
        candidate = (response.candidates or [None])[0]
        finish = str(getattr(candidate, "finish_reason", "") or "")
        meta = response.usage_metadata
        usage = Usage(
            input_tokens=getattr(meta, "prompt_token_count", 0) or 0,
            cached_tokens=getattr(meta, "cached_content_token_count", 0) or 0,
            output_tokens=(getattr(meta, "candidates_token_count", 0) or 0)
            + (getattr(meta, "thoughts_token_count", 0) or 0),
            reasoning_tokens=getattr(meta, "thoughts_token_count", 0) or 0,
        )
        return Generation(
            text=response.text or "",
            usage=usage,
            truncated="MAX_TOKENS" in finish,
            response_id=getattr(response, "response_id", "") or "",
        )


class GeminiSettings(Section):
    """The gemini provider: google-genai with a JSON response schema, documents packed inline."""

    NAME: ClassVar[str] = "gemini"
    SOURCES: ClassVar[dict[str, Source]] = {
        "gemini_api_key": Source(("GEMINI_API_KEY", "GOOGLE_API_KEY"), "gemini-api-key"),
        "gemini_model": Source(("REFINERY_GEMINI_MODEL",), "gemini-model"),
        "gemini_base_url": Source(("GEMINI_BASE_URL",), None),
    }

    gemini_api_key: SecretStr | None = Field(default=None, repr=False)
    """Gemini key (provider gemini)."""
    gemini_model: str = "gemini-2.5-pro"
    """Model on Gemini."""
    gemini_base_url: str | None = None
    """Alternative Gemini API URL (a gateway or proxy)."""

    def configured(self) -> bool:
        return self.gemini_api_key is not None


def build(settings: Settings, options: BuildOptions) -> GeminiProvider:
    """Gemini through google-genai (its client is not routed through the rate gate)."""
    section = settings.section(GeminiSettings)
    key = require_secret(section.gemini_api_key, section.SOURCES["gemini_api_key"], "to run stages on Gemini")
    genai = import_genai()
    from google.genai import types

    http = types.HttpOptions(
        base_url=section.gemini_base_url,
        timeout=int(options.timeout_s * 1000),
        retry_options=types.HttpRetryOptions(attempts=options.max_retries + 1),
    )
    client = genai.Client(api_key=key.get_secret_value(), http_options=http)
    return GeminiProvider(client, section.gemini_model, context_budget=options.context_budget, control=options.control)


PLUGIN = ProviderPlugin("gemini", GeminiSettings, build)
