"""The shared rate gate, with a fake clock; and through the real openai SDK against the fake."""

from __future__ import annotations

import openai

from refinery.analysis.ratelimit import RateGate, retry_after_seconds
from tests.fakes import openai_api as F
from tests.fakes.openai_api import FakeOpenAI


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_429_pauses_every_later_request_for_its_retry_after() -> None:
    clock = Clock()
    gate = RateGate(clock=clock, sleep=clock.sleep)
    gate.before_request(100)
    assert clock.slept == []
    gate.after_response(429, {"retry-after": "3"})
    gate.before_request(100)  # another worker: waits the same 3 s
    assert clock.slept == [3.0] and gate.pauses == 1
    gate.after_response(200, {})
    gate.before_request(100)
    assert clock.slept == [3.0]


def test_tokens_per_minute_budget() -> None:
    clock = Clock()
    gate = RateGate(6_000, clock=clock, sleep=clock.sleep)
    gate.before_request(5_000)
    gate.before_request(1_000)
    assert clock.slept == []
    gate.before_request(3_000)  # the bucket refills at 100 tokens/s
    assert round(sum(clock.slept), 6) == 30.0


def test_retry_after_parsing_is_bounded() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "9999"}) == 60.0
    assert retry_after_seconds({"retry-after": "soon"}) == 1.0
    assert retry_after_seconds({}) == 1.0


def test_the_sdks_http_client_reports_429s_to_the_gate() -> None:
    gate = RateGate()
    with FakeOpenAI() as fake:
        fake.script(F.http_error(429, "rate_limit_exceeded", **{"retry-after-ms": "10"}))
        client = openai.OpenAI(
            api_key=fake.api_key,
            base_url=fake.url + "/v1",
            max_retries=2,
            http_client=openai.DefaultHttpxClient(event_hooks=gate.event_hooks()),
        )
        client.responses.create(
            model="gpt-4.1",
            input="hi",
            text={
                "format": {
                    "type": "json_schema",
                    "name": "canary",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {"reply": {"type": "string"}},
                        "required": ["reply"],
                        "additionalProperties": False,
                    },
                }
            },
        )
    assert gate.pauses == 1  # the SDK retried once on its own; the gate saw the 429 for everyone else
    assert len(fake.response_bodies()) == 2
