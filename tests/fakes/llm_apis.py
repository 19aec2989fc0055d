"""Loopback fakes of Anthropic's Messages API and Gemini's generateContent, plus the stage
inference the fakes (and FakeOpenAI's Chat Completions) use to answer like a model would.

Each is scripted like FakeOpenAI (``fake.script(reply(...), raw_text(...), http_error(...),
incomplete())``); unscripted calls get a schema-valid answer citing real section ids
found in the prompt.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from tests.fakes.openai_api import Step, auto_output
from tests.fakes.server import Request, Response, ServedFake, json_response

_STAGE = {
    "Stage 1 of 4": "trace_analysis",
    "Stage 2 of 4": "gap_analysis",
    "Stage 3 of 4": "diagnosis",
    "Stage 4 of 4": "synthesis",
}
_SECTION = re.compile(r"^## (R\d{4,})\b", re.MULTILINE)


def stage_of(text: str) -> str:
    if "Question: " in text:
        return "chat_answer"
    for marker, name in _STAGE.items():
        if marker in text:
            return name
    raise AssertionError("fake model: cannot tell which stage this is")


def answer(step: Step, prompt: str) -> tuple[str, Any]:
    """(kind, payload) for a scripted or automatic reply to ``prompt``."""
    if step.kind == "reply":
        return "json", step.payload
    if step.kind == "raw":
        return "text", step.payload
    sections = _SECTION.findall(prompt)
    return "json", auto_output({"text": {"format": {"name": stage_of(prompt)}}}, sections)


class _Base(ServedFake):
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.steps: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def script(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = json.loads(request.data) if request.data else None
        self.requests.append(
            {"method": request.method, "path": request.path, "body": body, "headers": dict(request.headers)}
        )
        response = self.handle(request, body)
        response.headers.setdefault("request-id", f"req_fake{len(self.requests):06d}")  # as Anthropic sends it
        return response(environ, start_response)

    def handle(self, request: Request, body: Any) -> Response:  # pragma: no cover - overridden
        raise NotImplementedError


class FakeAnthropic(_Base):
    """``POST /v1/messages`` answering with a ``tool_use`` block for the forced tool."""

    def __init__(self, api_key: str = "sk-ant-api03-fakefakefakefakefakefake") -> None:
        super().__init__(api_key)

    def handle(self, request: Request, body: Any) -> Response:
        # The SDK sends the key as `x-api-key` or, in 2.x, as a bearer token: accept either.
        if self.api_key not in (
            request.headers.get("x-api-key"),
            request.headers.get("Authorization", "").removeprefix("Bearer "),
        ):
            return json_response(
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}, 401
            )
        if request.path != "/v1/messages":
            return json_response({"type": "error", "error": {"type": "not_found_error", "message": request.path}}, 404)
        step = self.steps.pop(0) if self.steps else Step("auto")
        if step.kind == "http_error":
            kind = "rate_limit_error" if step.status == 429 else "api_error"
            return json_response(
                {"type": "error", "error": {"type": kind, "message": "scripted"}}, step.status, step.headers
            )
        prompt = "\n".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in body["messages"]
        )
        tool = body["tool_choice"]["name"]
        usage = {"input_tokens": len(prompt) // 4, "output_tokens": 50, "cache_read_input_tokens": 0}
        if step.kind == "incomplete":
            content, stop = [{"type": "text", "text": '{"timeline": ['}], "max_tokens"
        else:
            kind, payload = answer(step, prompt)
            if kind == "json":
                content = [{"type": "tool_use", "id": f"toolu_{next(self._ids):04d}", "name": tool, "input": payload}]
                stop = "tool_use"
            else:
                content, stop = [{"type": "text", "text": payload}], "end_turn"
        return json_response(
            {
                "id": f"msg_{next(self._ids):06d}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
        )


class FakeGemini(_Base):
    """``POST /v1[beta]/models/{model}:generateContent`` answering JSON text."""

    def __init__(self, api_key: str = "AIzaFakeFakeFakeFakeFakeFakeFakeFakeFak") -> None:
        super().__init__(api_key)

    def handle(self, request: Request, body: Any) -> Response:
        if request.headers.get("x-goog-api-key") != self.api_key:
            return json_response(
                {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}, 400
            )
        match = re.fullmatch(r"/v1(?:beta)?/models/([^:]+):generateContent", request.path)
        if not match:
            return json_response({"error": {"code": 404, "message": request.path, "status": "NOT_FOUND"}}, 404)
        step = self.steps.pop(0) if self.steps else Step("auto")
        if step.kind == "http_error":
            status = "RESOURCE_EXHAUSTED" if step.status == 429 else "UNAVAILABLE"
            return json_response(
                {"error": {"code": step.status, "message": "scripted", "status": status}}, step.status, step.headers
            )
        prompt = "\n".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
        if step.kind == "incomplete":
            text, finish = '{"timeline": [', "MAX_TOKENS"
        else:
            kind, payload = answer(step, prompt)
            text, finish = (json.dumps(payload) if kind == "json" else payload), "STOP"
        return json_response(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish, "index": 0}
                ],
                "usageMetadata": {
                    "promptTokenCount": len(prompt) // 4,
                    "candidatesTokenCount": 50,
                    "totalTokenCount": len(prompt) // 4 + 50,
                },
                "modelVersion": match.group(1),
                "responseId": f"resp-{next(self._ids)}",
            }
        )
