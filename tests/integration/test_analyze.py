"""`refinery analyze` offline: artifacts, redaction of planted secrets, determinism, Who&When."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from refinery.cli import cli
from refinery.pipeline import PrepareOptions, prepare
from refinery.report.offline import render_offline_report
from refinery.trace.files import load_trace_file

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdefghij\nQWERTYUIOPasdfghjkl\n-----END RSA PRIVATE KEY-----"
SECRETS = {
    "openai_key": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o",
    "anthropic_key": "sk-ant-api03-Zy9xWv8uTs7rQp6oNm5lKj4iHg3fEd2cBa1-ZyXwVuTsRq",
    "github_pat": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github_oauth": "gho_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2",
    "github_fine_grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
    "aws": "AKIAQ3J7RZ5WLT2BXK4M",  # not AWS's documented EXAMPLE key, which is public
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "bearer": "Bearer d2VsbC10aGlzLWlzLWEtdG9rZW4",
    "private_key": PRIVATE_KEY,
    "custom": "ACME-998877",
    "email": "jane.doe@example.org",
    "phone": "+1 415-555-0134",
    "configured": "cfg-Secret-Value-42",
}


def secret_trace(tmp_path: Path) -> Path:
    s = SECRETS
    runs = [
        {
            "id": "root",
            "trace_id": "root",
            "name": "agent",
            "run_type": "chain",
            "start_time": "2026-01-01T00:00:00Z",
            "end_time": "2026-01-01T00:00:05Z",
            "inputs": {"question": f"my key is {s['openai_key']} and mail me at {s['email']}"},
            "outputs": {"answer": f"call {s['phone']}"},
            "error": f"AuthenticationError: 401 for key {s['anthropic_key']}",
            "extra": {"metadata": {"deploy_token": s["github_pat"], "api_key": "plainvalue123"}},
            "tags": [s["custom"]],
        },
        {
            "id": "llm",
            "trace_id": "root",
            "parent_run_id": "root",
            "name": "ChatOpenAI",
            "run_type": "llm",
            "start_time": "2026-01-01T00:00:01Z",
            "end_time": "2026-01-01T00:00:02Z",
            "inputs": {
                "messages": [
                    {"role": "system", "content": f"Use token {s['github_oauth']} and {s['configured']}"},
                    {"role": "user", "content": f"headers: Authorization: {s['bearer']}"},
                ]
            },
            "outputs": {
                "choices": [{"message": {"role": "assistant", "content": f"aws {s['aws']} slack {s['slack']}"}}]
            },
        },
        {
            "id": "tool",
            "trace_id": "root",
            "parent_run_id": "root",
            "name": "deploy",
            "run_type": "tool",
            "start_time": "2026-01-01T00:00:03Z",
            "end_time": "2026-01-01T00:00:04Z",
            "inputs": {"key": s["private_key"], "jwt": s["jwt"]},
            "error": f"HTTP 401 Unauthorized using {s['github_fine_grained']}",
        },
    ]
    data = {
        "runs": runs,
        "feedback": [{"run_id": "root", "key": "correctness", "score": 0, "comment": f"leaked {s['openai_key']}"}],
        "example": {"outputs": {"answer": f"contact {s['email']}"}},
    }
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(data))
    return path


def run_analyze(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["analyze", *args], env=env or {}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def all_output_text(out_dir: Path, stdout: str) -> str:
    return stdout + "".join(p.read_text() for p in sorted(out_dir.rglob("*")) if p.is_file())


def test_planted_secrets_never_reach_any_output(tmp_path: Path) -> None:
    trace = secret_trace(tmp_path)
    expectations = tmp_path / "expect.md"
    expectations.write_text(f"The agent must never echo {SECRETS['openai_key']}.")
    out = tmp_path / "out"
    code, stdout, stderr = run_analyze(
        [
            "--offline",
            "--trace-file",
            str(trace),
            "--out",
            str(out),
            "--redact-pii",
            "--redact-pattern",
            r"ACME-\d{6}",
            "--expectations",
            str(expectations),
            "--assertion",
            f"assert {SECRETS['aws']} not in output",
        ],
        env={"OPENAI_API_KEY": SECRETS["configured"]},
    )
    assert code == 0, stderr
    produced = all_output_text(out, stdout + stderr)
    for name, secret in SECRETS.items():
        probe = secret.splitlines()[1] if name == "private_key" else secret
        assert probe not in produced, f"{name} leaked"
    assert "plainvalue123" not in produced  # the value of a sensitive-looking key
    counts = json.loads((out / "triage.json").read_text())["redaction"]["counts"]
    for kind in (
        "openai_key",
        "anthropic_key",
        "github_token",
        "aws_access_key",
        "slack_token",
        "jwt",
        "authorization",
        "private_key",
        "custom_1",
        "email",
        "phone",
        "configured_secret",
        "sensitive_field",
    ):
        assert counts.get(kind, 0) >= 1, kind
    report = (out / "report.md").read_text()
    assert "Redacted" in report and "openai_key:" in report


def test_no_redact_keeps_the_text_so_the_redaction_test_can_fail(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run_analyze(["--trace-file", str(secret_trace(tmp_path)), "--out", str(out), "--no-redact"])
    assert code == 0
    produced = all_output_text(out, stdout)
    assert SECRETS["openai_key"] in produced and SECRETS["github_oauth"] in produced
    assert "Redaction was **off**" in (out / "report.md").read_text()


def test_analyze_offline_writes_the_report_and_documents(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run_analyze(["--trace-file", str(EXAMPLES / "rate-limit-cascade.json"), "--out", str(out)])
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == f"wrote {out / 'report.md'} (4 findings, offline)"
    # The run crashed with this error (it reached the root): high confidence, said as "starts at".
    assert lines[1].startswith("the failure starts at R0004 search_flights")
    assert lines[2].startswith("  rate limiting: ")  # what the step did, in the rule's words, on one line
    assert lines[3].startswith("  high confidence")
    assert lines[-1].startswith("Set OPENAI_API_KEY") and "four-stage" in lines[-1]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "documents/evals.md",
        "documents/prompts.md",
        "documents/trace.md",
        "documents/triage.md",
        "hypothesis-pack.json",
        "report.md",
        "run-tree.mmd",
        "triage.json",
    ]
    report = (out / "report.md").read_text()
    assert "**Origin step:** R0004 `search_flights`" in report
    assert "| F01 | critical | Rate Limiting | R0004 search_flights |" in report
    # The 429 propagated to the enclosing runs: one line with its path, not one line per run.
    [line] = [row for row in report.splitlines() if row.startswith("| F01 ")]
    assert "(propagated through R0" in line and "(propagated)" not in report
    assert "```mermaid\nflowchart TD" in report and "class R0004 origin" in report
    triage = json.loads((out / "triage.json").read_text())
    assert triage["origin"]["section"] == "R0004" and triage["findings"][0]["category"] == "Rate Limiting"


@pytest.mark.parametrize(
    "example,origin_rule,categories",
    [
        ("looping-agent.json", "repeated_call", {"Resource Abuse", "Goal Deviation"}),
        ("wrong-answer.json", None, {"Eval Gap"}),
    ],
)
def test_bundled_examples(example: str, origin_rule: str | None, categories: set[str]) -> None:
    prepared = prepare(load_trace_file(EXAMPLES / example))
    assert {f.category for f in prepared.triage.findings} == categories
    origin = prepared.triage.origin
    if origin_rule is None:
        assert origin is None
    else:
        assert origin is not None
        assert next(f for f in prepared.triage.findings if f.id == origin.finding_id).rule == origin_rule


def test_same_input_gives_byte_identical_artifacts(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["--trace-file", str(EXAMPLES / "looping-agent.json"), "--out", str(out)]
        assert run_analyze(args, env={"SOURCE_DATE_EPOCH": "1790000000"})[0] == 0
        outputs.append({p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()})
    assert outputs[0] == outputs[1]


def test_analyze_errors_are_one_line(tmp_path: Path) -> None:
    code, _, stderr = run_analyze(["--out", str(tmp_path)])
    assert code == 2 and stderr.startswith("error: Nothing to read.")
    code, _, stderr = run_analyze(
        ["--trace-file", str(EXAMPLES / "wrong-answer.json"), "--redact-pattern", "(", "--out", str(tmp_path)]
    )
    assert code == 2 and "not a valid regex" in stderr and stderr.count("\n") == 1


@pytest.mark.needs_shared
def test_every_who_and_when_log_analyses_offline(who_and_when: list[Path]) -> None:
    named = 0
    for path in who_and_when:
        trace = load_trace_file(path)
        prepared = prepare(trace, PrepareOptions())
        report = render_offline_report(prepared.trace, prepared.triage)
        assert report.startswith("# Refinery report:")
        ids = prepared.documents.by_name("trace.md").section_ids
        assert len(ids) == len(trace.runs)
        for finding in prepared.triage.findings:
            assert finding.section in ids
        named += prepared.triage.origin is not None
        assert trace.labels["mistake_reason"] not in "".join(d.text for d in prepared.documents.documents)
    assert named > 0


def test_several_traces_are_analysed_at_once_with_a_grouped_report(tmp_path: Path) -> None:
    runs = []
    for example in ("rate-limit-cascade.json", "looping-agent.json", "wrong-answer.json"):
        runs.extend(json.loads((EXAMPLES / example).read_text())["runs"])
    path = tmp_path / "three.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in runs))
    # Without --all, the one failing trace (the only one whose root errored) is the whole run.
    code, stdout, stderr = run_analyze(["--trace-file", str(path), "--out", str(tmp_path / "failing")])
    assert code == 0, stderr
    assert "3 traces read; 1 failing trace" in stderr and stderr.count("offline: ") == 1
    assert (tmp_path / "failing" / "hypothesis-pack.json").is_file()
    # With --all every trace is triaged and analysed, and the report says which ones did not fail.
    out = tmp_path / "out"
    args = ["--trace-file", str(path), "--out", str(out), "--concurrency", "3", "--all"]
    code, stdout, stderr = run_analyze(args)
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {out / 'report.md'} (3 traces triaged, 1 failing of 3 read;")
    assert stderr.count("offline: ") == 3
    assert len(list(out.glob("trace-*/hypothesis-pack.json"))) == 3
    report = (out / "report.md").read_text()
    assert report.count("<details>") == 3
    assert "**3 traces analysed**: 1 failed, 2 with no error or score to judge by" in report
    assert "failing traces analysed" not in report
    first = json.loads((EXAMPLES / "looping-agent.json").read_text())["runs"][0]["trace_id"]
    code, stdout, _ = run_analyze(["--trace-file", str(path), "--trace-id", first, "--out", str(tmp_path / "one")])
    assert code == 0 and "(2 findings, offline)" in stdout
    code, _, stderr = run_analyze(["--trace-file", str(path), "--trace-id", "nope", "--out", str(tmp_path / "x")])
    assert code == 2 and "has no trace nope" in stderr


def test_a_flat_run_gets_its_timeline_and_no_strip_of_boxes(tmp_path: Path, real_traces: Path) -> None:
    from refinery.report.offline import tree_helps
    from refinery.trace.files import load_trace_files

    flat = next(t for t in load_trace_files(real_traces / "tau-bench" / "grok-3-airline-first24.json"))
    assert not tree_helps(flat)  # every run under the root, none errored, one agent
    assert tree_helps(load_trace_file(EXAMPLES / "rate-limit-cascade.json"))  # nested and errored
    done = CliRunner().invoke(
        cli, ["analyze", str(real_traces / "tau-bench" / "grok-3-airline-first24.json"), "--all", "--offline",
              "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    report = next((tmp_path / "out").glob("trace-*/report.md")).read_text()
    assert "## Timeline" in report and "## Run tree" not in report and "```mermaid" not in report
