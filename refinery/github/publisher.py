"""Publishing to GitHub through PyGithub: the sticky PR comment, the check run, PR lookup.

Every PyGithub call is here, and every GithubException becomes a PublishError (a
read-only token, as on fork pull requests, becomes ReadOnlyToken so the action can fall
back to the job summary).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import requests
from github import Github, GithubException
from pydantic import BaseModel

from refinery.errors import PublishError
from refinery.lines import strip_ansi

ANNOTATION_BATCH = 50
"""GitHub accepts at most 50 annotations per check-run request."""
CHECK_TEXT_LIMIT = 65_535
"""Check-run output summary and text are capped at 65,535 characters."""
Conclusion = Literal["success", "failure", "neutral"]


class ReadOnlyToken(PublishError):
    """The token may not write here (a fork PR's GITHUB_TOKEN, or missing permissions)."""


class Suggestion(BaseModel):
    """A suggested change on lines of the pull request's diff (a review comment)."""

    key: str
    """Its first line, a hidden marker naming the run and the place: a re-run edits the one it finds."""
    path: str
    start_line: int
    end_line: int
    body: str
    """The whole comment: the key, one line of why, the ```suggestion block."""


class Annotation(BaseModel):
    """One check-run annotation."""

    path: str
    start_line: int
    end_line: int
    annotation_level: Literal["notice", "warning", "failure"]
    message: str
    title: str | None = None
    raw_details: str | None = None

    def payload(self) -> dict[str, Any]:
        # Shown as plain text, but a terminal-style escape or control character still garbles it.
        data = self.model_dump(exclude_none=True)
        data["message"] = strip_ansi(data["message"])[:60_000]
        if "raw_details" in data:
            data["raw_details"] = strip_ansi(data["raw_details"])[:60_000]
        if "title" in data:
            data["title"] = strip_ansi(data["title"]).replace("\n", " ")[:255]
        return data


def _github_detail(exc: GithubException) -> str:
    """GitHub's own words: its message, and the field errors a 422 lists ("body is too long")."""
    data = exc.data if isinstance(exc.data, dict) else {}
    parts = [str(data.get("message") or exc)]
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            text = item.get("message") or " ".join(str(item.get(k)) for k in ("field", "code") if item.get(k))
            if text:
                parts.append(str(text))
        elif item:
            parts.append(str(item))
    return " ".join("; ".join(parts).split())[:400]


def _header(exc: GithubException, name: str) -> str | None:
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    value = headers.get(name)
    return str(value) if value is not None else None


def _rate_limited(exc: GithubException) -> bool:
    """GitHub's rate limits, by its headers: none left in the window, or a secondary limit's Retry-After."""
    return exc.status in (403, 429) and (
        _header(exc, "x-ratelimit-remaining") == "0" or _header(exc, "retry-after") is not None
    )


def _missing_permission(exc: GithubException) -> bool:
    """A 403 naming the permissions the endpoint accepts: this token (a fork PR's GITHUB_TOKEN) lacks them."""
    return exc.status == 403 and _header(exc, "x-accepted-github-permissions") is not None


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except GithubException as exc:
        detail = _github_detail(exc)
        data: dict[str, Any] = {"status_code": exc.status, "request_id": _header(exc, "x-github-request-id")}
        if _rate_limited(exc):
            raise PublishError(
                f"GitHub rate-limited the request to {action} after the retries ({exc.status}: {detail}).",
                hint="Re-run the job later; runs of many jobs at once share the token's limits.",
                **data,
            ) from exc
        if _missing_permission(exc):
            needed = _header(exc, "x-accepted-github-permissions") or ""
            raise ReadOnlyToken(
                f"The GitHub token cannot {action} ({exc.status}: {detail}; it needs {needed}).",
                hint="On pull requests from forks the token is read-only: run Refinery from a `workflow_run` "
                "workflow (see the README), or grant `pull-requests: write` and `checks: write`.",
                **data,
            ) from exc
        if exc.status in (401, 403, 404):
            raise PublishError(
                f"GitHub refused to {action} ({exc.status}: {detail}).",
                hint="Check the workflow's `permissions:` (pull-requests: write, checks: write) and `github-token`.",
                **data,
            ) from exc
        raise PublishError(f"GitHub failed to {action} ({exc.status}: {detail}).", **data) from exc
    except requests.exceptions.RequestException as exc:
        # Retries exhausted on 5xx (urllib3's RetryError), a timeout, a refused connection.
        detail = " ".join(str(exc).split())[:300]
        raise PublishError(
            f"GitHub could not be reached to {action} ({type(exc).__name__}: {detail}).",
            hint="GitHub may be having an incident; re-run the job later.",
        ) from exc


def _count(value: object) -> int | None:
    """A count as GitHub sends it (an integer), or as a proxy might (a numeric string); else unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class GitHubPublisher:
    """Writes results to one repository."""

    def __init__(self, client: Github, repository: str) -> None:
        self._client = client
        self._repo = client.get_repo(repository)  # the client is lazy: no request until needed

    def find_pull_request(self, head_sha: str, head_owner: str | None, head_branch: str | None) -> int | None:
        """The open PR whose head is ``head_sha`` (for workflow_run from a fork, where the event has none)."""
        with _translated("look up the pull request for this commit"):
            if head_owner and head_branch:
                for pull in self._repo.get_pulls(state="open", head=f"{head_owner}:{head_branch}"):
                    if pull.head.sha == head_sha:
                        return int(pull.number)
            for pull in self._repo.get_commit(head_sha).get_pulls():
                if pull.head.sha == head_sha and pull.state == "open":
                    return int(pull.number)
        return None

    def pull_request_files(
        self, pr_number: int, limit: int = 3_000
    ) -> tuple[list[tuple[str, str | None, str | None]], int]:
        """The pull request's files as (path, patch, previous path), every page; and how many it has.

        GitHub lists at most 3,000 files of a pull request, and gives no patch for a binary file
        or one too large to show. Read from the raw answer with defaults: a proxy or an older
        server may send a count as a string or leave it out, or a patch that is not text.
        """
        files: list[tuple[str, str | None, str | None]] = []
        with _translated(f"list the files of pull request #{pr_number}"):
            pull = self._repo.get_pull(pr_number)
            for item in pull.get_files():  # PaginatedList: follows every page's Link
                raw = item.raw_data if isinstance(item.raw_data, dict) else {}
                patch = raw.get("patch")
                previous = raw.get("previous_filename")
                files.append(
                    (
                        str(raw.get("filename") or ""),
                        patch if isinstance(patch, str) else None,
                        previous if isinstance(previous, str) else None,
                    )
                )
                if len(files) >= limit:
                    break
            total = _count(pull.raw_data.get("changed_files") if isinstance(pull.raw_data, dict) else None)
        return [f for f in files if f[0]], max(total or 0, len(files))

    def run_started_at(self, run_id: int) -> datetime | None:
        """When a workflow run started: the default --since when the evals ran in this same run."""
        with _translated(f"read workflow run {run_id}"):
            started = self._repo.get_workflow_run(run_id).run_started_at
        if started is None:
            return None
        return started if started.tzinfo else started.replace(tzinfo=UTC)

    def upsert_comment(
        self, pr_number: int, body: str, marker: str, *, mode: Literal["update", "new"], comment_id: int | None = None
    ) -> tuple[str, int]:
        """Edit comment ``comment_id``, or the one carrying ``marker`` (searching every page), or create one.

        Returns its URL and id (the id lets a later write of the same run edit it in place).
        """
        with _translated(f"comment on pull request #{pr_number}"):
            issue = self._repo.get_issue(pr_number)
            if comment_id is not None:
                ours = issue.get_comment(comment_id)
                ours.edit(body)
                return str(ours.html_url), int(ours.id)
            if mode == "update":
                found = None
                for comment in issue.get_comments():  # PaginatedList: follows every page's Link
                    # Ours start with the marker and come from a bot; never edit a person's comment,
                    # even one that quotes the marker.
                    if (comment.body or "").startswith(marker) and comment.user.login.endswith("[bot]"):
                        found = comment
                if found is not None:
                    found.edit(body)
                    return str(found.html_url), int(found.id)
            created = issue.create_comment(body)
            return str(created.html_url), int(created.id)

    def sync_suggestions(
        self, pr_number: int, head_sha: str, suggestions: list[Suggestion], prefix: str
    ) -> tuple[int, int, int]:
        """Make this run's review comments (a bot's, starting with ``prefix``) exactly ``suggestions``:
        the same key is edited, a new one created on the head commit, one no longer proposed deleted.
        Nobody else's comment is touched. Returns (created, edited, deleted)."""
        with _translated(f"suggest changes on pull request #{pr_number}"):
            pull = self._repo.get_pull(pr_number)
            ours: dict[str, Any] = {}
            for comment in pull.get_review_comments():
                body = comment.body or ""
                if body.startswith(prefix) and comment.user.login.endswith("[bot]"):
                    ours[body.split("\n", 1)[0]] = comment
            created = edited = 0
            commit = None
            for suggestion in suggestions:
                found = ours.pop(suggestion.key, None)
                if found is not None:
                    if found.body != suggestion.body:
                        found.edit(suggestion.body)
                        edited += 1
                    continue
                commit = commit or self._repo.get_commit(head_sha)
                span: dict[str, Any] = (
                    {"start_line": suggestion.start_line, "start_side": "RIGHT"}
                    if suggestion.start_line < suggestion.end_line
                    else {}
                )
                pull.create_review_comment(
                    suggestion.body, commit, suggestion.path, line=suggestion.end_line, side="RIGHT", **span
                )
                created += 1
            for stale in ours.values():
                stale.delete()
            return created, edited, len(ours)

    def start_check_run(
        self, *, name: str, head_sha: str, title: str, summary: str, details_url: str | None
    ) -> tuple[str, int]:
        """Create the check run ``in_progress`` (the triage is in; the stages are running). Returns URL and id."""
        kwargs: dict[str, Any] = {
            "name": name,
            "head_sha": head_sha,
            "status": "in_progress",
            "output": {"title": title[:255], "summary": _cap(summary)},
        }
        if details_url:
            kwargs["details_url"] = details_url
        with _translated("create a check run"):
            check_run = self._repo.create_check_run(**kwargs)
        return str(check_run.html_url), int(check_run.id)

    def publish_check_run(
        self,
        *,
        name: str,
        head_sha: str,
        title: str,
        summary: str,
        text: str | None,
        conclusion: Conclusion,
        annotations: list[Annotation],
        details_url: str | None = None,
        check_run_id: int | None = None,
    ) -> str:
        """Complete check run ``check_run_id`` (or create a completed one), then append annotations 50 at
        a time. Returns its URL."""
        output: dict[str, Any] = {"title": title[:255], "summary": _cap(summary)}
        if text:
            output["text"] = _cap(text)
        batches = [annotations[i : i + ANNOTATION_BATCH] for i in range(0, len(annotations), ANNOTATION_BATCH)]
        with _translated("create a check run" if check_run_id is None else "complete the check run"):
            first = {**output, "annotations": [a.payload() for a in batches[0]]} if batches else output
            if check_run_id is not None:
                check_run = self._repo.get_check_run(check_run_id)
                check_run.edit(status="completed", conclusion=conclusion, output=first)
            else:
                kwargs: dict[str, Any] = {
                    "name": name,
                    "head_sha": head_sha,
                    "status": "completed",
                    "conclusion": conclusion,
                    "output": first,
                }
                if details_url:
                    kwargs["details_url"] = details_url
                check_run = self._repo.create_check_run(**kwargs)
            for batch in batches[1:]:
                check_run.edit(output={**output, "annotations": [a.payload() for a in batch]})
        return str(check_run.html_url)


def _cap(text: str) -> str:
    if len(text) <= CHECK_TEXT_LIMIT:
        return text
    note = "\n\n_Cut to GitHub's 65,535-character limit; the full report is in the artifacts._"
    cut = text[: CHECK_TEXT_LIMIT - len(note) - 4]
    if cut.count("```") % 2:
        cut += "\n```"
    return cut + note
