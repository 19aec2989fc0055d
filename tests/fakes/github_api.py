"""A stateful fake of the GitHub REST API, enough for PyGithub's issue comments, check runs and
pull-request lookups.

Response bodies start from the examples in GitHub's own OpenAPI description (npm
``@octokit/openapi``), so they have the shape Prism checks; every absolute URL in them is
rewritten to the fake's own host and port, so PyGithub's pagination (Link headers) and
``url`` fields come back here.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import threading
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.server import Request, Response, ServedFake, json_response

TOOLS = (
    Path(os.environ.get("REFINERY_NODE_TOOLS") or Path(__file__).resolve().parents[1] / "tools")
    / "node_modules"
    / "@octokit"
)
GITHUB_SPEC = TOOLS / "openapi" / "generated" / "api.github.com.json"
WEBHOOK_EXAMPLES = TOOLS / "webhooks-examples" / "api.github.com" / "index.json"


def require_node_tools() -> None:
    import os

    if GITHUB_SPEC.is_file() and WEBHOOK_EXAMPLES.is_file():
        return
    message = "GitHub's OpenAPI description and webhook examples are missing: run `npm ci --prefix tests/tools`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@cache
def spec_examples() -> dict[str, Any]:
    require_node_tools()
    spec = json.loads(GITHUB_SPEC.read_text())
    return {k: v["value"] for k, v in spec["components"]["examples"].items() if "value" in v}


@cache
def _webhook_index() -> list[dict[str, Any]]:
    require_node_tools()
    return list(json.loads(WEBHOOK_EXAMPLES.read_text()))


def webhook_examples(event: str) -> list[dict[str, Any]]:
    """Fresh copies each call: a test that edits its payload must not change the next test's."""
    for entry in _webhook_index():
        if entry["name"] == event:
            return [copy.deepcopy(e) for e in entry["examples"]]
    raise KeyError(event)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub(ServedFake):
    """``with FakeGitHub() as gh: Github(base_url=gh.url, auth=Auth.Token(gh.token))``."""

    def __init__(
        self, token: str = "ghs_fakeinstallationtoken0123456789abcd", repo: str = "octo-org/agent-repo"
    ) -> None:
        self.token = token
        self.repo = repo
        self.read_only = False
        self.delays: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.comments: dict[int, dict[str, Any]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.review_comments: dict[int, dict[str, Any]] = {}
        """Comments on a pull request's diff (suggested changes), by id."""
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self.run_started_at = "2026-11-22T10:00:00Z"
        self.public_url: str | None = None
        """The host clients talk to, when a proxy (Prism) stands in front of the fake."""

    @property
    def url(self) -> str:
        """Absolute URLs in answers use this: the fake's own host and port, or the proxy in front."""
        assert self._server is not None
        return self.public_url or self._server.url

    @property
    def direct_url(self) -> str:
        assert self._server is not None
        return self._server.url

    def reset(self) -> None:
        server, public = self._server, self.public_url
        self.__init__(self.token, self.repo)  # type: ignore[misc]
        self._server, self.public_url = server, public

    # -- seeding ----------------------------------------------------------------------------

    def add_pull(
        self,
        number: int,
        head_sha: str,
        *,
        head_owner: str | None = None,
        head_ref: str = "feature",
        files: list[dict[str, Any]] | None = None,
    ) -> None:
        """A pull request; ``files`` as ``pulls/{n}/files`` lists them: filename, status, patch (None: binary)."""
        self.pulls[number] = {
            "number": number,
            "head_sha": head_sha,
            "head_owner": head_owner or self.repo.split("/")[0],
            "head_ref": head_ref,
            "state": "open",
            "files": files or [],
        }

    def add_comments(self, number: int, bodies: list[str], *, login: str = "someone") -> list[int]:
        return [self._store_comment(number, body, login) for body in bodies]

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue_number"] == number]

    # -- templates --------------------------------------------------------------------------

    def _rewrite(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("https://api.github.com", self.url).replace("https://github.com", self.url)
        if isinstance(value, dict):
            return {k: self._rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite(v) for v in value]
        return value

    def _template(self, name: str) -> dict[str, Any]:
        return dict(self._rewrite(copy.deepcopy(spec_examples()[name])))

    def _comment_obj(self, comment: dict[str, Any]) -> dict[str, Any]:
        obj = self._template("issue-comment")
        owner, name = self.repo.split("/")
        obj.update(
            id=comment["id"],
            node_id=f"IC_{comment['id']}",
            body=comment["body"],
            url=f"{self.url}/repos/{self.repo}/issues/comments/{comment['id']}",
            html_url=f"{self.url}/{self.repo}/pull/{comment['issue_number']}#issuecomment-{comment['id']}",
            issue_url=f"{self.url}/repos/{self.repo}/issues/{comment['issue_number']}",
            created_at=comment["created_at"],
            updated_at=comment["updated_at"],
        )
        obj["user"] = {**obj["user"], "login": comment["login"]}
        del owner, name
        return obj

    def _store_comment(self, number: int, body: str, login: str) -> int:
        with self._lock:
            cid = next(self._ids)
            self.comments[cid] = {
                "id": cid,
                "issue_number": number,
                "body": body,
                "login": login,
                "created_at": _now(),
                "updated_at": _now(),
            }
        return cid

    def _check_obj(self, run: dict[str, Any]) -> dict[str, Any]:
        obj = self._template("check-run")
        obj.update(
            id=run["id"],
            node_id=f"CR_{run['id']}",
            name=run["name"],
            head_sha=run["head_sha"],
            status=run["status"],
            conclusion=run.get("conclusion"),
            url=f"{self.url}/repos/{self.repo}/check-runs/{run['id']}",
            html_url=f"{self.url}/{self.repo}/runs/{run['id']}",
            details_url=run.get("details_url") or obj["details_url"],
            completed_at=_now() if run["status"] == "completed" else None,
        )
        output = run["output"]
        obj["output"] = {
            "title": output.get("title"),
            "summary": output.get("summary"),
            "text": output.get("text"),
            "annotations_count": len(run["annotations"]),
            "annotations_url": f"{self.url}/repos/{self.repo}/check-runs/{run['id']}/annotations",
        }
        return obj

    def _pull_obj(self, pull: dict[str, Any]) -> dict[str, Any]:
        obj = self._template("pull-request-simple")
        obj.update(
            number=pull["number"],
            state=pull["state"],
            url=f"{self.url}/repos/{self.repo}/pulls/{pull['number']}",
            html_url=f"{self.url}/{self.repo}/pull/{pull['number']}",
        )
        obj["head"] = {
            **obj["head"],
            "sha": pull["head_sha"],
            "ref": pull["head_ref"],
            "label": f"{pull['head_owner']}:{pull['head_ref']}",
        }
        return obj

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        times: int = 1,
        *,
        message: str = "Server Error",
        errors: list[dict[str, Any]] | None = None,
        **headers: str,
    ) -> None:
        """Answer the next ``times`` requests matching ``method path_pattern`` (a regex) with GitHub's error shape."""
        body: dict[str, Any] = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        if errors is not None:
            body["errors"] = errors
        self.faults.append(
            {
                "method": method,
                "pattern": path_pattern,
                "status": status,
                "times": times,
                "body": body,
                "headers": {k.replace("_", "-"): v for k, v in headers.items()},
            }
        )

    def delay(self, method: str, path_pattern: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` requests matching ``method path_pattern`` for ``seconds``, then answer them."""
        self.delays.append({"method": method, "pattern": path_pattern, "seconds": seconds, "times": times})

    def _hold(self, request: Request) -> None:
        with self._lock:
            due = next(
                (
                    d
                    for d in self.delays
                    if d["times"] > 0 and d["method"] == request.method and re.search(d["pattern"], request.path)
                ),
                None,
            )
            if due is not None:
                due["times"] -= 1
        if due is not None:
            time.sleep(due["seconds"])

    def _fault_for(self, request: Request) -> Response | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault["times"] > 0
                    and fault["method"] == request.method
                    and re.search(fault["pattern"], request.path)
                ):
                    fault["times"] -= 1
                    return json_response(fault["body"], fault["status"], fault["headers"])
        return None

    # -- WSGI -------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        # Every answer of the real API carries its request id; Refinery's errors quote it.
        response.headers.setdefault("X-GitHub-Request-Id", f"FAKE:{len(self.requests):06d}")
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        body = json.loads(request.data) if request.data else None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.args),
                "body": body,
                "at": time.monotonic(),  # ordering against other fakes' requests
            }
        )
        if request.headers.get("Authorization") not in (f"token {self.token}", f"Bearer {self.token}"):
            return json_response(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, 401
            )
        self._hold(request)
        fault = self._fault_for(request)
        if fault is not None:
            return fault
        repo = re.escape(self.repo)
        path, method = request.path, request.method
        if self.read_only and method in ("POST", "PATCH", "DELETE"):
            return json_response(
                {
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
                    "status": "403",
                },
                403,
                # As GitHub answers an installation token (GITHUB_TOKEN) that lacks a permission.
                {"X-Accepted-GitHub-Permissions": "issues=write; pull_requests=write"},
            )
        match = re.fullmatch(rf"/repos/{repo}/issues/(\d+)", path)
        if match and method == "GET":
            obj = self._template("issue")
            number = int(match.group(1))
            obj.update(
                number=number,
                url=f"{self.url}/repos/{self.repo}/issues/{number}",
                comments_url=f"{self.url}/repos/{self.repo}/issues/{number}/comments",
                html_url=f"{self.url}/{self.repo}/pull/{number}",
                comments=len(self.comments_on(number)),
            )
            return json_response(obj)
        match = re.fullmatch(rf"/repos/{repo}/issues/(\d+)/comments", path)
        if match and method == "GET":
            return self._list_comments(int(match.group(1)), request)
        if match and method == "POST":
            cid = self._store_comment(int(match.group(1)), body["body"], "github-actions[bot]")
            return json_response(self._comment_obj(self.comments[cid]), 201)
        match = re.fullmatch(rf"/repos/{repo}/issues/comments/(\d+)", path)
        if match and method == "GET":
            comment = self.comments.get(int(match.group(1)))
            if comment is None:
                return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
            return json_response(self._comment_obj(comment))
        if match and method == "PATCH":
            comment = self.comments.get(int(match.group(1)))
            if comment is None:
                return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
            comment.update(body=body["body"], updated_at=_now())
            return json_response(self._comment_obj(comment))
        if path == f"/repos/{self.repo}/check-runs" and method == "POST":
            cid = next(self._ids)
            output = dict(body.get("output") or {})
            run = {
                "id": cid,
                "name": body["name"],
                "head_sha": body["head_sha"],
                "status": body.get("status", "queued"),
                "conclusion": body.get("conclusion"),
                "details_url": body.get("details_url"),
                "annotations": list(output.pop("annotations", [])),
                "output": output,
                "requests": 1,
            }
            self.check_runs[cid] = run
            return json_response(self._check_obj(run), 201)
        match = re.fullmatch(rf"/repos/{repo}/check-runs/(\d+)", path)
        if match and method == "GET" and int(match.group(1)) in self.check_runs:
            return json_response(self._check_obj(self.check_runs[int(match.group(1))]))
        if match and method == "PATCH":
            run = self.check_runs[int(match.group(1))]
            output = dict(body.get("output") or {})
            run["annotations"].extend(output.pop("annotations", []))
            run["output"].update(output)
            run["requests"] += 1
            for key in ("status", "conclusion"):
                if key in body:
                    run[key] = body[key]
            return json_response(self._check_obj(run))
        match = re.fullmatch(rf"/repos/{repo}/pulls/(\d+)", path)
        if match and method == "GET" and int(match.group(1)) in self.pulls:
            pull = self.pulls[int(match.group(1))]
            obj = self._template("pull-request")
            obj.update(self._pull_obj(pull))
            # The description's own example lists a team without the fields its schema requires.
            obj.update(changed_files=len(pull["files"]), requested_teams=[], requested_reviewers=[])
            for key, value in pull.get("raw", {}).items():  # a test's hostile shape: None drops the field
                if value is None:
                    obj.pop(key, None)
                else:
                    obj[key] = value
            return json_response(obj)
        routed = self._review_comment_route(path, method, body, request)
        if routed is not None:
            return routed
        match = re.fullmatch(rf"/repos/{repo}/pulls/(\d+)/files", path)
        if match and method == "GET" and int(match.group(1)) in self.pulls:
            return self._list_files(int(match.group(1)), request)
        if path == f"/repos/{self.repo}/pulls" and method == "GET":
            head = request.args.get("head")
            pulls = [p for p in self.pulls.values() if p["state"] == request.args.get("state", "open")]
            if head:
                pulls = [p for p in pulls if f"{p['head_owner']}:{p['head_ref']}" == head]
            return json_response([self._pull_obj(p) for p in pulls])
        match = re.fullmatch(rf"/repos/{repo}/actions/runs/(\d+)", path)
        if match and method == "GET":
            obj = self._template("workflow-run")
            obj.update(
                id=int(match.group(1)),
                run_started_at=self.run_started_at,
                url=f"{self.url}/repos/{self.repo}/actions/runs/{match.group(1)}",
            )
            return json_response(obj)
        match = re.fullmatch(rf"/repos/{repo}/commits/([0-9a-f]+)", path)
        if match and method == "GET":
            obj = self._template("commit")
            obj["sha"] = match.group(1)
            obj["url"] = f"{self.url}/repos/{self.repo}/commits/{match.group(1)}"
            return json_response(obj)
        match = re.fullmatch(rf"/repos/{repo}/commits/([0-9a-f]+)/pulls", path)
        if match and method == "GET":
            return json_response([self._pull_obj(p) for p in self.pulls.values() if p["head_sha"] == match.group(1)])
        return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)

    def add_review_comment(
        self, number: int, body: str, login: str, path: str = "prompts/agent.md", line: int = 1
    ) -> int:
        """A review comment already on the pull request (a person's, or an earlier run's)."""
        with self._lock:
            cid = next(self._ids)
            self.review_comments[cid] = {
                "id": cid, "number": number, "body": body, "login": login, "path": path, "line": line,
                "start_line": None, "side": "RIGHT", "commit_id": "0" * 40,
            }  # fmt: skip
        return cid

    def review_comments_on(self, number: int) -> list[dict[str, Any]]:
        return sorted((c for c in self.review_comments.values() if c["number"] == number), key=lambda c: c["id"])

    def _review_comment_obj(self, comment: dict[str, Any]) -> dict[str, Any]:
        obj = self._template("pull-request-review-comment")
        obj.pop("in_reply_to_id", None)
        obj.update(
            id=comment["id"],
            body=comment["body"],
            path=comment["path"],
            line=comment["line"],
            original_line=comment["line"],
            start_line=comment["start_line"],
            original_start_line=comment["start_line"],
            side=comment["side"],
            start_side=comment["side"] if comment["start_line"] else None,
            commit_id=comment["commit_id"],
            original_commit_id=comment["commit_id"],
            url=f"{self.url}/repos/{self.repo}/pulls/comments/{comment['id']}",
            html_url=f"{self.url}/{self.repo}/pull/{comment['number']}#discussion_r{comment['id']}",
            pull_request_url=f"{self.url}/repos/{self.repo}/pulls/{comment['number']}",
        )
        obj["user"] = {**obj["user"], "login": comment["login"]}
        return obj

    def _review_comment_route(self, path: str, method: str, body: dict[str, Any], request: Request) -> Response | None:
        repo = re.escape(self.repo)
        match = re.fullmatch(rf"/repos/{repo}/pulls/(\d+)/comments", path)
        if match and method == "GET":
            return json_response([self._review_comment_obj(c) for c in self.review_comments_on(int(match.group(1)))])
        if match and method == "POST":
            with self._lock:
                cid = next(self._ids)
                self.review_comments[cid] = {
                    "id": cid,
                    "number": int(match.group(1)),
                    "body": body["body"],
                    "login": "github-actions[bot]",
                    "path": body["path"],
                    "line": body["line"],
                    "start_line": body.get("start_line"),
                    "side": body.get("side", "RIGHT"),
                    "commit_id": body["commit_id"],
                }
            return json_response(self._review_comment_obj(self.review_comments[cid]), 201)
        match = re.fullmatch(rf"/repos/{repo}/pulls/comments/(\d+)", path)
        comment = self.review_comments.get(int(match.group(1))) if match else None
        if match and comment is None:
            return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
        if comment is not None and method == "PATCH":
            comment["body"] = body["body"]
            return json_response(self._review_comment_obj(comment))
        if comment is not None and method == "DELETE":
            del self.review_comments[comment["id"]]
            return Response(status=204)
        return None

    def _list_files(self, number: int, request: Request) -> Response:
        """``pulls/{n}/files``: pages of at most 100 (30 by default), 3,000 files at most, as GitHub."""
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        files = self.pulls[number]["files"][:3000]
        chunk = files[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(files) // per_page))
        base = f"{self.url}/repos/{self.repo}/pulls/{number}/files?per_page={per_page}"
        links = [f'<{base}&page={page + 1}>; rel="next"', f'<{base}&page={last}>; rel="last"'] if page < last else []
        template = self._rewrite(copy.deepcopy(spec_examples()["diff-entry-items"][0]))
        items = []
        for entry in chunk:
            item = {**template, "status": "modified", "additions": 1, "deletions": 1, "changes": 2, **entry}
            if item.get("patch") is None:
                item.pop("patch", None)  # GitHub leaves it out for a binary or very large file
            items.append(item)
        return json_response(items, headers={"Link": ", ".join(links)} if links else {})

    def _list_comments(self, number: int, request: Request) -> Response:
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        items = sorted(self.comments_on(number), key=lambda c: c["id"])
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        base = f"{self.url}/repos/{self.repo}/issues/{number}/comments?per_page={per_page}"
        links = []
        if page < last:
            links.append(f'<{base}&page={page + 1}>; rel="next"')
            links.append(f'<{base}&page={last}>; rel="last"')
        headers = {"Link": ", ".join(links)} if links else {}
        return json_response([self._comment_obj(c) for c in chunk], headers=headers)
