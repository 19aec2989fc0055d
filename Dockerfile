# Placeholder: the GitHub Action issue builds the real image (pinned base, lock file, hadolint-clean).
ARG BASE_IMAGE=python:3.13-slim
FROM ${BASE_IMAGE}
COPY . /opt/refinery
RUN pip install --no-cache-dir /opt/refinery
ENTRYPOINT ["python", "/opt/refinery/entrypoint.py"]
