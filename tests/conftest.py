from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples import agents
from tests.fakes.langsmith_api import FakeLangSmith

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REFINERY_SHARED_DIR", REPO.parent / "shared"))
WHO_AND_WHEN = SHARED / "datasets" / "who-and-when"


def who_and_when_files() -> list[Path]:
    return sorted(WHO_AND_WHEN.glob("*/*.json")) if WHO_AND_WHEN.is_dir() else []


@pytest.fixture
def who_and_when() -> list[Path]:
    files = who_and_when_files()
    if not files:
        pytest.skip(f"../shared is absent: no Who&When logs at {WHO_AND_WHEN} (set REFINERY_SHARED_DIR)")
    return files


@pytest.fixture
def real_traces() -> Path:
    folder = SHARED / "datasets" / "real-traces"
    if not folder.is_dir():
        pytest.skip(f"../shared is absent: no real trace files at {folder} (set REFINERY_SHARED_DIR)")
    return folder


_TEST_SETUP = {"REFINERY_SHARED_DIR", "REFINERY_NODE_TOOLS", "REFINERY_TESTS_WITHOUT_CONTRACT"}
"""Where the tests find ../shared and the Node tools (a copy of the tests elsewhere, as the mutation
benchmark makes, points back at them): the suite's own setup, not a setting of Refinery's."""


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not pick up a developer's real keys or send traces anywhere.
    for name in list(os.environ):
        if name in _TEST_SETUP:
            continue
        if name.startswith(("LANGSMITH_", "LANGCHAIN_", "OPENAI_", "INPUT_", "GITHUB_", "REFINERY_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")


@pytest.fixture
def fake_langsmith() -> Iterator[FakeLangSmith]:
    with FakeLangSmith() as fake:
        yield fake


@pytest.fixture
def recorded(fake_langsmith: FakeLangSmith) -> dict[str, str]:
    """Scenario name -> root run id, after the instrumented agents posted to the fake."""
    client = agents.sdk_client(fake_langsmith.direct_url, fake_langsmith.api_key)
    ids = {
        "rate_limited": agents.run_scenario(client, agents.rate_limited_agent),
        "looping": agents.run_scenario(client, agents.looping_agent),
    }
    with agents.tracing_context(enabled=True, client=client, project_name=agents.PROJECT):
        ids["wrong_answer"] = agents.wrong_answer_agent(client)
    client.flush()
    return ids
