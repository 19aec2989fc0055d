"""Anthropic's Messages API: structured output through a forced tool whose input_schema is the stage schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from refinery.analysis.providers.base import Usage
from refinery.analysis.providers.inline import GenerateRequest, Generation, InlineProvider
from refinery.errors import ConfigError, ProviderBadRequest, ProviderError, ProviderQuotaError, ProviderTimeout


def import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError:
        raise ConfigError(
            "The anthropic provider needs the anthropic SDK.", hint="pip install 'refinery-action[anthropic]'"
        ) from None
    return anthropic


@contextmanager
def _translated(action: str) -> Iterator[None]:
    anthropic = import_anthropic()
    try:
        yield
    except anthropic.RateLimitError as exc:
        raise ProviderError(f"Anthropic kept rate-limiting {action} after the configured retries (429).") from exc
    except anthropic.AuthenticationError as exc:
        raise ProviderError(
            f"Anthropic rejected the API key while {action} (401).",
            hint="Set a valid ANTHROPIC_API_KEY (action input `anthropic-api-key`).",
        ) from exc
    except anthropic.BadRequestError as exc:
        if "credit balance" in str(exc).lower():
            raise ProviderQuotaError(f"Anthropic has no credit left for this key while {action}.") from exc
        raise ProviderBadRequest(f"Anthropic rejected the request while {action} (400): {exc.message[:300]}.") from exc
    except anthropic.APITimeoutError as exc:
        raise ProviderTimeout(f"Anthropic did not answer in time while {action}.") from exc
    except anthropic.APIConnectionError as exc:
        raise ProviderError(
            f"Cannot reach Anthropic while {action}.", hint="Check ANTHROPIC_BASE_URL and the network."
        ) from exc
    except anthropic.APIStatusError as exc:
        raise ProviderError(f"Anthropic failed while {action} ({exc.status_code}): {exc.message[:300]}.") from exc


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
