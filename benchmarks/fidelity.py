"""Fidelity: what the real producers' files hold against what Refinery loads from them.

For each producer in ``../shared/datasets/real-traces/``, and for each instrumentation package
that writes spans (run live against the loopback OpenAI fake, ``tests/fakes/genai_agents.py``,
or, for last year's releases, the files they wrote in ``tests/producers/``): the tool calls
counted straight from the raw JSON against the tool runs loaded, and the tokens the producer
recorded against the tokens loaded. The raw counts below follow each producer's own shape and
share no code with the readers they check.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.results import Results


def _usage_tokens(usage: Any) -> int:
    if not isinstance(usage, dict):
        return 0
    if "total_tokens" in usage:
        return int(usage["total_tokens"] or 0)
    return int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0) + int(
        usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0
    )


def _chat_calls(messages: list[dict[str, Any]]) -> int:
    return sum(len(m.get("tool_calls") or []) for m in messages if isinstance(m, dict))


def _tau(data: Any) -> tuple[int, int]:
    return sum(_chat_calls(r["traj"]) for r in data), 0


def _tau2(data: Any) -> tuple[int, int]:
    calls = tokens = 0
    for sim in data["simulations"]:
        calls += _chat_calls(sim["messages"])
        tokens += sum(_usage_tokens(m.get("usage")) for m in sim["messages"] if m.get("role") == "assistant")
    return calls, tokens


def _mini_swe(data: Any) -> tuple[int, int]:
    messages = data if isinstance(data, list) else data["messages"]
    tokens = sum(_usage_tokens(((m.get("extra") or {}).get("response") or {}).get("usage")) for m in messages)
    return _chat_calls(messages), tokens


def _swe(data: Any) -> tuple[int, int]:
    calls = 0
    for message in data["history"]:
        if message.get("message_type") != "action":
            continue
        raw = message.get("tool_calls")
        parsed = ast.literal_eval(raw) if isinstance(raw, str) else raw
        calls += len(parsed) if isinstance(parsed, list) and parsed else 1
    stats = (data.get("info") or {}).get("model_stats") or {}
    return calls, int(stats.get("tokens_sent", 0)) + int(stats.get("tokens_received", 0))


def _openhands(data: Any) -> tuple[int, int]:
    actions = [e for e in data if "action" in e and isinstance(e.get("tool_call_metadata"), dict)]
    responses = {e["tool_call_metadata"]["model_response"]["id"]: e for e in actions}
    tokens = sum(_usage_tokens(e["tool_call_metadata"]["model_response"].get("usage")) for e in responses.values())
    return len(actions), tokens


def _phoenix(data: Any) -> tuple[int, int]:
    spans = [s for group in data.values() for s in group] if isinstance(data, dict) else data
    return sum(s.get("span_kind") == "TOOL" for s in spans), 0


def _otel_js(data: Any) -> tuple[int, int]:
    tokens = 0
    for span in data:
        attrs = span["attributes"]
        tokens += int(attrs.get("ai.usage.promptTokens", attrs.get("ai.usage.inputTokens", 0)))
        tokens += int(attrs.get("ai.usage.completionTokens", attrs.get("ai.usage.outputTokens", 0)))
    return 0, tokens


def _langsmith_batch(data: Any) -> tuple[int, int]:
    runs = [*data.get("post", []), *data.get("patch", [])]
    tools = {r.get("id") for r in runs if r.get("run_type") == "tool"}
    usages = [
        _usage_tokens((r.get("outputs") or {}).get("usage_metadata"))
        for r in runs
        if isinstance(r.get("outputs"), dict)
    ]
    return len(tools), max(usages, default=0)


PRODUCERS: dict[str, Callable[[Any], tuple[int, int]]] = {
    "tau-bench": _tau,
    "tau2-bench": _tau2,
    "mini-swe-agent": _mini_swe,
    "swe-agent": _swe,
    "openhands": _openhands,
    "phoenix": _phoenix,
    "otel-js-spans": _otel_js,
    "langsmith-batch": _langsmith_batch,
}


_INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
LEGACY_FILES = Path(__file__).parents[1] / "tests" / "producers"


def otlp_counts(export: Any) -> tuple[int, int]:
    """Tool calls (distinct call ids the model gave) and tokens (input + output per span) in raw OTLP/JSON.

    The fake names its tool calls ``call_tc_N``; every producer copies that id somewhere (an
    attribute, a log body), so the distinct ids are the calls the model made.
    """
    payloads = export if isinstance(export, list) else [export]
    tokens = 0
    for payload in payloads:
        for resource in payload.get("resourceSpans") or []:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    seen = {a["key"]: a["value"].get("intValue") for a in span.get("attributes", [])}
                    tokens += int(next((seen[k] for k in _INPUT_TOKENS if seen.get(k)), 0))
                    tokens += int(next((seen[k] for k in _OUTPUT_TOKENS if seen.get(k)), 0))
    return len(set(re.findall(r"call_tc_\d+", json.dumps(export)))), tokens


def _package_rows() -> list[list[object]]:
    """One row per instrumentation package: its agent run live, or its committed legacy file."""
    import tempfile

    from refinery.trace.files import load_trace_files
    from tests.fakes.genai_agents import PRODUCERS, weather_agent_otlp

    exports = {name: weather_agent_otlp(name) for name in PRODUCERS}
    exports |= {p.stem: json.loads(p.read_text()) for p in sorted(LEGACY_FILES.glob("*.json"))}
    rows: list[list[object]] = []
    folder = Path(tempfile.mkdtemp(prefix="refinery-fidelity-"))
    for name, export in exports.items():
        calls, tokens = otlp_counts(export)
        path = folder / f"{name}.json"
        path.write_text(json.dumps(export))
        loaded = load_trace_files(path)
        loaded_calls = sum(r.run_type == "tool" for t in loaded for r in t.runs)
        loaded_tokens = sum(t.total_tokens for t in loaded)
        same = (calls, tokens) == (loaded_calls, loaded_tokens)
        rows.append([name, 1, len(loaded), calls, loaded_calls, tokens, loaded_tokens, "yes" if same else "no"])
    return rows


def run(out: Results, *, shared: Path) -> None:
    from refinery.trace.files import load_trace_files

    out.heading("Fidelity: what the producers' files hold, against what is loaded")
    package_rows = _package_rows()
    out.para(
        "Instrumentation packages, each driving a real OpenAI client through a scripted agent that makes two "
        "tool calls against the loopback OpenAI fake (`tests/fakes/genai_agents.py`), exported with the "
        "OpenTelemetry SDK's OTLP encoder; the `-0.47` row is OpenLLMetry and the Traceloop SDK 0.47.0, whose "
        "file is committed in `tests/producers/`. *Source*: distinct tool-call ids and the token attributes "
        "counted in the raw export."
    )
    out.table(
        ["package", "files", "traces", "tool calls: source", "loaded", "tokens: source", "loaded", "equal"],
        package_rows,
    )
    folder = shared / "datasets" / "real-traces"
    if not folder.is_dir():
        out.skipped("The real-file fidelity rows", f"no real trace files at {folder}")
        out.figure(
            "Packages whose tool calls and tokens load exactly",
            f"{sum(r[-1] == 'yes' for r in package_rows)} of {len(package_rows)}",
            "all",
        )
        return
    out.para(
        "Every real file in `../shared/datasets/real-traces/`, grouped by producer. *Source* counts are taken "
        "from the raw JSON by each producer's own shape (`benchmarks/fidelity.py`, no reader code); *loaded* "
        "counts are the tool runs and tokens of the traces Refinery reads from the same files. A producer that "
        "records no tokens shows 0 on both sides."
    )
    rows = []
    exact = 0
    for producer, count in PRODUCERS.items():
        files = sorted(p for p in (folder / producer).glob("*") if p.is_file())
        if not files:
            continue
        source_calls = source_tokens = loaded_calls = loaded_tokens = traces = 0
        for path in files:
            calls, tokens = count(json.loads(path.read_text()))
            source_calls, source_tokens = source_calls + calls, source_tokens + tokens
            loaded = load_trace_files(path)
            traces += len(loaded)
            loaded_calls += sum(r.run_type == "tool" for t in loaded for r in t.runs)
            loaded_tokens += sum(t.total_tokens for t in loaded)
        same = (source_calls, source_tokens) == (loaded_calls, loaded_tokens)
        exact += same
        rows.append(
            [
                producer,
                len(files),
                traces,
                f"{source_calls:,}",
                f"{loaded_calls:,}",
                f"{source_tokens:,}",
                f"{loaded_tokens:,}",
                "yes" if same else "no",
            ]
        )
    out.table(
        ["producer", "files", "traces", "tool calls: source", "loaded", "tokens: source", "loaded", "equal"], rows
    )
    exact += sum(r[-1] == "yes" for r in package_rows)
    out.figure(
        "Producers whose tool calls and tokens load exactly", f"{exact} of {len(rows) + len(package_rows)}", "all"
    )
