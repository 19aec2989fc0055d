# Refinery's GitHub Action image. The runner builds it from this file (runs.using: docker).
# BASE_IMAGE is an official slim Python image pinned by digest; tests pass a locally built
# base (debootstrapped Debian trixie) because the public registry is out of their reach.
ARG BASE_IMAGE=python:3.13-slim@sha256:7c61056e61ac89e852de05f3dc6fa51a6dd2181797bceed46aa725dd7cb2cd3b

# Stage 1: the dependencies, from the lock file alone, so this stage is reused whenever only
# the code changes. pip byte-compiles them, so a cold start imports without compiling.
# zstandard (24 MB of unstripped binaries) goes: langsmith uses it only to compress traces it
# uploads, which Refinery never does, and falls back without it; the container test fetches
# a trace from LangSmith to prove the image reads traces without it.
FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# `ci-cert[s]` matches nothing in a normal build; a test build adds the machine's extra CA
# certificates there (never committed) so pip can get through a TLS-inspecting proxy. They
# stay in this stage: the final image never sees them.
COPY requirements.lock ci-cert[s] /tmp/build/
RUN set -eu; \
    if ls /tmp/build/*.crt >/dev/null 2>&1; then \
      cp /tmp/build/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null; \
      export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; \
    fi; \
    python3 -m venv /opt/refinery/venv; \
    /opt/refinery/venv/bin/pip install -r /tmp/build/requirements.lock; \
    /opt/refinery/venv/bin/pip uninstall --yes zstandard pip

# Stage 2: the runtime: the dependencies (without pip), then the code.
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/refinery/src
COPY --from=deps /opt/refinery/venv /opt/refinery/venv
COPY entrypoint.py /opt/refinery/src/
COPY refinery /opt/refinery/src/refinery
RUN /opt/refinery/venv/bin/python -m compileall -q /opt/refinery/src

# No USER and no WORKDIR: the Actions runner mounts the workspace and sets both itself.
ENTRYPOINT ["/opt/refinery/venv/bin/python", "/opt/refinery/src/entrypoint.py"]
