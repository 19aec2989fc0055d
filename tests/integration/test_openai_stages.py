"""The four stages with the real openai SDK against the fake OpenAI API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from refinery.analysis.orchestrator import analyze
from refinery.cli import cli
from refinery.errors import ProviderQuotaError, ProviderTimeout, StageOutputError, VectorStoreError
from refinery.pipeline import prepare
from refinery.report.artifacts import write_artifacts
from refinery.trace.files import load_trace_file
from refinery.wiring import build_analysis_provider, load_settings
from tests.fakes import openai_api as F
from tests.fakes.openai_api import FakeOpenAI

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rate-limit-cascade.json"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def provider_for(fake: FakeOpenAI, model: str = "gpt-4.1", **overrides: Any) -> Any:
    settings = load_settings(
        {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.url + "/v1", "REFINERY_MODEL": model},
        {
            "openai_max_retries": 2,
            "stage_timeout_s": overrides.pop("stage_timeout_s", 900.0),
            "store_timeout_s": overrides.pop("store_timeout_s", 300.0),
        },
    )
    provider = build_analysis_provider(settings, **overrides)
    provider._sleep = lambda s: None  # polling waits are the fake's poll-after header (0 ms) anyway
    provider._stores._sleep = lambda s: None
    return provider


def run(fake: FakeOpenAI, model: str = "gpt-4.1", **overrides: Any) -> Any:
    prepared = prepare(load_trace_file(EXAMPLE))
    return analyze(prepared, provider_for(fake, model, **overrides))


def posts(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return fake.response_bodies()


def test_full_run_produces_four_validated_stages_and_cleans_up(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    result = run(fake_openai)
    assert result.error is None and result.status == "complete"
    assert [(s.stage, s.status, s.attempts) for s in result.stages] == [
        ("trace_analysis", "ok", 1),
        ("gap_analysis", "ok", 1),
        ("diagnosis", "ok", 1),
        ("synthesis", "ok", 1),
    ]
    bodies = posts(fake_openai)
    assert [b["text"]["format"]["name"] for b in bodies] == ["trace_analysis", "gap_analysis", "diagnosis", "synthesis"]
    assert all("tools" in b for b in bodies[:3]) and "tools" not in bodies[3]
    store_id = bodies[0]["tools"][0]["vector_store_ids"][0]
    # the store was named after the trace, filled as one batch with attributes, then deleted with its files
    create = next(r for r in fake_openai.requests if r["path"] == "/vector_stores")["body"]
    assert create["expires_after"] == {"anchor": "last_active_at", "days": 1}
    assert result.prepared.trace.id in create["name"]
    batch = next(r for r in fake_openai.requests if r["path"].endswith("/file_batches"))["body"]
    assert sorted(f["attributes"]["file"] for f in batch["files"]) == [
        "evals.md",
        "prompts.md",
        "trace.md",
        "triage.md",
    ]
    assert fake_openai.stores == {} and fake_openai.files == {}
    assert ("DELETE", f"/vector_stores/{store_id}") in [(r["method"], r["path"]) for r in fake_openai.requests]
    # the invented citation R9999 was dropped and counted; real ones kept
    stage1 = result.stages[0]
    assert stage1.citations.dropped == 1 and stage1.citations.checked == 2
    assert [e["section"] for e in stage1.output["evidence"]] == ["R0004"]
    # usage and cost recorded per stage
    assert all(s.usage.input_tokens > 0 and s.cost_usd is not None for s in result.stages)
    artifacts = write_artifacts(result, tmp_path)
    pack = json.loads(artifacts.pack.read_text())
    assert pack["status"] == "complete" and pack["schema_version"] == "1.9"
    assert [g["trace_ids"] for g in pack["groups"]] == [[pack["trace"]["id"]]]
    assert pack["hypotheses"][0]["proposed_change"]["kind"] == "code"
    assert pack["prompts_version"] and all(s["prompts_version"] == pack["prompts_version"] for s in pack["stages"])
    assert sorted(p.name for p in artifacts.stages) == ["stage1.json", "stage2.json", "stage3.json", "stage4.json"]
    report = artifacts.report.read_text()
    assert report.index("## Fix hypotheses") < report.index("## Findings")  # synthesis on top of triage


def test_each_stage_feeds_the_next_compactly(fake_openai: FakeOpenAI) -> None:
    run(fake_openai)
    bodies = posts(fake_openai)
    stage2_text = bodies[1]["input"][0]["content"]
    assert "- tool_failure at R0004: The tool failed." in stage2_text
    assert "- evidence trace.md#R0004: the failing call" in stage2_text
    assert "R9999" not in stage2_text  # dropped citations never reach the next stage
    stage4_text = bodies[3]["input"][0]["content"]
    assert "the search tool was rate limited" in stage4_text and "Answer the question" in stage4_text
    assert "F01 critical Rate Limiting at R0004" in bodies[0]["input"][0]["content"]


def test_invalid_json_then_valid_re_asks_once_with_the_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(F.raw_text('{"timeline": ['))
    result = run(fake_openai)
    assert result.error is None and result.stages[0].attempts == 2
    reask = posts(fake_openai)[1]
    assert reask["input"][1] == {"role": "assistant", "content": '{"timeline": ['}
    assert "invalid JSON" in reask["input"][2]["content"]


def test_schema_violation_twice_is_a_typed_error_and_keeps_the_triage(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    bad = {"timeline": [], "events": [], "coverage": {"files_scanned": []}, "evidence": []}
    fake_openai.script(F.reply(bad), F.reply(bad))
    result = run(fake_openai)
    assert isinstance(result.error, StageOutputError)
    assert result.error.stage == "trace_analysis" and result.error.attempts == 2
    assert json.loads(result.error.raw_text) == bad
    assert "coverage.remaining: Field required" in str(result.error)
    assert [s.status for s in result.stages] == ["failed", "skipped", "skipped", "skipped"]
    assert fake_openai.stores == {}  # cleaned up on failure too
    artifacts = write_artifacts(result, tmp_path)
    report = artifacts.report.read_text()
    assert "The model analysis stopped at trace_analysis" in report and "## Findings" in report
    pack = json.loads(artifacts.pack.read_text())
    assert pack["status"] == "partial" and "trace_analysis" in pack["error"]


def test_429_then_success_is_retried_by_the_sdk(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(F.http_error(429, "rate_limit_exceeded", **{"retry-after-ms": "5"}))
    result = run(fake_openai)
    assert result.error is None
    assert len(posts(fake_openai)) == 5  # 1 refused + 4 stages


def test_insufficient_quota_fails_fast(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(*[F.http_error(429, "insufficient_quota", "You exceeded your current quota")] * 3)
    result = run(fake_openai)
    assert isinstance(result.error, ProviderQuotaError)
    assert "insufficient_quota" in str(result.error) and "retrying cannot help" in str(result.error)
    assert len(posts(fake_openai)) == 1  # no retry


def test_incomplete_gets_one_retry_with_a_larger_limit(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(F.incomplete())
    result = run(fake_openai)
    assert result.error is None
    first, second = posts(fake_openai)[:2]
    assert second["max_output_tokens"] == 2 * first["max_output_tokens"]


def test_incomplete_twice_is_an_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(F.incomplete(), F.incomplete())
    result = run(fake_openai)
    assert result.error is not None and "stayed cut off by the output limit on openai" in str(result.error)
    first, second = posts(fake_openai)[:2]
    assert second["max_output_tokens"] == 2 * first["max_output_tokens"]


def test_background_mode_for_reasoning_models_polls_until_done(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(F.Step("auto", polls=3))
    result = run(fake_openai, model="gpt-5-mini")
    assert result.error is None
    body = posts(fake_openai)[0]
    assert body["background"] is True and body["store"] is True
    assert body["reasoning"] == {"effort": "medium"} and "temperature" not in body
    retrieves = [r for r in fake_openai.requests if r["method"] == "GET" and r["path"].startswith("/responses/")]
    assert len(retrieves) >= 4 + 3


def test_failed_background_job_is_an_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(F.failed_job())
    result = run(fake_openai, model="o4-mini")
    assert result.error is not None and "failed on OpenAI's side (server_error" in str(result.error)


def test_a_job_that_never_completes_is_cancelled_at_the_deadline(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(F.never_completes())
    result = run(fake_openai, model="gpt-5", stage_timeout_s=0.3)
    assert isinstance(result.error, ProviderTimeout)
    cancels = [r for r in fake_openai.requests if r["path"].endswith("/cancel") and r["path"].startswith("/responses")]
    assert len(cancels) == 1
    assert next(iter(fake_openai.responses.values()))["status"] == "cancelled"


def test_a_failed_file_names_the_file_and_its_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_file = "trace.md"
    result = run(fake_openai)
    assert isinstance(result.error, VectorStoreError)
    assert "trace.md: unsupported_file: The file could not be parsed." in str(result.error)
    assert fake_openai.stores == {} and fake_openai.files == {}


def test_a_store_that_never_finishes_times_out_and_is_cleaned_up(fake_openai: FakeOpenAI) -> None:
    fake_openai.batch_never_completes = True
    result = run(fake_openai, store_timeout_s=0.2)
    assert isinstance(result.error, VectorStoreError) and "not ready after 0.2 s" in str(result.error)
    assert any(r["path"].endswith("/cancel") for r in fake_openai.requests)
    assert fake_openai.stores == {} and fake_openai.files == {}


def test_keep_store_and_store_id_reuse(fake_openai: FakeOpenAI) -> None:
    kept = run(fake_openai, keep_store=True)
    assert kept.error is None and kept.store_id in fake_openai.stores
    assert any("--keep-store" in w for w in kept.warnings)
    uploads = sum(1 for r in fake_openai.requests if r["path"] == "/files")
    prepared = prepare(load_trace_file(EXAMPLE))
    reused = analyze(prepared, provider_for(fake_openai), store_id=kept.store_id)
    assert reused.error is None
    assert sum(1 for r in fake_openai.requests if r["path"] == "/files") == uploads  # nothing uploaded again
    assert kept.store_id in fake_openai.stores  # a store we were given is never deleted


def invoke(args: list[str], fake: FakeOpenAI, **env: str) -> Any:
    base = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
    return CliRunner().invoke(cli, args, env={**base, **env}, catch_exceptions=False)


def test_cli_canary_ok_and_wrong_key(fake_openai: FakeOpenAI) -> None:
    ok = invoke(["canary"], fake_openai)
    assert ok.exit_code == 0 and ok.stdout.startswith("ok: gpt-4.1 answered 'OK'")
    body = posts(fake_openai)[0]
    assert body["text"]["format"]["name"] == "canary" and body["max_output_tokens"] >= 16
    bad = invoke(["canary"], fake_openai, OPENAI_API_KEY="sk-wrong-key-000000000000000000")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: OpenAI rejected the API key") and bad.stderr.count("\n") == 1
    assert "sk-wrong-key" not in bad.stderr


def test_cli_init_then_analyze_with_store_id(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    manifest = tmp_path / "store.json"
    done = invoke(["init", "--trace-file", str(EXAMPLE), "--manifest", str(manifest)], fake_openai)
    assert done.exit_code == 0, done.stderr
    store_id = done.stdout.strip()
    assert store_id in fake_openai.stores
    data = json.loads(manifest.read_text())
    assert data["store_id"] == store_id and len(data["files"]) == 4
    out = tmp_path / "out"
    done = invoke(["analyze", "--trace-file", str(EXAMPLE), "--store-id", store_id, "--out", str(out)], fake_openai)
    assert done.exit_code == 0, done.stderr
    assert "(4 findings, complete)" in done.stdout
    assert "stage 4/4 synthesis: done" in done.stderr
    assert store_id in fake_openai.stores


def test_cli_analyze_exits_non_zero_when_a_stage_fails_but_writes_the_report(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.script(*[F.http_error(429, "insufficient_quota")] * 2)
    out = tmp_path / "out"
    done = invoke(["analyze", "--trace-file", str(EXAMPLE), "--out", str(out)], fake_openai)
    assert done.exit_code == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: OpenAI has no quota left")
    assert "(4 findings, partial)" in done.stdout
    assert "## Findings" in (out / "report.md").read_text()
