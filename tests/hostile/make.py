"""Regenerate ``tests/hostile/planted/``: ``python -m tests.hostile.make``.

The LangSmith file is what the langsmith SDK posts (recorded by the fake LangSmith and
fetched back raw), the OTLP file what the OpenTelemetry SDK and its OTLP encoder write; the
chat and history files are written in their published shapes. Each carries the secrets of
``tests/hostile/planted.py`` in the places secrets really turn up: errors, tool outputs,
tool-call arguments, headers, metadata, dict keys, agent, model and feedback names.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from langsmith import traceable
from langsmith.run_helpers import get_current_run_tree, tracing_context

from examples import agents
from refinery.wiring import build_langsmith_source, load_settings
from tests.fakes.langsmith_api import FakeLangSmith
from tests.fakes.otel_agent import _recorded
from tests.hostile import planted as P

OUT = Path(__file__).resolve().parent / "planted"


class FareError(RuntimeError):
    pass


def langsmith_file() -> dict[str, Any]:
    @traceable(run_type="tool", name="fetch_fares")
    def fetch_fares(query: str) -> dict[str, Any]:
        raise FareError(f"{P.ERROR_TEXT}\n{P.HEADERS_TEXT}")

    @traceable(run_type="tool", name="read_env")
    def read_env() -> dict[str, Any]:
        return {"output": f"{P.ENV_DUMP}\n{P.PRIVATE_KEY}"}

    @traceable(
        run_type="llm",
        name="ChatOpenAI",
        metadata={"ls_model_name": P.MODEL_NAME, "ls_provider": "openai", P.DICT_KEY: "kept"},
    )
    def plan(messages: list[dict[str, Any]]) -> dict[str, Any]:
        call = {"id": "call_1", "type": "function", "function": {"name": "fetch_fares", "arguments": P.ARGUMENTS}}
        return {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}

    @traceable(run_type="chain", name="planted_agent", metadata={"connection": P.URL_TEXT})
    def planted_agent(question: str, credentials: dict[str, str]) -> Any:
        read_env()
        plan([{"role": "system", "content": P.HEADERS_TEXT}, {"role": "user", "content": question}])
        return fetch_fares("SFO JFK")

    captured: dict[str, Any] = {}
    with FakeLangSmith() as fake:
        client = agents.sdk_client(fake.direct_url, fake.api_key)

        @traceable(run_type="chain", name="eval_case")
        def entry() -> Any:
            tree = get_current_run_tree()
            captured["id"] = tree.id if tree else None
            return planted_agent(P.FREE_TEXT, P.JSON_FIELDS)

        with tracing_context(enabled=True, client=client, project_name=agents.PROJECT), contextlib.suppress(FareError):
            entry()
        client.flush()
        client.create_feedback(
            captured["id"],
            key=P.FEEDBACK_KEY,
            score=0,
            comment=f"wrong: the agent echoed Bearer {P.BEARER}",
            trace_id=captured["id"],
            session_id=client.read_project(project_name=agents.PROJECT).id,
        )
        source = build_langsmith_source(
            load_settings({"LANGSMITH_API_KEY": fake.api_key, "LANGSMITH_ENDPOINT": fake.url})
        )
        raw = source.fetch_raw(str(captured["id"]))
    raw["url"] = None
    return raw


def otlp_file() -> dict[str, Any]:
    recorded: dict[str, Any] = {}
    with (
        _recorded("planted-agent", "genai.fixture", recorded) as tracer,
        tracer.start_as_current_span(f"invoke_agent {P.AGENT_NAME}") as agent,
    ):
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", P.AGENT_NAME)
        agent.set_attribute("db.connection_string", P.URL_TEXT)
        with tracer.start_as_current_span("chat gpt-4.1") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", P.MODEL_NAME)
            chat.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": P.FREE_TEXT}]}]),
            )
        with tracer.start_as_current_span("execute_tool fetch_fares") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "fetch_fares")
            tool.set_attribute("gen_ai.tool.call.arguments", P.ARGUMENTS)
            tool.set_attribute("gen_ai.tool.call.result", json.dumps({"error": P.ERROR_TEXT, **P.JSON_FIELDS}))
            tool.record_exception(FareError(P.HEADERS_TEXT))
        with tracer.start_as_current_span("execute_tool read_env") as env:
            env.set_attribute("gen_ai.operation.name", "execute_tool")
            env.set_attribute("gen_ai.tool.name", "read_env")
            env.set_attribute("gen_ai.tool.call.result", f"{P.ENV_DUMP}\n{P.PRIVATE_KEY}")
            env.set_attribute(P.DICT_KEY, "kept")
    return recorded


def chat_file() -> dict[str, Any]:
    return {
        "id": "planted-chat",
        "model": P.MODEL_NAME,
        "messages": [
            {"role": "system", "content": f"You are FareBot.\n{P.HEADERS_TEXT}"},
            {"role": "user", "content": P.FREE_TEXT},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "fetch_fares", "arguments": P.ARGUMENTS}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"error": P.ERROR_TEXT, **P.JSON_FIELDS})},
            {"role": "assistant", "content": f"{P.ENV_DUMP}\n{P.PRIVATE_KEY}"},
        ],
        P.DICT_KEY: "kept",
    }


def history_file() -> dict[str, Any]:
    return {
        "question_ID": "planted-history",
        "question": P.FREE_TEXT,
        "history": [
            {"role": "user", "name": "human", "content": P.ERROR_TEXT},
            {"role": "assistant", "name": P.AGENT_NAME, "content": P.ENV_DUMP},
            {
                "role": "assistant",
                "name": "Computer_terminal",
                "content": f"exitcode: 1 (execution failed)\n{P.HEADERS_TEXT}",
            },
            {"role": "assistant", "name": "verifier", "content": json.dumps(P.JSON_FIELDS)},
        ],
        "system_prompt": {P.AGENT_NAME: f"You hold {P.PRIVATE_KEY}"},
        "ground_truth": P.URL_TEXT,
    }


def main() -> None:
    from refinery.trace.files.langsmith_export import load_langsmith

    OUT.mkdir(exist_ok=True)
    recorded = langsmith_file()
    normalized = load_langsmith(recorded)[0].model_dump(mode="json")  # what `refinery fetch` writes
    normalized["runs"][1]["agent"] = P.AGENT_NAME
    normalized["runs"][1]["model"] = P.MODEL_NAME
    for name, data in [
        ("langsmith.json", recorded),
        ("refinery.json", normalized),
        ("otlp.json", otlp_file()),
        ("chat.json", chat_file()),
        ("history.json", history_file()),
    ]:
        (OUT / name).write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
