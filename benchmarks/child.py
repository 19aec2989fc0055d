"""Measurements that need a process of their own (so that peak RSS is theirs alone)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak resident set, in MB.

    Not ``getrusage().ru_maxrss``: Linux carries the parent's peak into a child across the
    vfork + exec that subprocess uses, so a child of a large parent would report the parent's
    peak. ``VmHWM`` belongs to the process's own address space, which exec makes anew.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak RSS is measured on Linux only")


def run_child(command: str, *args: str) -> dict[str, Any]:
    """Run ``python -m benchmarks COMMAND ARGS…`` in a fresh process and return the JSON it prints."""
    done = subprocess.run([sys.executable, "-m", "benchmarks", command, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout))


def run_child_on_synthetic(command: str, size: int, *args: str) -> tuple[dict[str, Any], int]:
    """Write a synthetic LangSmith export of SIZE runs, run ``COMMAND ARGS… PATH`` on it; return
    its JSON and the file's bytes."""
    from benchmarks.synthetic import synthetic_runs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"trace-{size}.json"
        path.write_text(json.dumps(synthetic_runs(size)))
        return run_child(command, *args, str(path)), path.stat().st_size
