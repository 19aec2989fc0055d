"""A Docker engine, a local base image and the Refinery image, for the container tests.

The engine is Debian's ``docker.io`` ``dockerd``, started here when none answers
(``--iptables=false --bridge=none``: containers use the host network). The public image
registry is out of reach, so the base image is Debian trixie made with ``debootstrap``
and ``docker import``ed. pip inside the build needs the CA certificates this machine adds
(``/usr/local/share/ca-certificates``); they are copied into the build context for the
build only (``ci-certs/``, git-ignored) and removed after.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("REFINERY_DOCKER_STATE", "/var/tmp/refinery-docker-tests"))
SOCKET = STATE / "run" / "docker.sock"
BASE_TAG = "refinery-test-base:trixie"
IMAGE_TAG = "refinery-action:test"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs the engine; failing to run it there is a real failure
    pytest.skip(message)


def _client(base_url: str) -> Any:
    import docker

    client = docker.DockerClient(base_url=base_url, timeout=600)
    client.ping()
    return client


@contextmanager
def docker_engine() -> Iterator[Any]:
    """A Docker client; starts (and afterwards stops) a private dockerd when needed."""
    import docker

    existing = os.environ.get("DOCKER_HOST")
    if existing:
        try:
            yield _client(existing)
            return
        except docker.errors.DockerException as exc:
            _unavailable(f"DOCKER_HOST={existing} does not answer: {exc}")
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else None)
    if dockerd is None:
        _unavailable("No Docker engine: install Debian's docker.io (.ci/run does).")
    if os.geteuid() != 0:
        _unavailable("Starting dockerd needs root.")
    (STATE / "run").mkdir(parents=True, exist_ok=True)
    log = (STATE / "dockerd.log").open("w")
    process = subprocess.Popen(
        [
            str(dockerd),
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--data-root",
            str(STATE / "data"),
            "--exec-root",
            str(STATE / "exec"),
            "--pidfile",
            str(STATE / "run" / "dockerd.pid"),
            "-H",
            f"unix://{SOCKET}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        client = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                _unavailable(f"dockerd exited: {(STATE / 'dockerd.log').read_text()[-1500:]}")
            try:
                client = _client(f"unix://{SOCKET}")
                break
            except docker.errors.DockerException:
                time.sleep(0.5)
        if client is None:
            _unavailable("dockerd did not answer within 60 s")
        yield client
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def ensure_base_image(client: Any) -> str:
    """Debian trixie (Python 3.13) with python3-venv and ca-certificates, imported as BASE_TAG."""
    import docker

    try:
        client.images.get(BASE_TAG)
        return BASE_TAG
    except docker.errors.ImageNotFound:
        pass
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        _unavailable("debootstrap is not installed (.ci/run installs it).")
    rootfs = STATE / "rootfs-trixie"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "trixie",
                str(rootfs),
                "http://deb.debian.org/debian",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for junk in (
            "usr/share/doc",
            "usr/share/man",
            "usr/share/info",
            "usr/share/locale",
            "var/cache/apt",
            "var/lib/apt/lists",
        ):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
    archive = STATE / "rootfs-trixie.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    client.api.import_image_from_file(str(archive), repository=BASE_TAG.split(":")[0], tag=BASE_TAG.split(":")[1])
    archive.unlink()
    return BASE_TAG


def build_image(client: Any, base: str) -> Any:
    """The Refinery image from the repository's Dockerfile, as the runner builds it (plus test CAs)."""
    certs = REPO / "ci-certs"
    shutil.rmtree(certs, ignore_errors=True)
    certs.mkdir()
    try:
        for cert in sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []:
            shutil.copy(cert, certs / cert.name)
        image, _ = client.images.build(
            path=str(REPO), tag=IMAGE_TAG, buildargs={"BASE_IMAGE": base}, network_mode="host", rm=True, forcerm=True
        )
        return image
    finally:
        shutil.rmtree(certs, ignore_errors=True)
