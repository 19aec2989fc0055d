"""OpenAI SDK errors translated into Refinery's, with what to do about each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from refinery.errors import ProviderBadRequest, ProviderError, ProviderQuotaError, ProviderTimeout


def _code(exc: openai.APIStatusError) -> str | None:
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
        if isinstance(inner, dict) and inner.get("type"):
            return str(inner["type"])
    return getattr(exc, "code", None)


def _detail(exc: openai.APIStatusError) -> str:
    body: Any = exc.body
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = inner.get("message")
        # Gateways and contract proxies answer in RFC 7807 form: {title, detail, validation: [...]}.
        if message is None and (body.get("detail") or body.get("validation")):
            problems = [str(v.get("message")) for v in body.get("validation") or [] if isinstance(v, dict)]
            message = "; ".join(filter(None, [str(body.get("detail") or ""), *problems[:3]]))
    return " ".join(str(message or exc.message).split())[:500]


def _data(exc: openai.APIError) -> dict[str, Any]:
    """What the SDK's error carries, kept on ours: the status, the request id, the error code."""
    status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
    code = _code(exc) if isinstance(exc, openai.APIStatusError) else None
    return {"status_code": status, "request_id": getattr(exc, "request_id", None), "code": code}


def is_insufficient_quota(status: int, body: Any) -> bool:
    """Whether a 429 body says the account is out of quota (as opposed to a rate limit)."""
    if status != 429 or not isinstance(body, dict):
        return False
    inner = body.get("error", body)
    return isinstance(inner, dict) and (
        inner.get("code") == "insufficient_quota" or inner.get("type") == "insufficient_quota"
    )


@contextmanager
def translate_openai_error(action: str) -> Iterator[None]:
    """Run an SDK call; turn its errors into RefineryErrors that say what to do."""
    try:
        yield
    except openai.RateLimitError as exc:
        if _code(exc) == "insufficient_quota":
            raise ProviderQuotaError(
                f"OpenAI has no quota left for this key while {action} (429 insufficient_quota).",
                hint="Add credit or use another key/project; retrying cannot help.",
                **_data(exc),
            ) from exc
        raise ProviderError(
            f"OpenAI kept rate-limiting {action} after the configured retries (429): {_detail(exc)}.",
            hint="Retry later, lower `concurrency` or set `tokens-per-minute` (CLI: --concurrency; env "
            "REFINERY_TOKENS_PER_MINUTE) so that the workers pace themselves.",
            **_data(exc),
        ) from exc
    except openai.AuthenticationError as exc:
        raise ProviderError(
            f"OpenAI rejected the API key while {action} (401).",
            hint="Set a valid OPENAI_API_KEY (action input `openai-api-key`).",
            **_data(exc),
        ) from exc
    except openai.PermissionDeniedError as exc:
        raise ProviderError(
            f"The OpenAI key may not do this while {action} (403): {_detail(exc)}.",
            hint="Check the key's project permissions and OPENAI_PROJECT.",
            **_data(exc),
        ) from exc
    except openai.NotFoundError as exc:
        raise ProviderError(
            f"OpenAI answered 404 while {action}: {_detail(exc)}.",
            hint="Check `model` (does this key have access?) and `base-url` (CLI: --model, --base-url).",
            **_data(exc),
        ) from exc
    except openai.BadRequestError as exc:
        raise ProviderBadRequest(
            f"OpenAI rejected the request while {action} (400): {_detail(exc)}.", **_data(exc)
        ) from exc
    except openai.APITimeoutError as exc:
        raise ProviderTimeout(
            f"OpenAI did not answer in time while {action}.",
            hint="Retry, or raise `stage-timeout` (CLI: --stage-timeout), which bounds each request too.",
            **_data(exc),
        ) from exc
    except openai.APIConnectionError as exc:
        raise ProviderError(
            f"Cannot reach the OpenAI API while {action}.",
            hint="Check `base-url` (CLI: --base-url; env OPENAI_BASE_URL) and the network.",
            **_data(exc),
        ) from exc
    except openai.APIStatusError as exc:
        raise ProviderError(f"OpenAI failed while {action} ({exc.status_code}): {_detail(exc)}.", **_data(exc)) from exc
    except openai.APIResponseValidationError as exc:
        raise ProviderError(
            f"The model API answered {exc.status_code} with a body the SDK cannot read while {action}.",
            hint="Check `base-url` (CLI: --base-url): it must point at an OpenAI-compatible /v1 endpoint.",
            status_code=exc.status_code,
        ) from exc
    except (ValueError, TypeError, AttributeError) as exc:
        # The SDK parses the body lazily: a 200 that is not JSON, or JSON of another shape, surfaces here.
        raise ProviderError(
            f"The model API answered with a body that is not what was asked for while {action} ({type(exc).__name__}).",
            hint="Check `base-url` (CLI: --base-url): it must point at an OpenAI-compatible /v1 endpoint.",
        ) from exc
