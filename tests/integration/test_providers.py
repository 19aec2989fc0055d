"""The four stages on Anthropic, Gemini and an OpenAI-compatible server (real SDKs, loopback fakes);
the fallback chain, per-stage providers, and the inline packer."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.synthetic import synthetic_runs
from refinery.analysis.orchestrator import analyze
from refinery.analysis.packing import estimate_tokens, pack_documents
from refinery.errors import ConfigError, StageOutputError
from refinery.pipeline import prepare
from refinery.trace.files import load_trace_file
from refinery.trace.files.langsmith_export import load_langsmith
from refinery.wiring import build_analysis_provider, load_settings
from tests.fakes import openai_api as F
from tests.fakes.llm_apis import FakeAnthropic, FakeGemini
from tests.fakes.openai_api import FakeOpenAI

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rate-limit-cascade.json"
PROVIDERS = ["anthropic", "gemini", "openai-compatible"]


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with FakeAnthropic() as anthropic, FakeGemini() as gemini, FakeOpenAI() as openai:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.url)
        monkeypatch.setenv("GEMINI_BASE_URL", gemini.url)
        yield {"anthropic": anthropic, "gemini": gemini, "openai-compatible": openai, "openai": openai}


def settings_for(fakes: dict[str, Any], provider: str, **extra: Any) -> Any:
    env = {
        "ANTHROPIC_API_KEY": fakes["anthropic"].api_key,
        "ANTHROPIC_BASE_URL": fakes["anthropic"].url,
        "GEMINI_BASE_URL": fakes["gemini"].url,
        "GEMINI_API_KEY": fakes["gemini"].api_key,
        "REFINERY_COMPATIBLE_BASE_URL": fakes["openai"].url + "/v1",
        "REFINERY_COMPATIBLE_API_KEY": fakes["openai"].api_key,
        "REFINERY_COMPATIBLE_MODEL": "llama-3.3-70b",
        "OPENAI_API_KEY": fakes["openai"].api_key,
        "OPENAI_BASE_URL": fakes["openai"].url + "/v1",
        "REFINERY_MODEL": "gpt-4.1",
        "REFINERY_PROVIDER": provider,
    }
    return load_settings(env, {"openai_max_retries": 2, **extra})


def run(fakes: dict[str, Any], provider: str, **extra: Any) -> Any:
    return analyze(prepare(load_trace_file(EXAMPLE)), build_analysis_provider(settings_for(fakes, provider, **extra)))


def calls(fake: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in fake.requests
        if r["method"] == "POST"
        and "/files" not in r["path"]
        and "vector_stores" not in r["path"]
        and r["path"] != "/responses"
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_valid_outputs_on_every_provider(fakes: dict[str, Any], provider: str) -> None:
    result = run(fakes, provider)
    assert result.error is None, result.error
    assert [s.provider for s in result.stages] == [provider] * 4
    assert result.synthesis is not None and result.synthesis.hypotheses
    bodies = [c["body"] for c in calls(fakes[provider])]
    assert len(bodies) == 4
    first = json.dumps(bodies[0], ensure_ascii=False)
    assert "## R0004 · tool · search_flights" in first  # the documents are inline
    assert "Every section of every document is included" in first
    assert "## R0004" not in json.dumps(bodies[3])  # synthesis reads digests only
    assert result.stages[0].citations.dropped == 1  # citations are checked as on OpenAI


def test_anthropic_forces_the_stage_tool(fakes: dict[str, Any]) -> None:
    run(fakes, "anthropic")
    body = calls(fakes["anthropic"])[0]["body"]
    assert body["tool_choice"] == {"type": "tool", "name": "trace_analysis"}
    [tool] = body["tools"]
    assert tool["name"] == "trace_analysis" and tool["input_schema"]["additionalProperties"] is False


def test_gemini_asks_for_json_with_a_schema(fakes: dict[str, Any]) -> None:
    run(fakes, "gemini")
    body = calls(fakes["gemini"])[0]["body"]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and "responseSchema" in config
    assert body["systemInstruction"]["parts"][0]["text"].startswith("You are Refinery")


def test_compatible_server_without_json_schema_falls_back_to_json_mode(fakes: dict[str, Any]) -> None:
    fakes["openai"].json_schema_unsupported = True
    result = run(fakes, "openai-compatible")
    assert result.error is None
    bodies = [c["body"] for c in calls(fakes["openai"])]
    assert bodies[0]["response_format"]["type"] == "json_schema"
    assert all(b["response_format"] == {"type": "json_object"} for b in bodies[1:])
    assert "matching this JSON Schema" in bodies[1]["messages"][0]["content"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_invalid_then_valid_re_asks_once(fakes: dict[str, Any], provider: str) -> None:
    fakes[provider].script(F.raw_text("not json at all"))
    result = run(fakes, provider)
    assert result.error is None and result.stages[0].attempts == 2
    reask = json.dumps(calls(fakes[provider])[1]["body"])
    assert "does not match the required JSON schema" in reask and "invalid JSON" in reask


@pytest.mark.parametrize("provider", PROVIDERS)
def test_schema_violation_twice_is_a_typed_error(fakes: dict[str, Any], provider: str) -> None:
    bad = {"timeline": "not a list"}
    fakes[provider].script(F.reply(bad), F.reply(bad))
    result = run(fakes, provider)
    assert isinstance(result.error, StageOutputError) and result.error.attempts == 2
    assert result.error.stage == "trace_analysis" and json.loads(result.error.raw_text) == bad


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_then_success_uses_the_sdks_retries(fakes: dict[str, Any], provider: str) -> None:
    fakes[provider].script(F.http_error(429, "rate_limit_exceeded", **{"retry-after": "0"}))
    result = run(fakes, provider)
    assert result.error is None
    assert len(calls(fakes[provider])) == 5


@pytest.mark.parametrize("provider", PROVIDERS)
def test_truncated_reply_gets_a_larger_limit(fakes: dict[str, Any], provider: str) -> None:
    fakes[provider].script(F.incomplete())
    result = run(fakes, provider)
    assert result.error is None
    first, second = (json.dumps(c["body"]) for c in calls(fakes[provider])[:2])
    assert "4000" in first and "8000" in second


@pytest.mark.parametrize(
    "provider,fallback", [("anthropic", "gemini"), ("gemini", "openai-compatible"), ("openai-compatible", "anthropic")]
)
def test_a_failing_provider_falls_back_to_the_next(fakes: dict[str, Any], provider: str, fallback: str) -> None:
    fakes[provider].script(*[F.http_error(500, "server_error")] * 3)  # beyond the SDK's 2 retries
    result = run(fakes, provider, fallback=fallback)
    assert result.error is None
    assert [s.provider for s in result.stages] == [fallback, provider, provider, provider]
    assert any("falling back to" in w for w in result.warnings)
    pack = result.pack()
    assert pack.stages[0].provider == fallback


def test_per_stage_provider(fakes: dict[str, Any]) -> None:
    result = run(fakes, "openai", stage_providers="diagnosis=anthropic,synthesis=gemini")
    assert result.error is None
    assert [s.provider for s in result.stages] == ["openai", "openai", "anthropic", "gemini"]
    assert fakes["openai"].stores == {}  # the vector store was still cleaned up


def test_a_missing_key_or_extra_says_what_to_do(fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Chosen explicitly without its key: refused when the settings are read, naming the variable.
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        load_settings({"REFINERY_PROVIDER": "anthropic"})
    # Chosen as a stage's provider, the key is asked for when that provider is built.
    settings = load_settings({"OPENAI_API_KEY": "sk-test", "REFINERY_STAGE_PROVIDERS": "diagnosis=anthropic"})
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        build_analysis_provider(settings)
    monkeypatch.setitem(sys.modules, "anthropic", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"refinery-action\[anthropic\]"):
        build_analysis_provider(settings_for(fakes, "anthropic"))


def test_packer_puts_the_origin_first_and_lists_what_it_left_out() -> None:
    prepared = prepare(load_trace_file(EXAMPLE))
    pack = pack_documents(prepared.trace, prepared.triage, prepared.documents, budget_tokens=900)
    assert pack.tokens <= 900 + 200  # the document wrappers are small
    assert "trace.md#R0004" in pack.included and "triage.md#F01" in pack.included  # the origin and the findings
    assert pack.omitted and "trace.md#R0003" in pack.omitted  # the model call that did not fail gives way
    assert "NOT included" in pack.coverage_note and pack.omitted[0] in pack.coverage_note


@pytest.mark.needs_shared
def test_packer_stays_within_budget_on_who_and_when(who_and_when: list[Path]) -> None:
    for path in who_and_when:
        prepared = prepare(load_trace_file(path))
        for budget in (8_000, 32_000):
            pack = pack_documents(prepared.trace, prepared.triage, prepared.documents, budget)
            assert pack.tokens <= budget * 1.02 + 200, (path.name, budget, pack.tokens)


def test_packer_stays_within_budget_on_a_25000_run_trace() -> None:
    trace = load_langsmith(synthetic_runs(25_000))[0]
    prepared = prepare(trace)
    pack = pack_documents(prepared.trace, prepared.triage, prepared.documents, 100_000)
    assert estimate_tokens(pack.text) <= 100_000 * 1.02 + 200
    triage_ids = [f"triage.md#{f.id}" for f in prepared.triage.findings]
    assert pack.omitted and set(triage_ids) <= set(pack.included)
    origin = prepared.triage.origin
    assert origin is not None and f"trace.md#{origin.section}" in pack.included
