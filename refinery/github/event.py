"""What triggered the run: the event payload and the runner's environment, as one context.

The head commit is where results belong: ``pull_request.head.sha`` on pull requests (not
``GITHUB_SHA``, which is a merge commit there), ``workflow_run.head_sha`` after another
workflow. A fork's ``workflow_run`` carries no pull request, so the PR is looked up by head.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from refinery.errors import ConfigError


class EventContext(BaseModel):
    """The run's GitHub context."""

    event_name: str
    repository: str
    """owner/name"""
    head_sha: str
    pr_number: int | None = None
    fork: bool = False
    """The head lives in another repository (the token is then read-only on pull_request)."""
    needs_pr_lookup: bool = False
    """workflow_run from a fork: pull_requests[] is empty; find the PR by head branch and sha."""
    head_owner: str | None = None
    head_branch: str | None = None
    base_sha: str | None = None
    """The pull request's base commit (``pull_request.base.sha``): where its changes start."""
    started_at: datetime | None = None
    """When the triggering run started (selection's default --since)."""
    triggering_run_url: str | None = None
    dispatch_inputs: dict[str, str] = Field(default_factory=dict)
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    run_id: str | None = None
    run_attempt: str | None = None
    workflow: str = ""
    job: str = ""
    workspace: Path | None = None
    output_path: Path | None = None
    summary_path: Path | None = None

    @property
    def run_url(self) -> str | None:
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def artifacts_url(self) -> str | None:
        return f"{self.run_url}#artifacts" if self.run_url else None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _full_name(repo: Any) -> str | None:
    return repo.get("full_name") if isinstance(repo, dict) else None


def load_event(env: Mapping[str, str]) -> EventContext:
    """Build the context from the runner's variables and the event file they point to."""
    name = env.get("GITHUB_EVENT_NAME", "")
    repository = env.get("GITHUB_REPOSITORY", "")
    if not name or not repository:
        raise ConfigError(
            "Not running in GitHub Actions: GITHUB_EVENT_NAME and GITHUB_REPOSITORY are not set.",
            hint="Use the `refinery` CLI outside Actions.",
        )
    payload: dict[str, Any] = {}
    path = env.get("GITHUB_EVENT_PATH")
    if path and Path(path).is_file():
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"The event file {path} is not valid JSON: {exc}.") from None
    base: dict[str, Any] = {
        "event_name": name,
        "repository": repository,
        "head_sha": env.get("GITHUB_SHA", ""),
        "server_url": env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
        "api_url": env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        "run_id": env.get("GITHUB_RUN_ID"),
        "run_attempt": env.get("GITHUB_RUN_ATTEMPT"),
        "workflow": env.get("GITHUB_WORKFLOW", ""),
        "job": env.get("GITHUB_JOB", ""),
        "workspace": Path(env["GITHUB_WORKSPACE"]) if env.get("GITHUB_WORKSPACE") else None,
        "output_path": Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
        "summary_path": Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
    }
    if name in ("pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"):
        pr = payload.get("pull_request") or {}
        head = pr.get("head") or {}
        base["pr_number"] = pr.get("number") or payload.get("number")
        base["head_sha"] = head.get("sha") or base["head_sha"]
        base["base_sha"] = (pr.get("base") or {}).get("sha")
        head_repo = _full_name(head.get("repo"))
        base["fork"] = head_repo is not None and head_repo != repository
    elif name == "workflow_run":
        run = payload.get("workflow_run") or {}
        head_sha = run.get("head_sha") or base["head_sha"]
        base["head_sha"] = head_sha
        base["started_at"] = _time(run.get("run_started_at") or run.get("created_at"))
        base["triggering_run_url"] = run.get("html_url")
        run_head_repo: dict[str, Any] = run.get("head_repository") or {}
        base["fork"] = _full_name(run_head_repo) not in (None, repository)
        base["head_owner"] = (run_head_repo.get("owner") or {}).get("login")
        base["head_branch"] = run.get("head_branch")
        prs = [p for p in run.get("pull_requests") or [] if isinstance(p, dict)]
        matching = [p for p in prs if (p.get("head") or {}).get("sha") == head_sha] or prs
        if matching:
            base["pr_number"] = matching[0].get("number")
        elif run.get("event") in ("pull_request", "pull_request_target"):
            base["needs_pr_lookup"] = True
    elif name == "workflow_dispatch":
        inputs = payload.get("inputs") or {}
        base["dispatch_inputs"] = {str(k): str(v) for k, v in inputs.items() if v is not None}
        pr = base["dispatch_inputs"].get("pr-number") or base["dispatch_inputs"].get("pr_number")
        if pr and pr.isdigit():
            base["pr_number"] = int(pr)
    elif name == "push":
        base["head_sha"] = payload.get("after") or base["head_sha"]
    if not base["head_sha"]:
        raise ConfigError("Cannot tell which commit to report on: GITHUB_SHA is empty and the event has no head sha.")
    return EventContext(**base)
