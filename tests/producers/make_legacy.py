"""Make the legacy-producer fixtures in this folder with the producers' own old releases.

Today's packages (installed by ``.[dev]``) write today's conventions; the tests drive them live
(``tests/fakes/genai_agents.py``). Traces written last year carry the previous forms, and those
come from the old releases themselves, pinned in ``legacy-requirements.txt``:

- ``openllmetry-0.47-flattened.json``: OpenLLMetry (``opentelemetry-instrumentation-openai``
  0.47.0) writes ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` with ``tool_calls.M.*``;
  the Traceloop SDK's ``@workflow`` and ``@task`` decorators (0.47.0) write
  ``traceloop.entity.input`` / ``traceloop.entity.output`` on the agent's own spans.

The agent is the one the live tests use: it asks about two cities, the loopback OpenAI fake
answers with two ``get_weather`` tool calls, the agent runs each (a ``@task``) and sends the
results back, the fake answers in text. Regenerate in a throwaway venv, never in the project's::

    python3 -m venv /tmp/legacy
    /tmp/legacy/bin/pip install --no-deps -r tests/producers/legacy-requirements.txt
    /tmp/legacy/bin/python -m tests.producers.make_legacy
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def make_openllmetry_flattened() -> dict[str, Any]:
    import openai
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import task, workflow

    from tests.fakes import openai_api as F
    from tests.fakes.genai_agents import TOOLS, WEATHER
    from tests.fakes.openai_api import FakeOpenAI
    from tests.fakes.otel_agent import _hex_ids

    os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
    exporter = InMemorySpanExporter()
    Traceloop.init(
        app_name="weather-agent-openllmetry-0.47",
        exporter=exporter,
        disable_batch=True,
        telemetry_enabled=False,
    )
    with FakeOpenAI() as fake:
        fake.script(
            F.tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})),
            F.raw_text("Paris: 18°C with light rain. Oslo: 4°C and clear."),
        )
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.url + "/v1", max_retries=0)

        @task(name="get_weather")
        def get_weather(city: str) -> str:
            return WEATHER[city]

        @workflow(name="weather_agent")
        def weather_agent(question: str) -> str:
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": "You are WeatherBot. Use get_weather for every city asked about."},
                {"role": "user", "content": question},
            ]
            first = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
            call_message = first.choices[0].message
            messages.append(call_message.model_dump(exclude_none=True))
            for call in call_message.tool_calls or []:
                city = json.loads(call.function.arguments)["city"]  # type: ignore[union-attr]
                messages.append({"role": "tool", "tool_call_id": call.id, "content": get_weather(city)})
            final = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
            return final.choices[0].message.content or ""

        weather_agent("What is the weather in Paris and Oslo?")
    return dict(_hex_ids(MessageToDict(encode_spans(exporter.get_finished_spans()))))


def main() -> None:
    path = HERE / "openllmetry-0.47-flattened.json"
    path.write_text(json.dumps(make_openllmetry_flattened(), indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
