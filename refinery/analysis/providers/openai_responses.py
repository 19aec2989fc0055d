"""The stages on OpenAI's Responses API, with file_search over a hosted vector store.

One retry layer only: the SDK's (``max_retries``, Retry-After honoured), configured where
the client is built. What this module adds is not retrying but API semantics: polling a
background response, and the shared policy (``policy.py``) for a cut-off answer (``incomplete``
for ``max_output_tokens``) and for output that does not fit the schema.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import httpx2
import openai
from openai.types.responses import Response
from pydantic import Field, SecretStr, field_validator

from refinery.analysis.control import Cancelled, RunControl
from refinery.analysis.cost import StageEstimate, text_tokens
from refinery.analysis.providers.base import (
    AnalysisContext,
    BuildOptions,
    Capabilities,
    ClosedContext,
    ProviderPlugin,
    StageCall,
    StageReply,
    StoreContext,
    Usage,
)
from refinery.analysis.providers.errors import is_insufficient_quota, translate_openai_error
from refinery.analysis.providers.policy import Attempt, complete_stage
from refinery.analysis.providers.vector_store import CLEANUP_TIMEOUT_S, StoreHandle, VectorStoreManager
from refinery.analysis.requests import ModelOptions, build_canary_request, build_stage_request
from refinery.analysis.schemas import strict_json_schema
from refinery.documents.render import DocumentSet
from refinery.errors import ProviderError, ProviderTimeout
from refinery.settings import Section, Settings, Source, require_secret
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

log = logging.getLogger(__name__)


def mark_quota_final(response: httpx2.Response) -> None:
    """An httpx response hook: a 429 ``insufficient_quota`` gets ``x-should-retry: false``.

    The SDK obeys that header (the server's own way to say whether to retry), so its one retry
    layer stops at once for an account out of quota while rate limits are still retried.
    """
    if response.status_code != 429:
        return
    try:
        response.read()
        body = response.json()
    except (ValueError, httpx2.HTTPError):
        return
    if is_insufficient_quota(429, body):
        response.headers["x-should-retry"] = "false"


def response_text(response: Response) -> str:
    """The reply's text: ``output_text``, else the joined output_text parts of message items."""
    text = response.output_text
    if text:
        return text
    parts: list[str] = []
    for item in response.output or []:
        if getattr(item, "type", None) == "message":
            for part in getattr(item, "content", None) or []:
                if getattr(part, "type", None) == "output_text":
                    parts.append(part.text)
                elif getattr(part, "type", None) == "refusal":
                    raise ProviderError(f"The model refused: {part.refusal}")
    return "".join(parts)


def response_usage(response: Response) -> Usage:
    usage = response.usage
    if usage is None:
        return Usage()
    return Usage(
        input_tokens=usage.input_tokens,
        cached_tokens=getattr(usage.input_tokens_details, "cached_tokens", 0) or 0,
        output_tokens=usage.output_tokens,
        reasoning_tokens=getattr(usage.output_tokens_details, "reasoning_tokens", 0) or 0,
    )


SEARCHES_PER_STAGE = 3
"""file_search calls one stage is assumed to make, for its cost estimate."""
CHUNK_TOKENS = 800
"""The vector store's default chunk size: what one search result adds to the input."""


class OpenAIResponsesProvider:
    """AnalysisProvider on the Responses API."""

    name = "openai"
    capabilities = Capabilities(hosted_documents=True)

    def __init__(
        self,
        client: openai.OpenAI,
        options: ModelOptions,
        *,
        stores: VectorStoreManager,
        poll_interval_s: float = 1.0,
        timeout_s: float = 900.0,
        max_num_results: int = 8,
        keep_store: bool = False,
        sleep: Callable[[float], None] | None = None,
        control: RunControl | None = None,
    ) -> None:
        self._client = client
        self.options = options
        self.model = options.model
        self._stores = stores
        self._poll_interval_s = poll_interval_s
        self._timeout_s = timeout_s
        self._max_num_results = max_num_results
        self.keep_store = keep_store
        self._control = control or RunControl()
        self._sleep = sleep or (lambda seconds: self._control.sleep(seconds, "the stage finished"))

    # -- documents ----------------------------------------------------------------------------

    def open_context(
        self, trace: Trace, documents: DocumentSet, *, triage: TriageReport | None = None, store_id: str | None = None
    ) -> StoreContext:
        if store_id:
            return StoreContext(trace=trace, documents=documents, triage=triage, store_id=store_id, owned=False)
        handle = self._stores.create(trace.id, documents)
        return StoreContext(trace=trace, documents=documents, triage=triage, store_id=handle.store_id, handle=handle)

    def store_exists(self, store_id: str) -> bool:
        """Whether a vector store is still there (stores expire after a day idle)."""
        try:
            with translate_openai_error(f"reading vector store {store_id}"):
                self._client.vector_stores.retrieve(store_id)
        except ProviderError:
            return False
        return True

    def close_context(self, context: AnalysisContext) -> ClosedContext:
        if not isinstance(context, StoreContext):
            return ClosedContext()
        if not context.owned:
            return ClosedContext(kept_store=context.store_id)
        handle = context.handle
        if not isinstance(handle, StoreHandle):
            return ClosedContext()
        if self.keep_store:
            self._stores.keep(handle)
            return ClosedContext(
                [f"Kept vector store {handle.store_id} (--keep-store); it expires after 1 day idle."],
                kept_store=handle.store_id,
            )
        return ClosedContext(self._stores.delete(handle))

    def create_response(self, body: dict[str, Any], action: str) -> Response:
        """One Responses call outside the stages (a chat turn), with the errors translated."""
        with translate_openai_error(action):
            response: Response = self._client.responses.create(**body)
        return response

    # -- calls --------------------------------------------------------------------------------

    def _create(self, body: dict[str, Any], stage: str) -> Response:
        self._control.check(f"stage {stage}")
        with translate_openai_error(f"running stage {stage}"):
            response: Response = self._client.responses.create(**body)
        _check_response(response, stage)
        if body.get("background"):
            response = self._wait(response, stage)
        if response.status == "failed":
            error = response.error
            detail = f"{error.code}: {error.message}" if error else "no error detail"
            raise ProviderError(
                f"Stage {stage} failed on OpenAI's side ({detail}).", hint="Retry; if it persists, try another model."
            )
        if response.status == "cancelled":
            raise ProviderError(f"Stage {stage} was cancelled on OpenAI's side.")
        return response

    def _wait(self, response: Response, stage: str) -> Response:
        deadline = time.monotonic() + self._timeout_s
        while response.status in ("queued", "in_progress"):
            if time.monotonic() >= deadline:
                with translate_openai_error(f"cancelling stage {stage}"):
                    self._client.responses.cancel(response.id)
                raise ProviderTimeout(
                    f"Stage {stage} was still {response.status} after {self._timeout_s:g} s; it was cancelled.",
                    hint="Retry, lower `reasoning-effort`, or raise `stage-timeout` "
                    "(CLI: --reasoning-effort, --stage-timeout).",
                )
            with translate_openai_error(f"polling stage {stage}"):
                raw = self._client.responses.with_raw_response.retrieve(response.id)
                response = raw.parse()
            _check_response(response, stage)
            if response.status in ("queued", "in_progress"):
                header = raw.headers.get("openai-poll-after-ms")
                delay = int(header) / 1000 if header and header.isdigit() else self._poll_interval_s
                try:
                    self._sleep(delay)
                except Cancelled:
                    # Stop paying for it: the background response would otherwise run to its end.
                    quick = self._client.with_options(timeout=CLEANUP_TIMEOUT_S, max_retries=0)
                    with contextlib.suppress(openai.OpenAIError):
                        quick.responses.cancel(response.id)
                    raise
        return response

    def _attempt(self, body: dict[str, Any], stage: str) -> Attempt:
        """One response as an attempt: cut off by the output limit is ``truncated``, any other
        ``incomplete`` is an error."""
        response = self._create(body, stage)
        truncated = False
        if response.status == "incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            if reason != "max_output_tokens":
                raise ProviderError(
                    f"Stage {stage} came back incomplete ({reason or 'unknown'}).",
                    hint="Retry; if it persists, try another model.",
                    request_id=response.id,
                )
            truncated = True
        text = "" if truncated else response_text(response)
        return Attempt(text, response_usage(response), response.id, truncated)

    def estimate_stage(self, call: StageCall, context: AnalysisContext) -> StageEstimate:
        """At most: the texts, SEARCHES_PER_STAGE full pages of search results, the stage's output limit."""
        hosted = isinstance(context, StoreContext) and bool(context.store_id)
        searches = SEARCHES_PER_STAGE if call.use_documents and hosted else 0
        retrieved = searches * self._max_num_results * CHUNK_TOKENS
        return StageEstimate(
            model=self.model,
            input_tokens=text_tokens(call.system_text, call.user_text) + retrieved,
            output_tokens=call.max_output_tokens,
            searches=searches,
        )

    def run_stage(self, call: StageCall, context: AnalysisContext) -> StageReply:
        store_id = context.store_id if isinstance(context, StoreContext) else None
        body = build_stage_request(
            options=self.options,
            system_text=call.system_text,
            user_text=call.user_text,
            schema_name=call.schema_name,
            schema=strict_json_schema(call.output_model),
            max_output_tokens=call.max_output_tokens,
            vector_store_id=store_id if call.use_documents else None,
            max_num_results=self._max_num_results,
            metadata={"refinery_stage": call.stage, "refinery_trace_id": context.trace.id[:512]},
        )

        def send(turns: list[dict[str, str]], max_tokens: int) -> Attempt:
            return self._attempt(
                {**body, "input": [*body["input"], *turns], "max_output_tokens": max_tokens}, call.stage
            )

        return complete_stage(
            call,
            send,
            provider=self.name,
            model=self.model,
            hint="Try a stronger `model` or a lower `reasoning-effort` (CLI: --model, --reasoning-effort).",
        )

    def canary(self) -> str:
        """Prove auth, base URL, model access and structured outputs with one tiny call."""
        response = self._create(build_canary_request(self.options), "canary")
        text = response_text(response)
        try:
            reply = json.loads(text)["reply"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError(f"The canary reply was not the JSON asked for: {text[:100]!r}.") from None
        return str(reply)


def _check_response(response: Any, stage: str) -> None:
    """A 200 whose body is not a Responses object (an HTML page, ``{}``) is the server's fault, said so."""
    if not isinstance(getattr(response, "id", None), str) or not isinstance(getattr(response, "status", None), str):
        raise ProviderError(
            f"Stage {stage}: the model API answered 200 with a body that is not a Responses object.",
            hint="Check `base-url` (CLI: --base-url): it must point at an OpenAI-compatible /v1 endpoint.",
        )


class OpenAISettings(Section):
    """The OpenAI provider: the Responses API with file_search over a hosted vector store."""

    NAME: ClassVar[str] = "openai"
    SOURCES: ClassVar[dict[str, Source]] = {
        "openai_api_key": Source(("OPENAI_API_KEY",), "openai-api-key"),
        "openai_base_url": Source(("OPENAI_BASE_URL",), "base-url"),
        "openai_project": Source(("OPENAI_PROJECT",), None),
        "openai_model": Source(("REFINERY_MODEL",), "model"),
        "reasoning_effort": Source(("REFINERY_REASONING_EFFORT",), "reasoning-effort"),
    }

    openai_api_key: SecretStr | None = Field(default=None, repr=False)
    """OpenAI key; needed only for the model stages."""
    openai_base_url: str | None = None
    """Alternative OpenAI-compatible base URL."""
    openai_project: str | None = None
    """OpenAI project id sent with requests."""
    openai_model: str = "gpt-5-mini"
    """Model for the four stages."""
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] = "medium"
    """Reasoning effort for reasoning models (ignored by others, which get a temperature)."""

    @field_validator("openai_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    def configured(self) -> bool:
        return self.openai_api_key is not None

    def require_key(self) -> SecretStr:
        return require_secret(self.openai_api_key, self.SOURCES["openai_api_key"], "to run the model stages")


def build_client(section: OpenAISettings, options: BuildOptions) -> openai.OpenAI:
    """The one OpenAI client: the SDK's retries, told by a response hook that no quota is final."""
    return openai.OpenAI(
        api_key=section.require_key().get_secret_value(),
        base_url=section.openai_base_url,
        project=section.openai_project,
        max_retries=options.max_retries,
        timeout=options.timeout_s,
        http_client=openai.DefaultHttpxClient(event_hooks=options.event_hooks(mark_quota_final)),
    )


def build(settings: Settings, options: BuildOptions) -> OpenAIResponsesProvider:
    """The OpenAI Responses provider with its vector store manager."""
    section = settings.section(OpenAISettings)
    client = build_client(section, options)
    model = ModelOptions(
        model=section.openai_model, reasoning_effort=section.reasoning_effort, background=options.background
    )
    return OpenAIResponsesProvider(
        client,
        model,
        stores=VectorStoreManager(client, timeout_s=options.store_timeout_s, control=options.control),
        timeout_s=options.stage_timeout_s,
        keep_store=options.keep_store,
        control=options.control,
    )


PLUGIN = ProviderPlugin("openai", OpenAISettings, build)
