"""Refinery's benchmarks: ``python -m benchmarks [load] [--sizes 100,1000,...]``.

Each measurement runs in a fresh child process so that peak RSS belongs to it alone.
Figures are printed as a table; nothing here is a pass/fail test (goals are shown beside).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD_GOAL_S = 5.0
LOAD_GOAL_MB = 400.0


def _child_load(path: str) -> None:
    from refinery.trace.files import load_trace_file

    t0 = time.perf_counter()
    trace = load_trace_file(path)
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "runs": len(trace.runs)}))


def bench_load(sizes: list[int]) -> list[dict[str, float]]:
    """Read + normalize a synthetic LangSmith export of each size, in a child process."""
    from benchmarks.synthetic import synthetic_runs

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"trace-{size}.json"
            path.write_text(json.dumps(synthetic_runs(size)))
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks", "_child-load", str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(out.stdout)
            result["size"] = size
            result["file_mb"] = path.stat().st_size / 1e6
            rows.append(result)
    print(
        f"{'runs':>8} {'file MB':>8} {'load s':>8} {'peak RSS MB':>12}   goal at 25,000: ≤{LOAD_GOAL_S:g} s, ≤{LOAD_GOAL_MB:g} MB"
    )
    for row in rows:
        print(f"{int(row['size']):>8} {row['file_mb']:>8.1f} {row['seconds']:>8.2f} {row['peak_mb']:>12.0f}")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    sub = parser.add_subparsers(dest="command")
    load = sub.add_parser("load", help="trace reading and normalization")
    load.add_argument("--sizes", default="100,1000,10000,25000")
    child = sub.add_parser("_child-load")
    child.add_argument("path")
    args = parser.parse_args(argv)
    if args.command == "_child-load":
        _child_load(args.path)
    elif args.command in ("load", None):
        bench_load([int(s) for s in getattr(args, "sizes", "100,1000,10000,25000").split(",")])


if __name__ == "__main__":
    main()
