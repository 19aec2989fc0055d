"""Regenerate ``examples/``: ``python -m tests.fakes.make_examples``.

The example agent (``examples/agents.py``) posts its runs to the fake LangSmith API through
the real SDK; then Refinery's own LangSmith source fetches each trace back in LangSmith's form
(``fetch --raw``), which is what lands in ``examples/*.json``. The checkout's own path is
cut from the recorded tracebacks, so they read ``examples/agents.py``, on any machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from examples import agents
from refinery.wiring import build_langsmith_source, load_settings
from tests.fakes.langsmith_api import FakeLangSmith

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _relative_paths(value: Any) -> Any:
    """Every string with the checkout's absolute path made repository-relative."""
    if isinstance(value, str):
        return value.replace(f"{REPO}/", "")
    if isinstance(value, list):
        return [_relative_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: _relative_paths(v) for k, v in value.items()}
    return value


def main() -> None:
    with FakeLangSmith() as fake:
        client = agents.sdk_client(fake.direct_url, fake.api_key)
        ids = {
            "rate-limit-cascade": agents.run_scenario(client, agents.rate_limited_agent),
            "looping-agent": agents.run_scenario(client, agents.looping_agent),
        }
        with agents.tracing_context(enabled=True, client=client, project_name=agents.PROJECT):
            ids["wrong-answer"] = agents.wrong_answer_agent(client)
        client.flush()
        settings = load_settings({"LANGSMITH_API_KEY": fake.api_key, "LANGSMITH_ENDPOINT": fake.url})
        source = build_langsmith_source(settings)
        EXAMPLES.mkdir(exist_ok=True)
        for name, trace_id in ids.items():
            raw = _relative_paths(source.fetch_raw(trace_id))
            raw["url"] = None  # the fake's host means nothing to a reader
            path = EXAMPLES / f"{name}.json"
            path.write_text(json.dumps(raw, indent=2, ensure_ascii=False, default=str) + "\n")
            print(f"wrote {path} ({len(raw['runs'])} runs)")


if __name__ == "__main__":
    main()
