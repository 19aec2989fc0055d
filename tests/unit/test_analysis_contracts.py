"""Request bodies against OpenAI's official OpenAPI description; strict schemas; the pack schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from refinery.analysis.pack import pack_json_schema
from refinery.analysis.requests import ModelOptions, build_canary_request, build_stage_request, is_reasoning_model
from refinery.analysis.schemas import STAGE_MODELS, Citation, Evidence, TraceAnalysis, strict_json_schema
from refinery.analysis.stages import STAGES, build_stage_call, check_citations, prompts_version
from refinery.pipeline import prepare
from refinery.trace.files import load_trace_file
from tests.contracts import contract_errors

REPO = Path(__file__).resolve().parents[2]


def body_for(model: str, stage: str, *, store: str | None = "vs_abc") -> dict[str, Any]:
    return build_stage_request(
        options=ModelOptions(model=model),
        system_text="system",
        user_text="user",
        schema_name=stage,
        schema=strict_json_schema(STAGE_MODELS[stage]),
        max_output_tokens=4000,
        vector_store_id=store,
        metadata={"refinery_stage": stage},
    )


@pytest.mark.parametrize("model", ["gpt-5-mini", "o4-mini", "gpt-4.1", "gpt-4o-mini"])
@pytest.mark.parametrize("stage", list(STAGE_MODELS))
def test_stage_bodies_satisfy_create_response(model: str, stage: str) -> None:
    body = body_for(model, stage, store=None if stage == "synthesis" else "vs_abc")
    assert contract_errors("CreateResponse", body) == []
    fmt = body["text"]["format"]
    assert set(fmt) == {"type", "name", "schema", "strict"} and fmt["type"] == "json_schema" and fmt["strict"] is True
    assert body["input"][0] == {"role": "user", "content": "user"}
    if is_reasoning_model(model):
        assert body["reasoning"] == {"effort": "medium"} and "temperature" not in body and body["background"] is True
    else:
        assert "reasoning" not in body and body["temperature"] == 0.2 and "background" not in body


def test_file_search_tool_shape_and_citations_include() -> None:
    body = body_for("gpt-4.1", "diagnosis")
    assert body["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_abc"], "max_num_results": 8}]
    assert body["include"] == ["file_search_call.results"]
    no_tools = body_for("gpt-4.1", "synthesis", store=None)
    assert "tools" not in no_tools and "include" not in no_tools


@pytest.mark.parametrize("model", ["gpt-5", "gpt-4.1"])
def test_canary_body_satisfies_the_contract(model: str) -> None:
    body = build_canary_request(ModelOptions(model=model))
    assert contract_errors("CreateResponse", body) == []
    assert body["text"]["format"]["schema"]["properties"]["reply"]["enum"] == ["OK"]


def test_the_old_nested_shape_is_what_the_contract_rejects() -> None:
    # Negative control: the design notes' nested text.format.json_schema must fail the check.
    body = body_for("gpt-4.1", "synthesis", store=None)
    fmt = body["text"]["format"]
    body["text"]["format"] = {"type": "json_schema", "json_schema": {"name": fmt["name"], "schema": fmt["schema"]}}
    assert contract_errors("CreateResponse", body)


@pytest.mark.parametrize("name", list(STAGE_MODELS))
def test_strict_schemas_follow_the_strict_mode_rules(name: str) -> None:
    schema = strict_json_schema(STAGE_MODELS[name])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert "default" not in node
            if node.get("type") == "object":
                assert node["additionalProperties"] is False
                assert sorted(node["required"]) == sorted(node["properties"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


def test_optional_fields_are_nullable_and_required() -> None:
    schema = strict_json_schema(STAGE_MODELS["diagnosis"])
    reason = schema["properties"]["inconclusive_reason"]
    assert {"type": "null"} in reason["anyOf"] and "inconclusive_reason" in schema["required"]


def test_citation_check_drops_unknown_and_fixes_misfiled_ids() -> None:
    prepared = prepare(load_trace_file(REPO / "examples" / "rate-limit-cascade.json"))
    output = TraceAnalysis(
        timeline=[],
        events=[],
        coverage={"files_scanned": [], "remaining": []},  # type: ignore[arg-type]
        evidence=[
            Evidence(file="trace.md", section="R0004", rationale="real"),
            Evidence(file="evals.md", section="F01", rationale="misfiled"),
            Evidence(file="trace.md", section="R0999", rationale="invented"),
        ],
    )
    checked, report = check_citations(output, prepared.documents)
    assert [(e.file, e.section) for e in checked.evidence] == [("trace.md", "R0004"), ("triage.md", "F01")]
    assert (report.checked, report.dropped, report.corrected) == (3, 1, 1)
    assert [(e.file, e.section) for e in output.evidence][1] == ("evals.md", "F01")  # the input is not mutated
    assert Citation(file="trace.md", section="R0001").section == "R0001"


def test_every_stage_prompt_renders_without_leftover_placeholders() -> None:
    prepared = prepare(load_trace_file(REPO / "examples" / "wrong-answer.json"))
    for spec in STAGES:
        call = build_stage_call(spec, prepared.trace, prepared.triage, prepared.documents, {})
        assert "$" not in call.user_text.replace("$129", ""), spec.key
        assert call.use_documents is (spec.key != "synthesis")
    assert prompts_version()


def test_published_pack_schema_matches_the_models() -> None:
    from refinery.analysis.pack import SCHEMA_VERSION

    name = f"hypothesis-pack-{SCHEMA_VERSION}.json"
    published = json.loads((REPO / "schemas" / name).read_text())
    assert published == pack_json_schema(), f"run `refinery schema > schemas/{name}`"
    assert pack_json_schema()["$id"].endswith(name)


def test_every_older_pack_is_a_valid_current_pack() -> None:
    from jsonschema import Draft202012Validator

    from refinery.analysis.orchestrator import offline_result
    from refinery.analysis.pack import HypothesisPack

    pack = (
        offline_result(prepare(load_trace_file(REPO / "examples" / "wrong-answer.json"))).pack().model_dump(mode="json")
    )
    old = {k: v for k, v in pack.items() if k != "groups"} | {"schema_version": "1.0"}
    old["trace"] = {k: v for k, v in old["trace"].items() if k != "name"}
    schema_1_0 = json.loads((REPO / "schemas" / "hypothesis-pack-1.0.json").read_text())
    schema_1_1 = json.loads((REPO / "schemas" / "hypothesis-pack-1.1.json").read_text())
    schema_1_2 = json.loads((REPO / "schemas" / "hypothesis-pack-1.2.json").read_text())
    schema_1_3 = json.loads((REPO / "schemas" / "hypothesis-pack-1.3.json").read_text())
    schema_1_4 = json.loads((REPO / "schemas" / "hypothesis-pack-1.4.json").read_text())
    schema_1_5 = json.loads((REPO / "schemas" / "hypothesis-pack-1.5.json").read_text())
    assert not list(Draft202012Validator(schema_1_0).iter_errors(old))  # a pack as 1.0 wrote it
    assert not list(Draft202012Validator(schema_1_1).iter_errors(old))  # is still a valid 1.1 pack
    assert not list(Draft202012Validator(schema_1_2).iter_errors(old))  # and a valid 1.2 pack
    assert HypothesisPack.model_validate(old).groups == []
    as_1_1 = {k: v for k, v in pack.items() if k not in ("selection",)} | {"schema_version": "1.1"}
    assert not list(Draft202012Validator(schema_1_1).iter_errors(as_1_1))  # a pack as 1.1 wrote it
    assert not list(Draft202012Validator(schema_1_2).iter_errors(as_1_1))
    assert not list(Draft202012Validator(schema_1_3).iter_errors(as_1_1))
    as_1_2 = json.loads(json.dumps(pack)) | {"schema_version": "1.2"}
    for key in ("selection",):
        if as_1_2.get(key):
            as_1_2[key].pop("verdict", None)
    assert not list(Draft202012Validator(schema_1_2).iter_errors(as_1_2))  # a pack as 1.2 wrote it
    assert not list(Draft202012Validator(schema_1_3).iter_errors(as_1_2))  # is a valid 1.3 pack
    assert not list(Draft202012Validator(schema_1_4).iter_errors(as_1_2))  # and a valid 1.4 pack
    as_1_3 = json.loads(json.dumps(pack)) | {"schema_version": "1.3"}
    as_1_3.pop("triage_agreement", None)
    as_1_3["triage"].pop("checked", None)
    if as_1_3["triage"]["origin"]:
        for key in ("basis", "confidence", "precision", "evidence", "symptom_section"):
            as_1_3["triage"]["origin"].pop(key, None)
    assert not list(Draft202012Validator(schema_1_3).iter_errors(as_1_3))  # a pack as 1.3 wrote it
    assert not list(Draft202012Validator(schema_1_4).iter_errors(as_1_3))  # is a valid 1.4 pack
    as_1_4 = {k: v for k, v in json.loads(json.dumps(pack)).items() if k not in ("fixes", "fix_notes")}
    as_1_4["schema_version"] = "1.4"
    assert not list(Draft202012Validator(schema_1_4).iter_errors(as_1_4))  # a pack as 1.4 wrote it
    assert not list(Draft202012Validator(schema_1_5).iter_errors(as_1_4))  # is a valid 1.5 pack
    schema_1_6 = json.loads((REPO / "schemas" / "hypothesis-pack-1.6.json").read_text())
    as_1_5 = json.loads(json.dumps(pack)) | {"schema_version": "1.5"}
    as_1_5["triage"].pop("agent", None)
    assert not list(Draft202012Validator(schema_1_5).iter_errors(as_1_5))  # a pack as 1.5 wrote it
    assert not list(Draft202012Validator(schema_1_6).iter_errors(as_1_5))  # is a valid 1.6 pack
    schema_1_7 = json.loads((REPO / "schemas" / "hypothesis-pack-1.7.json").read_text())
    as_1_6 = json.loads(json.dumps(pack)) | {"schema_version": "1.6"}
    assert not list(Draft202012Validator(schema_1_6).iter_errors(as_1_6))  # a pack as 1.6 wrote it
    assert not list(Draft202012Validator(schema_1_7).iter_errors(as_1_6))  # is a valid 1.7 pack
    schema_1_8 = json.loads((REPO / "schemas" / "hypothesis-pack-1.8.json").read_text())
    as_1_7 = json.loads(json.dumps(pack)) | {"schema_version": "1.7"}
    assert not list(Draft202012Validator(schema_1_7).iter_errors(as_1_7))  # a pack as 1.7 wrote it
    assert not list(Draft202012Validator(schema_1_8).iter_errors(as_1_7))  # is a valid 1.8 pack
    schema_1_9 = json.loads((REPO / "schemas" / "hypothesis-pack-1.9.json").read_text())
    as_1_8 = json.loads(json.dumps(pack)) | {"schema_version": "1.8"}
    if as_1_8["triage"].get("agent"):
        as_1_8["triage"]["agent"].pop("answer", None)
    assert not list(Draft202012Validator(schema_1_8).iter_errors(as_1_8))  # a pack as 1.8 wrote it
    assert not list(Draft202012Validator(schema_1_9).iter_errors(as_1_8))  # is a valid 1.9 pack
    assert not list(Draft202012Validator(schema_1_9).iter_errors(pack))


def test_stage_digests_respect_their_limits_whatever_the_output_size() -> None:
    from benchmarks.stages import _big_outputs
    from refinery.analysis.schemas import Diagnosis, GapAnalysis
    from refinery.analysis.stages import DIGEST_LIMITS, compact_diagnosis, compact_gaps, compact_trace_analysis

    stage1, stage2, stage3, _ = _big_outputs()
    analysis = TraceAnalysis.model_validate(stage1)
    gaps = GapAnalysis.model_validate(stage2)
    diagnosis = Diagnosis.model_validate(stage3)
    for limits in DIGEST_LIMITS.values():
        for key, limit in limits.items():
            text = {
                "previous": compact_trace_analysis(analysis, limit),
                "gaps": compact_gaps(gaps, limit),
                "diagnosis": compact_diagnosis(diagnosis, limit),
            }[key]
            assert len(text) <= limit + 20 and text.endswith("more)")
