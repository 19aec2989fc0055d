"""Gemini through google-genai: ``response_mime_type=application/json`` with the stage model as ``response_schema``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from refinery.analysis.providers.base import Usage
from refinery.analysis.providers.inline import GenerateRequest, Generation, InlineProvider
from refinery.errors import ConfigError, ProviderBadRequest, ProviderError, ProviderQuotaError


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
        message = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        if code == 429 and "exceeded your current quota" in message.lower():
            raise ProviderQuotaError(f"Gemini has no quota left while {action}: {message}.") from exc
        if code == 400:
            raise ProviderBadRequest(f"Gemini rejected the request while {action} (400): {message}.") from exc
        if code in (401, 403):
            raise ProviderError(
                f"Gemini rejected the key while {action} ({code}).", hint="Set GEMINI_API_KEY or GOOGLE_API_KEY."
            ) from exc
        raise ProviderError(f"Gemini failed while {action} ({code}): {message}.") from exc


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
