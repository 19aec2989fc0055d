"""Anthropic's Messages API: structured output through a forced tool whose input_schema is the stage schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from refinery.analysis.providers.base import BuildOptions, ProviderPlugin, Usage
from refinery.analysis.providers.inline import GenerateRequest, Generation, InlineProvider
from refinery.errors import ConfigError, ProviderBadRequest, ProviderError, ProviderQuotaError, ProviderTimeout
from refinery.settings import Section, Settings, Source, require_secret


def import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError:
        raise ConfigError(
            "The anthropic provider needs the anthropic SDK.", hint="pip install 'refinery-action[anthropic]'"
        ) from None
    return anthropic


def _data(exc: Any) -> dict[str, Any]:
    """Anthropic's status, request id and error type, kept on our error."""
    body = getattr(exc, "body", None)
    inner = body.get("error") if isinstance(body, dict) else None
    code = inner.get("type") if isinstance(inner, dict) else None
    return {
        "status_code": getattr(exc, "status_code", None),
        "request_id": getattr(exc, "request_id", None),
        "code": str(code) if code else None,
    }


@contextmanager
def _translated(action: str) -> Iterator[None]:
    anthropic = import_anthropic()
    try:
        yield
    except anthropic.RateLimitError as exc:
        raise ProviderError(
            f"Anthropic kept rate-limiting {action} after the configured retries (429).", **_data(exc)
        ) from exc
    except anthropic.AuthenticationError as exc:
        raise ProviderError(
            f"Anthropic rejected the API key while {action} (401).",
            hint="Set a valid ANTHROPIC_API_KEY (action input `anthropic-api-key`).",
            **_data(exc),
        ) from exc
    except anthropic.APIStatusError as exc:
        data = _data(exc)
        # Anthropic's documented billing error (402 ``billing_error``): no retry anywhere can help.
        if exc.status_code == 402 or data["code"] == "billing_error":
            raise ProviderQuotaError(
                f"Anthropic refused to bill this key while {action}: {exc.message[:300]}.",
                hint="Add credit in the Anthropic console, or use another key.",
                **data,
            ) from exc
        if exc.status_code == 400:
            raise ProviderBadRequest(
                f"Anthropic rejected the request while {action} (400): {exc.message[:300]}.", **data
            ) from exc
        raise ProviderError(
            f"Anthropic failed while {action} ({exc.status_code}): {exc.message[:300]}.", **data
        ) from exc
    except anthropic.APITimeoutError as exc:
        raise ProviderTimeout(f"Anthropic did not answer in time while {action}.") from exc
    except anthropic.APIConnectionError as exc:
        raise ProviderError(
            f"Cannot reach Anthropic while {action}.", hint="Check ANTHROPIC_BASE_URL and the network."
        ) from exc


class AnthropicProvider(InlineProvider):
    """Messages API with the documents inline and a forced tool for the output."""

    name = "anthropic"

    def generate(self, request: GenerateRequest) -> Generation:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": request.messages,
            "tools": [
                {
                    "name": request.schema_name,
                    "description": f"Record the {request.schema_name} result.",
                    "input_schema": request.schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": request.schema_name},
        }
        # anthropic 2.x's Messages.create takes no temperature: the SDK's types are the contract here.
        with _translated(f"running {request.schema_name} on {self.model}"):
            message = self._client.messages.create(**body)
        text = ""
        for block in message.content:
            if getattr(block, "type", None) == "tool_use" and block.name == request.schema_name:
                text = json.dumps(block.input)
                break
            if getattr(block, "type", None) == "text" and not text:
                text = block.text  # a model that ignored the tool: validation will say so
        usage = message.usage
        return Generation(
            text=text,
            usage=Usage(
                input_tokens=usage.input_tokens,
                cached_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
                output_tokens=usage.output_tokens,
            ),
            truncated=message.stop_reason == "max_tokens",
            response_id=message.id,
        )


class AnthropicSettings(Section):
    """The anthropic provider: Claude through the Messages API, documents packed inline."""

    NAME: ClassVar[str] = "anthropic"
    SOURCES: ClassVar[dict[str, Source]] = {
        "anthropic_api_key": Source(("ANTHROPIC_API_KEY",), "anthropic-api-key"),
        "anthropic_model": Source(("REFINERY_ANTHROPIC_MODEL",), "anthropic-model"),
        "anthropic_base_url": Source(("ANTHROPIC_BASE_URL",), None),
    }

    anthropic_api_key: SecretStr | None = Field(default=None, repr=False)
    """Anthropic key (provider anthropic)."""
    anthropic_model: str = "claude-sonnet-4-6"
    """Model on Anthropic."""
    anthropic_base_url: str | None = None
    """Alternative Anthropic API URL (a gateway or proxy)."""

    def configured(self) -> bool:
        return self.anthropic_api_key is not None


def build(settings: Settings, options: BuildOptions) -> AnthropicProvider:
    """Claude through the Messages API, its client on the run's rate gate."""
    section = settings.section(AnthropicSettings)
    key = require_secret(section.anthropic_api_key, section.SOURCES["anthropic_api_key"], "to run stages on Anthropic")
    anthropic = import_anthropic()
    client = anthropic.Anthropic(
        api_key=key.get_secret_value(),
        base_url=section.anthropic_base_url,
        max_retries=options.max_retries,
        timeout=options.timeout_s,
        http_client=anthropic.DefaultHttpxClient(event_hooks=options.event_hooks()),
    )
    return AnthropicProvider(
        client, section.anthropic_model, context_budget=options.context_budget, control=options.control
    )


PLUGIN = ProviderPlugin("anthropic", AnthropicSettings, build)
