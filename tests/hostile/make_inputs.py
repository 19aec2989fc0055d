"""Regenerate ``tests/hostile/inputs/``: ``python -m tests.hostile.make_inputs``.

Small files that once hung Refinery, blew up its memory or ended in an internal error. The
LangSmith-shaped ones start from the bundled example's root run, so everything but the
hostile field is what the langsmith SDK wrote.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "inputs"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rate-limit-cascade.json"


def _root() -> dict[str, Any]:
    run = dict(json.loads(EXAMPLE.read_text())["runs"][0])
    run.pop("child_runs", None)
    return run


def main() -> None:
    OUT.mkdir(exist_ok=True)
    files: dict[str, str | bytes] = {}
    files["deep-10000.json"] = "[" * 10_000 + "]" * 10_000
    deep: Any = "bottom"
    for _ in range(900):
        deep = {"next": deep}
    files["deep-900.json"] = json.dumps([{**_root(), "inputs": {"payload": deep}}])
    digits = "9" * 5_000
    files["bigint.json"] = json.dumps([{**_root(), "inputs": {"n": 0}}]).replace('"n": 0', f'"n": {digits}')
    files["time-1e400.json"] = json.dumps([{**_root(), "start_time": 0}]).replace(
        '"start_time": 0', '"start_time": 1e400'
    )
    files["time-negative.json"] = json.dumps([{**_root(), "start_time": -1e18, "end_time": None}])
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "agent",
        "startTimeUnixNano": "9" * 30,
        "endTimeUnixNano": "9" * 30,
        "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "AGENT"}}],
    }
    files["otlp-nines.json"] = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    files["refinery-no-runs.json"] = json.dumps({"id": "t1", "source": "langsmith", "runs": []})
    files["surrogate.json"] = json.dumps([{**_root(), "name": "agent \ud800 lone"}])
    files["nul-id.json"] = json.dumps([{**_root(), "id": "run\u0000id", "trace_id": "run\u0000id"}])
    files["truncated.json"] = json.dumps([_root()])[:200]
    whole = gzip.compress(json.dumps([_root()]).encode())
    files["truncated.json.gz"] = whole[: len(whole) // 2]
    files["bomb.json.gz"] = gzip.compress(b"[" + b" " * 12 * 1024 * 1024 + b"]", compresslevel=9)
    for name, content in files.items():
        path = OUT / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
