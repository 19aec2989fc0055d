"""End to end through Prism: every request the real SDK sends, and every answer the fake gives,
is checked against ../shared/contracts/openai.openapi.yaml. A violation fails the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner

from refinery.cli import cli
from tests.contracts import OPENAI_SPEC, openai_spec
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.prism import prism_proxy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def fake_behind_prism() -> Iterator[tuple[FakeOpenAI, str]]:
    openai_spec()  # skips with a message when ../shared is absent
    with FakeOpenAI() as fake, prism_proxy(OPENAI_SPEC, fake.url) as proxy:
        yield fake, proxy


@pytest.fixture
def through_prism(fake_behind_prism: tuple[FakeOpenAI, str]) -> tuple[FakeOpenAI, str]:
    fake, proxy = fake_behind_prism
    fake.reset()
    return fake, proxy


def invoke(args: list[str], fake: FakeOpenAI, proxy: str, model: str) -> Any:
    # Prism serves the spec's paths, which have no /v1 prefix.
    env = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": proxy, "REFINERY_MODEL": model}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.mark.parametrize("model", ["gpt-5-mini", "gpt-4.1"])  # background + reasoning, and plain
def test_full_analysis_is_within_the_contract(
    through_prism: tuple[FakeOpenAI, str], tmp_path: Path, model: str
) -> None:
    fake, proxy = through_prism
    out = tmp_path / "out"
    done = invoke(
        ["analyze", "--trace-file", str(EXAMPLES / "wrong-answer.json"), "--out", str(out)], fake, proxy, model
    )
    assert done.exit_code == 0, done.stderr
    assert "(2 findings, complete)" in done.stdout
    paths = [(r["method"], r["path"]) for r in fake.requests]
    assert ("POST", "/vector_stores") in paths and ("POST", "/responses") in paths
    assert paths[-1][0] == "DELETE" and paths[-1][1].startswith("/vector_stores/")
    assert json.loads((out / "hypothesis-pack.json").read_text())["status"] == "complete"


def test_canary_and_init_are_within_the_contract(through_prism: tuple[FakeOpenAI, str], tmp_path: Path) -> None:
    fake, proxy = through_prism
    done = invoke(["canary"], fake, proxy, "gpt-5")
    assert done.exit_code == 0, done.stderr
    done = invoke(["init", "--trace-file", str(EXAMPLES / "looping-agent.json")], fake, proxy, "gpt-5")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.strip() in fake.stores


def test_prism_rejects_the_nested_json_schema_shape(through_prism: tuple[FakeOpenAI, str]) -> None:
    # Negative control: the proxy must catch what the design notes got wrong.
    fake, proxy = through_prism
    body = {
        "model": "gpt-4.1",
        "input": "hi",
        "text": {"format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
    }
    answer = httpx2.post(f"{proxy}/responses", json=body, headers={"Authorization": f"Bearer {fake.api_key}"})
    assert answer.status_code == 422
    assert "text.format" in answer.text
    assert not fake.response_bodies()  # it never reached the fake


def test_prism_rejects_a_response_the_real_api_would_never_send(
    through_prism: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Negative control for the other direction: a fake that drifts from the spec is caught.
    fake, proxy = through_prism
    original = fake._store_obj
    monkeypatch.setattr(
        fake, "_store_obj", lambda store: {k: v for k, v in original(store).items() if k != "file_counts"}
    )
    answer = httpx2.post(
        f"{proxy}/vector_stores", json={"name": "x"}, headers={"Authorization": f"Bearer {fake.api_key}"}
    )
    assert answer.status_code >= 500 and "file_counts" in answer.text
