# Refinery's GitHub Action image. The runner builds it from this file (runs.using: docker).
# BASE_IMAGE is an official slim Python image pinned by digest; tests pass a locally built
# base (debootstrapped Debian trixie) because the public registry is out of their reach.
ARG BASE_IMAGE=python:3.13-slim@sha256:7c61056e61ac89e852de05f3dc6fa51a6dd2181797bceed46aa725dd7cb2cd3b
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Dependencies first, from the lock file, so this layer is reused when only the code changes.
# `ci-cert[s]` matches nothing in a normal build; a test build adds the machine's extra CA
# certificates there (never committed) so pip can get through a TLS-inspecting proxy.
COPY requirements.lock ci-cert[s] /opt/refinery/build/
RUN set -eu; \
    if ls /opt/refinery/build/*.crt >/dev/null 2>&1; then \
      cp /opt/refinery/build/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null; \
      export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; \
    fi; \
    python3 -m venv /opt/refinery/venv; \
    /opt/refinery/venv/bin/pip install --no-compile -r /opt/refinery/build/requirements.lock; \
    rm -rf /opt/refinery/build

COPY pyproject.toml README.md entrypoint.py /opt/refinery/src/
COPY refinery /opt/refinery/src/refinery
RUN /opt/refinery/venv/bin/pip install --no-compile --no-deps /opt/refinery/src

# No USER and no WORKDIR: the Actions runner mounts the workspace and sets both itself.
ENTRYPOINT ["/opt/refinery/venv/bin/python", "/opt/refinery/src/entrypoint.py"]
