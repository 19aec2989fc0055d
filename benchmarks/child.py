"""Measurements that need a process of their own (so that peak RSS is theirs alone)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_child(command: str, path: Path) -> dict[str, Any]:
    """Run ``python -m benchmarks COMMAND PATH`` in a fresh process and return the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", command, str(path)], check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout))
