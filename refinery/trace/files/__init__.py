"""Local trace files: format auto-detection, gzip, JSON and JSONL.

One module per format; this one only reads bytes and dispatches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from refinery.errors import TraceFormatError, TraceNotFound
from refinery.perf import gc_paused
from refinery.trace.bounds import (
    InputLimits,
    parse_constant_literal,
    parse_float_literal,
    parse_int_literal,
    read_bounded,
)
from refinery.trace.files.chat import is_chat, is_history, load_chat, load_history
from refinery.trace.files.langsmith_batch import is_langsmith_batch, load_langsmith_batch
from refinery.trace.files.langsmith_export import load_langsmith
from refinery.trace.files.mini_swe_agent import is_mini_swe_agent, load_mini_swe_agent
from refinery.trace.files.openhands import is_openhands, load_openhands
from refinery.trace.files.otel_js import is_otel_js, load_otel_js
from refinery.trace.files.otlp import is_otlp, load_otlp
from refinery.trace.files.span_records import is_span_records, load_span_records
from refinery.trace.files.swe_agent import is_swe_agent, load_swe_agent
from refinery.trace.files.tau2_bench import is_tau2_bench, load_tau2_bench
from refinery.trace.files.tau_bench import is_tau_bench, load_tau_bench
from refinery.trace.model import Trace


def _is_refinery(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("runs"), list) and "source" in data and "id" in data


def _is_langsmith(data: Any) -> bool:
    def run_like(item: Any) -> bool:
        return isinstance(item, dict) and ("run_type" in item or "child_runs" in item or "dotted_order" in item)

    if isinstance(data, dict):
        return run_like(data) or (isinstance(data.get("runs"), list) and any(run_like(r) for r in data["runs"]))
    return isinstance(data, list) and bool(data) and any(run_like(r) for r in data)


def _load_refinery(data: Any) -> list[Trace]:
    if not data.get("runs"):
        raise TraceFormatError("The Refinery trace has no runs.", hint="Re-create it with `refinery fetch --out`.")
    try:
        return [Trace.model_validate(data)]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TraceFormatError(
            f"Not a valid Refinery trace: {'.'.join(map(str, first['loc']))}: {first['msg']}.",
            hint="Re-create it with `refinery fetch --out`.",
        ) from None


@dataclass(frozen=True)
class Reader:
    """One trace format: how to recognise it by its content, and how to read it."""

    name: str
    matches: Callable[[Any], bool]
    load: Callable[[Any], list[Trace]]
    expects: str
    """What the format's top level holds, for the error when ``--format`` names it wrongly."""


# First match wins. Add a format: one module in this package, one line here.
READERS: list[Reader] = [
    Reader("refinery", _is_refinery, _load_refinery, "an object with `id`, `source` and `runs`"),
    Reader("otlp", is_otlp, load_otlp, "`resourceSpans` (OTLP/JSON) or a `spans` tree"),
    Reader("spans", is_span_records, load_span_records, "span records with `context.span_id` (Phoenix, console)"),
    Reader("otel-js", is_otel_js, load_otel_js, "a list of JS ReadableSpans with `spanContext`"),
    Reader("swe-agent", is_swe_agent, load_swe_agent, "a `history` of messages with `message_type`"),
    Reader("mini-swe-agent", is_mini_swe_agent, load_mini_swe_agent, "`info` with `mini_version`, and `messages`"),
    Reader("history", is_history, load_history, "an object with a `history` list of messages"),
    Reader(
        "openhands", is_openhands, load_openhands, "a list of events with `id`, `source` and `action`/`observation`"
    ),
    Reader("tau2-bench", is_tau2_bench, load_tau2_bench, "an object with `tasks` and `simulations`"),
    Reader("tau-bench", is_tau_bench, load_tau_bench, "a list of `{task_id, reward, info, traj, trial}`"),
    Reader("chat", is_chat, load_chat, "a list of `{role, content}` messages, or one under `messages`/`traj`"),
    Reader("langsmith", _is_langsmith, load_langsmith, "runs with `run_type`, `child_runs` or `dotted_order`"),
    Reader(
        "langsmith-batch",
        is_langsmith_batch,
        load_langsmith_batch,
        "an object with `post` and `patch` run lists, or one per line",
    ),
]
FORMATS = ("auto", *(r.name for r in READERS))


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _loads(text: str) -> Any:
    return json.loads(
        text, parse_int=parse_int_literal, parse_float=parse_float_literal, parse_constant=parse_constant_literal
    )


def _without_surrogates(value: Any) -> Any:
    """Lone UTF-16 surrogates (``"\\ud800"``) cannot be written as UTF-8: each becomes U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


def read_json_document(path: Path, limits: InputLimits | None = None) -> Any:
    """Parse a JSON or JSONL file, gzipped or not, within ``limits``."""
    raw = read_bounded(path, limits or InputLimits())
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TraceFormatError(f"{path} is not UTF-8 text.", hint="Give a JSON, JSONL or .gz trace file.") from None
    if not text.strip():
        raise TraceFormatError(f"{path} is empty.")
    try:
        data = _parse(path, text)
    except RecursionError:
        raise TraceFormatError(
            f"{path} nests its JSON too deeply to read.",
            hint="No trace needs hundreds of nested levels: check its producer.",
        ) from None
    # Only escapes can make lone surrogates: a cheap search decides whether the slow fix is needed.
    return _without_surrogates(data) if _SURROGATE_ESCAPE.search(text) else data


def _parse(path: Path, text: str) -> Any:
    try:
        return _loads(text)
    except json.JSONDecodeError as whole_error:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise _json_error(path, whole_error) from None
        if text.lstrip().startswith("{") and not lines[0].rstrip().endswith("}"):
            # Pretty-printed objects one after another (OpenTelemetry's ConsoleSpanExporter).
            concatenated = _concatenated(text)
            if concatenated is not None:
                return concatenated
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(_loads(line))
            except json.JSONDecodeError as exc:
                if number == 1:
                    raise _json_error(path, whole_error) from None
                raise TraceFormatError(
                    f"{path} line {number} is not valid JSON ({exc.msg} at column {exc.colno}).",
                    hint="Fix or remove that line; every JSONL line must be one JSON value.",
                ) from None
        return records


def _concatenated(text: str) -> list[Any] | None:
    """Several JSON values written one after another, or None when ``text`` is not that."""
    decoder = json.JSONDecoder(
        parse_int=parse_int_literal, parse_float=parse_float_literal, parse_constant=parse_constant_literal
    )
    values: list[Any] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return values
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            return None
        values.append(value)


def _json_error(path: Path, exc: json.JSONDecodeError) -> TraceFormatError:
    return TraceFormatError(
        f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
        hint="Give a JSON or JSONL trace file (optionally gzipped).",
    )


def describe_shape(data: Any) -> str:
    """What a parsed file holds at its top level, in words: its keys, or its items' keys."""
    if isinstance(data, dict):
        return "an object with keys " + ", ".join(sorted(map(str, data))[:8])
    if isinstance(data, list):
        first = next((item for item in data if isinstance(item, dict)), None)
        keys = f" whose first object has keys {', '.join(sorted(map(str, first))[:8])}" if first else ""
        return f"a list of {len(data)} items{keys}"
    return f"a JSON {type(data).__name__}"


def detect_format(data: Any) -> str:
    """The name of the first format whose shape ``data`` has."""
    for reader in READERS:
        if reader.matches(data):
            return reader.name
    raise TraceFormatError(
        f"Unknown trace format: the file holds {describe_shape(data)}.",
        hint="Pass --format NAME to read it as one of: " + "; ".join(f"{r.name} ({r.expects})" for r in READERS) + ".",
    )


def _guess(data: Any) -> str:
    try:
        return detect_format(data)
    except TraceFormatError:
        return "no known format"


def load_trace_files(path: str | Path, fmt: str = "auto", limits: InputLimits | None = None) -> list[Trace]:
    """Every trace in one file. Raises TraceFormatError on anything it cannot read."""
    if fmt not in FORMATS:
        raise TraceFormatError(f"Unknown --format {fmt!r}.", hint=f"Use one of: {', '.join(FORMATS)}.")
    with gc_paused():
        data = read_json_document(Path(path), limits)
        name = detect_format(data) if fmt == "auto" else fmt
        reader = next(r for r in READERS if r.name == name)
        if fmt != "auto" and not reader.matches(data):
            # A forced format that does not fit would read as an empty or near-empty trace: say so instead.
            raise TraceFormatError(
                f"{path} is not in the {name} format: it expects {reader.expects}, "
                f"and the file holds {describe_shape(data)}.",
                hint=f"Use --format auto (it would read this file as {_guess(data)}).",
            )
        loader = reader.load
        try:
            traces = loader(data)
        except RecursionError:
            raise TraceFormatError(f"{path} nests its runs too deeply to read.") from None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise TraceFormatError(
                f"{path} does not fit the {name} format ({type(exc).__name__}: {exc}).",
                hint="Check --format, or that the file is complete.",
            ) from None
    if not traces:
        raise TraceFormatError(f"{path} holds no runs.")
    return name_untitled(traces, Path(path))


def name_untitled(traces: list[Trace], path: Path) -> list[Trace]:
    """Traces whose producer recorded no id of their own (a reader's stand-in: ``swe-agent``,
    ``openhands``, ``chat``) take the file's stem, and their index when the file holds several: two
    runs in one comment are never both called ``swe-agent``."""
    stand_ins = {r.name for r in READERS} | {"history", "trace"}
    stem = path.name.split(".")[0] or "trace"
    untitled = [t for t in traces if t.id in stand_ins]
    if not untitled:
        return traces
    renamed = {t.id + str(i): (stem if len(untitled) == 1 else f"{stem}-{i + 1}") for i, t in enumerate(untitled)}
    out = []
    index = 0
    for trace in traces:
        if trace.id not in stand_ins:
            out.append(trace)
            continue
        new = renamed[trace.id + str(index)]
        index += 1
        runs = [r.model_copy(update={"trace_id": new}) for r in trace.runs]
        copy = trace.model_copy(update={"id": new, "runs": runs})
        copy._by_id = copy._children = None  # the indexes held the runs before the copy
        out.append(copy)
    return out


def load_trace_file(
    path: str | Path, fmt: str = "auto", trace_id: str | None = None, limits: InputLimits | None = None
) -> Trace:
    """The one trace in a file, or the one named by ``trace_id`` when it holds several."""
    traces = load_trace_files(path, fmt, limits)
    if trace_id is not None:
        for trace in traces:
            if trace.id == trace_id or any(r.id == trace_id for r in trace.runs):
                return trace
        raise TraceNotFound(
            f"Trace {trace_id} is not in {path}.", hint=f"It holds: {', '.join(t.id for t in traces[:10])}."
        )
    if len(traces) > 1:
        raise TraceFormatError(
            f"{path} holds {len(traces)} traces.",
            hint=f"Choose one with --trace-id (for example {traces[0].id}).",
        )
    return traces[0]
