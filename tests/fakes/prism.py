"""Prism (npm @stainless-api/prism-cli) as a contract-checking proxy in front of a fake.

``prism proxy SPEC UPSTREAM --errors`` validates every request and response against the
OpenAPI description and turns a violation into an error response, so a test that
expects success fails on any spec violation in either direction.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# A copy of the tests elsewhere (the mutation benchmark's) points back at the installed Node tools.
TOOLS = Path(os.environ.get("REFINERY_NODE_TOOLS") or Path(__file__).resolve().parents[1] / "tools")
PRISM = TOOLS / "node_modules" / ".bin" / "prism"


def prism_available() -> bool:
    return PRISM.is_file() and shutil.which("node") is not None


def require_prism() -> None:
    if prism_available():
        return
    message = f"Prism is not installed at {PRISM}: run `npm ci --prefix tests/tools` (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs it; its absence there is a broken setup, not a skip
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prism_proxy(spec: Path, upstream: str, *, startup_timeout: float = 120.0) -> Iterator[str]:
    """Run ``prism proxy`` on a free loopback port; yield its base URL."""
    require_prism()
    port = _free_port()
    log = (TOOLS / f"prism-{port}.log").open("w+")
    process = subprocess.Popen(
        [str(PRISM), "proxy", str(spec), upstream, "--errors", "-h", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=TOOLS,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"prism exited early:\n{log.read()[-2000:]}")
            log.seek(0)
            if "Prism is listening" in log.read():
                break
            time.sleep(0.25)
        else:
            raise RuntimeError(f"prism did not start within {startup_timeout:g} s")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        Path(log.name).unlink(missing_ok=True)
