"""`refinery chat` and `ask` on OpenAI (file_search, previous_response_id) and an inline provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from refinery.cli import cli
from tests.fakes.llm_apis import FakeAnthropic
from tests.fakes.openai_api import FakeOpenAI

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rate-limit-cascade.json"


def test_a_three_turn_chat_on_openai_carries_the_conversation(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        env = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.url + "/v1", "REFINERY_MODEL": "gpt-5-mini"}
        done = CliRunner().invoke(
            cli,
            ["chat", "--trace-file", str(EXAMPLE)],
            env=env,
            input="why did it fail?\nwhich tool?\nwhat should we change?\n\n",
            catch_exceptions=False,
        )
        bodies = fake.response_bodies()
        stores_left = dict(fake.stores)
    assert done.exit_code == 0, done.stderr
    assert done.stdout.count("The failure starts at [R0004]") == 3
    assert done.stdout.count("sources: R0004") == 3
    assert done.stderr.count("cited sections that do not exist were dropped: R9999") == 3
    assert len(bodies) == 3
    assert "previous_response_id" not in bodies[0]
    ids = [r for r in fake.responses]
    assert bodies[1]["previous_response_id"] == ids[0] and bodies[2]["previous_response_id"] == ids[1]
    assert all(b["store"] is True and b["tools"][0]["type"] == "file_search" for b in bodies)
    assert bodies[2]["input"] == [{"role": "user", "content": "Question: what should we change?"}]
    assert stores_left == {}  # the store made for the chat is deleted at the end


def test_ask_on_an_inline_provider_keeps_the_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        env = {"ANTHROPIC_API_KEY": fake.api_key, "REFINERY_PROVIDER": "anthropic"}
        done = CliRunner().invoke(
            cli, ["chat", "--trace-file", str(EXAMPLE)], env=env, input="one?\ntwo?\n\n", catch_exceptions=False
        )
        assert done.exit_code == 0, done.stderr
        second = [r["body"] for r in fake.requests][1]
        assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
        assert "## R0004" in second["messages"][0]["content"]  # the documents, once, in the first turn
        assert second["messages"][2]["content"] == "Question: two?"
        done = CliRunner().invoke(cli, ["ask", "why?", "--trace-file", str(EXAMPLE)], env=env, catch_exceptions=False)
    assert done.exit_code == 0 and "[R0004]" in done.stdout


def test_ask_needs_something_to_ask_about() -> None:
    done = CliRunner().invoke(cli, ["ask", "why?"], env={"OPENAI_API_KEY": "sk-x"})
    assert done.exit_code == 2 and "Nothing to ask about" in done.stderr


def test_ask_from_a_pack_of_a_file_trace_says_to_pass_the_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    CliRunner().invoke(cli, ["analyze", "--trace-file", str(EXAMPLE), "--out", str(out)], catch_exceptions=False)
    done = CliRunner().invoke(
        cli, ["ask", "why?", "--pack", str(out / "hypothesis-pack.json")], env={"OPENAI_API_KEY": "sk-x"}
    )
    assert done.exit_code == 2 and "--trace-file" in done.stderr
    assert json.loads((out / "hypothesis-pack.json").read_text())["trace"]["source"] == "file:langsmith"


def test_chat_from_a_pack_reuses_the_store_the_run_kept(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        env = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
        out = tmp_path / "out"
        done = CliRunner().invoke(
            cli,
            ["analyze", "--trace-file", str(EXAMPLE), "--out", str(out), "--keep-store"],
            env=env,
            catch_exceptions=False,
        )
        assert done.exit_code == 0, done.stderr
        pack = json.loads((out / "hypothesis-pack.json").read_text())
        assert pack["store_id"] in fake.stores
        uploads = sum(1 for r in fake.requests if r["path"] == "/files")
        done = CliRunner().invoke(
            cli, ["ask", "why?", "--pack", str(out / "hypothesis-pack.json")], env=env, catch_exceptions=False
        )
        assert done.exit_code == 0, done.stderr
        assert sum(1 for r in fake.requests if r["path"] == "/files") == uploads  # nothing uploaded again
        assert fake.response_bodies()[-1]["tools"][0]["vector_store_ids"] == [pack["store_id"]]
        assert pack["store_id"] in fake.stores  # a kept store is left alone
        assert "sources: " in done.stdout and "not checked" in done.stdout  # no local documents to check against
