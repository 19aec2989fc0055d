"""The one policy every provider follows when a stage's reply is not yet usable.

A reply cut off by the output limit is asked for once more with twice the limit (up to
``MAX_OUTPUT_CEILING``); a reply that does not fit the stage's schema gets one re-ask that
carries the validation error. Providers only say how to send one attempt; retrying
transport failures stays the SDK's job, configured where the client is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from refinery.analysis.providers.base import StageCall, StageReply, Usage, reask_turns, total_usage
from refinery.errors import ProviderError, StageOutputError

MAX_OUTPUT_CEILING = 32_000
"""The largest output limit a cut-off stage is retried with."""


@dataclass
class Attempt:
    """One model reply, whatever the back-end."""

    text: str
    usage: Usage
    response_id: str = ""
    truncated: bool = False
    """The reply hit the output-token limit."""


Send = Callable[[list[dict[str, str]], int], Attempt]
"""send(extra_turns, max_output_tokens): one attempt, the extra turns appended after the stage's own."""


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


@dataclass
class _Tally:
    ids: list[str]
    usage: list[Usage]

    def add(self, attempt: Attempt) -> Attempt:
        self.ids.append(attempt.response_id)
        self.usage.append(attempt.usage)
        return attempt


def _uncut(send: Send, turns: list[dict[str, str]], call: StageCall, tally: _Tally, where: str) -> str:
    """One reply, sent again once with a larger limit if the first was cut off."""
    limit = call.max_output_tokens
    attempt = tally.add(send(turns, limit))
    if attempt.truncated and limit < MAX_OUTPUT_CEILING:
        attempt = tally.add(send(turns, min(limit * 2, MAX_OUTPUT_CEILING)))
    if attempt.truncated:
        raise ProviderError(
            f"Stage {call.stage} stayed cut off by the output limit{where}.",
            hint="Lower `reasoning-effort` (CLI: --reasoning-effort), or use a model with a larger output limit.",
        )
    return attempt.text


def complete_stage(call: StageCall, send: Send, *, provider: str, model: str, hint: str | None = None) -> StageReply:
    """Run ``call`` through ``send`` under the shared policy; StageOutputError after the one re-ask."""
    where = f" on {provider}"
    tally = _Tally([], [])
    text = _uncut(send, [], call, tally, where)
    output, problem = parse_output(text, call.output_model)
    attempts = 1
    if output is None:
        attempts = 2
        text = _uncut(send, reask_turns(text, problem), call, tally, where)
        output, problem = parse_output(text, call.output_model)
        if output is None:
            raise StageOutputError(
                f"Stage {call.stage} returned output that does not fit its schema after 2 attempts{where}: {problem}.",
                stage=call.stage,
                attempts=2,
                raw_text=text,
                hint=hint,
            )
    return StageReply(
        output=output,
        raw_text=text,
        usage=total_usage(tally.usage),
        attempts=attempts,
        response_ids=tally.ids,
        provider=provider,
        model=model,
    )
