"""The stages on OpenAI's Responses API, with file_search over a hosted vector store.

One retry layer only: the SDK's (``max_retries``, Retry-After honoured), configured where
the client is built. What this module adds is not retrying but API semantics: polling a
background response, one larger-limit retry for an ``incomplete`` answer, and one re-ask
carrying the validation error for output that does not fit the schema.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx2
import openai
from openai.types.responses import Response
from pydantic import BaseModel, ValidationError

from refinery.analysis.control import Cancelled, RunControl
from refinery.analysis.cost import StageEstimate, text_tokens
from refinery.analysis.providers.base import AnalysisContext, StageCall, StageReply, Usage, reask_turns, total_usage
from refinery.analysis.providers.errors import is_insufficient_quota, translate_openai_error
from refinery.analysis.providers.vector_store import CLEANUP_TIMEOUT_S, StoreHandle, VectorStoreManager
from refinery.analysis.requests import ModelOptions, build_canary_request, build_stage_request
from refinery.analysis.schemas import strict_json_schema
from refinery.documents.render import DocumentSet
from refinery.errors import ProviderError, ProviderTimeout, StageOutputError
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

log = logging.getLogger(__name__)
MAX_OUTPUT_CEILING = 32_000


class RefineryOpenAI(openai.OpenAI):
    """The SDK client, with its own retry rule taught one thing: 429 insufficient_quota is final."""

    def _should_retry(self, response: httpx2.Response) -> bool:
        if response.status_code == 429:
            try:
                body = response.json()
            except (ValueError, httpx2.ResponseNotRead):
                body = None
            if is_insufficient_quota(429, body):
                return False
        return bool(super()._should_retry(response))


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
    ) -> AnalysisContext:
        if store_id:
            return AnalysisContext(trace=trace, documents=documents, store_id=store_id, owned=False)
        handle = self._stores.create(trace.id, documents)
        return AnalysisContext(
            trace=trace,
            documents=documents,
            store_id=handle.store_id,
            file_ids=list(handle.file_ids),
            extra={"handle": handle},
        )

    def store_exists(self, store_id: str) -> bool:
        """Whether a vector store is still there (stores expire after a day idle)."""
        try:
            with translate_openai_error(f"reading vector store {store_id}"):
                self._client.vector_stores.retrieve(store_id)
        except ProviderError:
            return False
        return True

    def close_context(self, context: AnalysisContext) -> list[str]:
        handle = context.extra.get("handle")
        if not context.owned or not isinstance(handle, StoreHandle):
            return []
        if self.keep_store:
            self._stores.keep(handle)
            return [f"Kept vector store {handle.store_id} (--keep-store); it expires after 1 day idle."]
        return self._stores.delete(handle)

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

    def _complete(self, body: dict[str, Any], stage: str, ids: list[str], usage: list[Usage]) -> Response:
        """Create, and once more with twice the output limit if the answer was cut off."""
        response = self._create(body, stage)
        ids.append(response.id)
        usage.append(response_usage(response))
        if response.status == "incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            limit = int(body["max_output_tokens"])
            if reason == "max_output_tokens" and limit < MAX_OUTPUT_CEILING:
                bigger = {**body, "max_output_tokens": min(limit * 2, MAX_OUTPUT_CEILING)}
                log.info(
                    "stage %s hit max_output_tokens=%d; retrying with %d", stage, limit, bigger["max_output_tokens"]
                )
                response = self._create(bigger, stage)
                ids.append(response.id)
                usage.append(response_usage(response))
            if response.status == "incomplete":
                final = response.incomplete_details.reason if response.incomplete_details else None
                raise ProviderError(
                    f"Stage {stage} stayed incomplete ({final or 'unknown'}) even with a larger output limit.",
                    hint="Lower `reasoning-effort` (CLI: --reasoning-effort), or use a model with a larger output limit.",
                )
        return response

    def estimate_stage(self, call: StageCall, context: AnalysisContext) -> StageEstimate:
        """At most: the texts, SEARCHES_PER_STAGE full pages of search results, the stage's output limit."""
        searches = SEARCHES_PER_STAGE if call.use_documents and context.store_id else 0
        retrieved = searches * self._max_num_results * CHUNK_TOKENS
        return StageEstimate(
            model=self.model,
            input_tokens=text_tokens(call.system_text, call.user_text) + retrieved,
            output_tokens=call.max_output_tokens,
            searches=searches,
        )

    def run_stage(self, call: StageCall, context: AnalysisContext) -> StageReply:
        schema = strict_json_schema(call.output_model)
        body = build_stage_request(
            options=self.options,
            system_text=call.system_text,
            user_text=call.user_text,
            schema_name=call.schema_name,
            schema=schema,
            max_output_tokens=call.max_output_tokens,
            vector_store_id=context.store_id if call.use_documents else None,
            max_num_results=self._max_num_results,
            metadata={"refinery_stage": call.stage, "refinery_trace_id": context.trace.id[:512]},
        )
        ids: list[str] = []
        usage: list[Usage] = []
        response = self._complete(body, call.stage, ids, usage)
        text = response_text(response)
        output, problem = parse_output(text, call.output_model)
        attempts = 1
        if output is None:
            attempts = 2
            reask = {
                **body,
                "input": [*body["input"], *reask_turns(text, problem)],
            }
            response = self._complete(reask, call.stage, ids, usage)
            text = response_text(response)
            output, problem = parse_output(text, call.output_model)
            if output is None:
                raise StageOutputError(
                    f"Stage {call.stage} returned output that does not fit its schema after {attempts} attempts: {problem}.",
                    stage=call.stage,
                    attempts=attempts,
                    raw_text=text,
                    hint="Try a stronger `model` or a lower `reasoning-effort` (CLI: --model, --reasoning-effort).",
                )
        total = total_usage(usage)
        return StageReply(
            output=output,
            raw_text=text,
            usage=total,
            attempts=attempts,
            response_ids=ids,
            provider=self.name,
            model=self.model,
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


def parse_output(text: str, model: type[BaseModel]) -> tuple[BaseModel | None, str]:
    """The validated output, or None and a short description of what is wrong."""
    if not text.strip():
        return None, "the reply was empty"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    try:
        return model.model_validate(data), ""
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        return None, f"schema violation ({problems})"
