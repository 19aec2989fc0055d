"""Spans as today's OpenAI instrumentations emit them, from a scripted agent and a real OpenAI client.

The agent asks the model a question; the loopback fake answers with two tool calls; the
agent runs both tools and sends their results back; the fake answers in text. The same
agent runs under each producer's own package:

- ``genai``: the OpenTelemetry GenAI instrumentation (``opentelemetry-instrumentation-openai-v2``)
  in today's conventions, content on the span (``gen_ai.input.messages`` …);
- ``genai-log-events``: the same, content as log records tied to the span
  (``gen_ai.client.inference.operation.details``);
- ``genai-legacy-events``: the same package's previous conventions, one log record per message
  (``gen_ai.user.message`` … ``gen_ai.choice``), the path it takes where the GenAI util does not
  report the experimental conventions (opentelemetry-util-genai before 1.0);
- ``genai-agent``: as ``genai``, and the agent runs each tool inside the GenAI util's own
  ``execute_tool`` span (``TelemetryHandler.tool``), as agent-framework instrumentations do;
- ``openinference``: Arize's OpenInference instrumentation (``openinference-instrumentation-openai``);
- ``openllmetry``: Traceloop's OpenLLMetry (``opentelemetry-instrumentation-openai``).

The spans are exported with the OpenTelemetry SDK's OTLP encoder, as a collector's file
exporter writes them. Only the agent's own root span is ours; the LLM spans are the packages'.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes import openai_api as F
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.otel_agent import recorded_provider

WEATHER = {"Paris": "18°C, light rain", "Oslo": "4°C, clear"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


PRODUCERS = ["genai", "genai-agent", "genai-log-events", "genai-legacy-events", "openinference", "openllmetry"]
_CONTENT_MODE = {
    "genai": "SPAN_ONLY",
    "genai-agent": "SPAN_ONLY",
    "genai-log-events": "EVENT_ONLY",
    "genai-legacy-events": "true",
}


@contextmanager
def _instrumented(producer: str, provider: Any, logger_provider: Any = None) -> Iterator[None]:
    if producer.startswith("genai"):
        import opentelemetry.instrumentation.openai_v2 as v2
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as Instrumentor

        # The package reads the mode once, when it instruments; util-genai >=1.0 always says "latest".
        legacy = producer == "genai-legacy-events"
        saved_mode = v2.is_experimental_mode
        v2.is_experimental_mode = (lambda: False) if legacy else saved_mode  # type: ignore[assignment]
    elif producer == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as Instrumentor  # type: ignore[no-redef]
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as Instrumentor  # type: ignore[no-redef]
    instrumentor = Instrumentor()
    extra = {"logger_provider": logger_provider} if logger_provider is not None else {}
    saved_env = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(
        {
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": _CONTENT_MODE.get(producer, "true"),
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "TRACELOOP_TRACE_CONTENT": "true",
        }
    )
    try:
        instrumentor.instrument(tracer_provider=provider, **extra)
        yield
    finally:
        instrumentor.uninstrument()
        if producer.startswith("genai"):
            v2.is_experimental_mode = saved_mode
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_ENV = (
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "TRACELOOP_TRACE_CONTENT",
)


def _tool_handler(provider: Any, loggers: Any) -> Any:
    from opentelemetry.util.genai.handler import TelemetryHandler

    return TelemetryHandler(tracer_provider=provider, logger_provider=loggers)


def weather_agent_otlp(producer: str) -> Any:
    """OTLP/JSON of one agent run under ``producer``'s instrumentation: two LLM calls, two tool calls.

    The GenAI instrumentation sends message content as log records tied to the spans, so its
    export is two requests, spans then logs, as a JSON list (a collector writes one per line).
    """
    import openai
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    try:
        from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    except ImportError:  # the SDK before 1.39, which the legacy fixtures are made with
        from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogRecordExporter  # type: ignore[attr-defined,no-redef]

    from tests.fakes.otel_agent import _hex_ids

    recorded: dict[str, Any] = {}
    log_exporter = InMemoryLogRecordExporter()
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    with FakeOpenAI() as fake:
        fake.script(
            F.tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})),
            F.raw_text("Paris: 18°C with light rain. Oslo: 4°C and clear."),
        )
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.url + "/v1", max_retries=0)
        with recorded_provider(f"weather-agent-{producer}", recorded) as provider:
            tracer = provider.get_tracer("weather.agent")
            tool_spans = _tool_handler(provider, loggers) if producer == "genai-agent" else None
            with (
                _instrumented(producer, provider, loggers if producer.startswith("genai") else None),
                tracer.start_as_current_span("weather_agent") as root,
            ):
                root.set_attribute("openinference.span.kind", "AGENT")
                messages: list[dict[str, Any]] = [
                    {"role": "system", "content": "You are WeatherBot. Use get_weather for every city asked about."},
                    {"role": "user", "content": "What is the weather in Paris and Oslo?"},
                ]
                first = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
                call_message = first.choices[0].message
                messages.append(call_message.model_dump(exclude_none=True))
                for call in call_message.tool_calls or []:
                    city = json.loads(call.function.arguments)["city"]  # type: ignore[union-attr]
                    if producer == "genai-agent":
                        with tool_spans.tool("get_weather", tool_call_id=call.id, tool_type="function") as run:
                            run.arguments = {"city": city}
                            run.tool_result = WEATHER[city]
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": WEATHER[city]})
                final = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
                root.set_attribute("output.value", final.choices[0].message.content or "")
    loggers.shutdown()
    records = log_exporter.get_finished_logs()
    if not records:
        return recorded
    return [recorded, _hex_ids(MessageToDict(encode_logs(records)))]
