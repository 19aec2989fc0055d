"""A stateful fake of the LangSmith REST API, enough for the real langsmith SDK.

Write side (what ``traceable``/``RunTree`` and ``create_feedback`` send): ``POST /runs``,
``PATCH /runs/{id}``, ``POST /runs/batch``, ``POST /feedback``, ``POST /examples``,
``POST /datasets``. Read side: ``GET /info`` (the SDK asks first), ``GET /runs/{id}``,
``POST /runs/query`` with cursor paging (page size ≤ 100, 400 above, as LangSmith),
``GET /feedback``, ``GET /sessions``, ``GET /examples/{id}``.

Faults are scripted per test with ``fail``: the next N matching requests get a status
(and headers such as Retry-After) instead of an answer.

**The contract.** Every fake stands behind Prism with LangSmith's official OpenAPI description
(``../shared/contracts/langsmith.openapi.json``): ``fake.url`` is the proxy's ``/api/v1`` (where
the description puts the read API), so every request Refinery sends and every answer the fake
gives is checked, and a violation fails the request. One Prism serves the whole test session
through a switchboard that forwards to the fake in use. ``fake.direct_url`` is the fake itself,
for the SDK's own ingestion (``POST /runs/batch`` …) that records fixtures: that is the
langsmith SDK's traffic, not ours. Where the description is absent (no ``../shared``) the fake
is used directly, and says so once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.server import LoopbackServer, Request, Response, ServedFake, json_response

MAX_PAGE = 100
LANGSMITH_SPEC = Path(os.environ.get("REFINERY_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / (
    "contracts/langsmith.openapi.json"
)
TENANT = "00000000-0000-4000-8000-00000000fa4e"


@dataclass
class Fault:
    method: str
    path_pattern: str
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0  # let this many matching requests through first


class _Switchboard:
    """One loopback server, in front of whichever fake is in use, for the session's one Prism."""

    def __init__(self) -> None:
        self.current: FakeLangSmith | None = None
        self.server = LoopbackServer(self.wsgi).__enter__()
        self.prism_url: str | None = None
        self._stack = contextlib.ExitStack()

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.current is None:
            return json_response({"detail": "no fake LangSmith in use"}, 503)(environ, start_response)
        return self.current.wsgi(environ, start_response)

    def start_prism(self) -> str:
        if self.prism_url is None:
            from tests.fakes.prism import prism_proxy

            self.prism_url = self._stack.enter_context(prism_proxy(LANGSMITH_SPEC, self.server.url))
            atexit.register(self._stack.close)
        return self.prism_url


_SWITCHBOARD: _Switchboard | None = None


def contract_available() -> bool:
    """LangSmith's description is there, and the run has not asked for the fake alone: a mutation run
    (``REFINERY_TESTS_WITHOUT_CONTRACT``) starts thousands of test sessions, and a Prism per session
    would outlive the workers the run stops. The contract is checked by the suite itself."""
    return LANGSMITH_SPEC.is_file() and not os.environ.get("REFINERY_TESTS_WITHOUT_CONTRACT")


class FakeLangSmith(ServedFake):
    """State plus a WSGI app. ``with FakeLangSmith() as fake: fake.url`` (through Prism)."""

    def __init__(self, api_key: str = "lsv2_fake_key", *, default_page: int = MAX_PAGE, contract: bool = True) -> None:
        self.contract = contract and contract_available()
        self.api_key = api_key
        self.default_page = default_page
        self.runs: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.feedback: list[dict[str, Any]] = []
        self.examples: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.faults: list[Fault] = []
        self.rate_limit: int | None = None
        """Requests per second before a 429 with Retry-After, as LangSmith's rate limiter answers."""
        self.rate_limited = 0
        """429s sent by the rate limiter."""
        self._window: list[float] = []
        self._lock = threading.Lock()

    def __enter__(self) -> FakeLangSmith:
        global _SWITCHBOARD
        super().__enter__()
        if self.contract:
            _SWITCHBOARD = _SWITCHBOARD or _Switchboard()
            self._proxy = _SWITCHBOARD.start_prism()
            _SWITCHBOARD.current = self
        return self

    def __exit__(self, *exc: object) -> None:
        if _SWITCHBOARD is not None and _SWITCHBOARD.current is self:
            _SWITCHBOARD.current = None
        super().__exit__(*exc)

    @property
    def url(self) -> str:
        """Where Refinery reads: Prism's ``/api/v1`` in front of this fake (the fake itself without the contract)."""
        return f"{self._proxy}/api/v1" if self.contract else self.direct_url

    @property
    def direct_url(self) -> str:
        """The fake itself, for the SDK's ingestion that records fixtures."""
        return super().url

    def fail(
        self, method: str, path_pattern: str, status: int, times: int = 1, *, after: int = 0, **headers: str
    ) -> None:
        """Answer the next ``times`` requests matching ``method path_pattern`` (a regex) with ``status``."""
        self.faults.append(
            Fault(method, path_pattern, status, times, {k.replace("_", "-"): v for k, v in headers.items()}, after)
        )

    # -- helpers ------------------------------------------------------------------------------

    def session_id(self, name: str) -> str:
        for sid, session in self.sessions.items():
            if session["name"] == name:
                return sid
        sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"session:{name}"))
        self.sessions[sid] = {
            "id": sid,
            "name": name,
            "tenant_id": TENANT,
            "start_time": datetime.now(UTC).isoformat(),
            "reference_dataset_id": None,
        }
        return sid

    def _public_run(self, run: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in run.items() if k not in ("session_name", "attachments", "serialized")}
        out["app_path"] = f"/o/{TENANT}/projects/p/{run['session_id']}/r/{run['id']}?trace_id={run['trace_id']}"
        out.setdefault("status", "error" if run.get("error") else ("success" if run.get("end_time") else "pending"))
        out.setdefault("name", run.get("run_type") or "run")
        out.setdefault("run_type", "chain")
        out.setdefault("dotted_order", "")
        out["feedback_stats"] = self._feedback_stats(run["id"])
        return out

    def _feedback_stats(self, run_id: str) -> dict[str, Any] | None:
        """Per key: n, avg, stdev, errors, values, as LangSmith aggregates a run's feedback."""
        by_key: dict[str, list[float]] = {}
        for item in self.feedback:
            if str(item.get("run_id")) == run_id and isinstance(item.get("score"), int | float):
                by_key.setdefault(str(item["key"]), []).append(float(item["score"]))
        if not by_key:
            return None
        stats = {}
        for key, scores in by_key.items():
            avg = sum(scores) / len(scores)
            stdev = (sum((x - avg) ** 2 for x in scores) / len(scores)) ** 0.5
            stats[key] = {"n": len(scores), "avg": avg, "stdev": stdev, "errors": 0, "values": {}}
        return stats

    def runs_of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Stored runs of one trace in dotted order, as the API returns them."""
        runs = [self._public_run(r) for r in self.runs.values() if str(r.get("trace_id")) == trace_id]
        return sorted(runs, key=lambda r: r.get("dotted_order") or "")

    # -- WSGI ---------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _over_rate(self) -> Response | None:
        if self.rate_limit is None:
            return None
        with self._lock:
            now = time.monotonic()
            self._window = [t for t in self._window if now - t < 1.0]
            if len(self._window) >= self.rate_limit:
                self.rate_limited += 1
                return json_response({"detail": "Rate limit exceeded"}, 429, {"Retry-After": "1"})
            self._window.append(now)
        return None

    def _fault_for(self, request: Request) -> Response | None:
        with self._lock:
            for fault in self.faults:
                path = request.path.removeprefix("/api/v1") or "/"
                if fault.times > 0 and fault.method == request.method and re.search(fault.path_pattern, path):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    return json_response({"detail": f"injected {fault.status}"}, fault.status, fault.headers)
        return None

    def _handle(self, request: Request) -> Response:
        body: Any = None
        if request.data:
            try:
                body = json.loads(request.data)
            except ValueError:
                return json_response({"detail": "invalid JSON"}, 422)
        # The official description puts the read API under /api/v1; the SDK's ingestion stays at the root.
        path = request.path.removeprefix("/api/v1") or "/"
        self.requests.append((request.method, request.full_path.removeprefix("/api/v1"), body))
        if path != "/info" and request.headers.get("x-api-key") != self.api_key:
            return json_response({"detail": "Invalid token"}, 401)
        fault = self._fault_for(request) or self._over_rate()
        if fault is not None:
            return fault
        method = request.method
        if path == "/info" and method == "GET":
            return json_response(
                {
                    "version": "0.10.99-fake",
                    "instance_flags": {},
                    # The contract's BatchIngestConfig in full (the SDK's batcher reads every field);
                    # JSON batches rather than multipart, which this fake does not parse.
                    "batch_ingest_config": {
                        "use_multipart_endpoint": False,
                        "scale_up_qsize_trigger": 1000,
                        "scale_up_nthreads_limit": 16,
                        "scale_down_nempty_trigger": 4,
                        "size_limit": 100,
                        "size_limit_bytes": 20971520,
                    },
                }
            )
        if path == "/runs" and method == "POST":
            self._store_run(body)
            return json_response({})
        if path == "/runs/batch" and method == "POST":
            for run in body.get("post") or []:
                self._store_run(run)
            for run in body.get("patch") or []:
                self._patch_run(str(run["id"]), run)
            return json_response({})
        if path == "/runs/query" and method == "POST":
            return self._query(body or {})
        match = re.fullmatch(r"/runs/([0-9a-f-]+)", path)
        if match and method == "PATCH":
            self._patch_run(match.group(1), body)
            return json_response({})
        if match and method == "GET":
            run = self.runs.get(match.group(1))
            return json_response(self._public_run(run)) if run else json_response({"detail": "Run not found"}, 404)
        if path == "/feedback" and method == "POST":
            item = {**body, "id": str(body.get("id") or uuid.uuid4()), "created_at": datetime.now(UTC).isoformat()}
            self.feedback.append(item)
            return json_response(item)
        if path == "/feedback" and method == "GET":
            return self._list_feedback(request)
        if path == "/sessions" and method == "GET":
            name = request.args.get("name")
            found = [s for s in self.sessions.values() if name is None or s["name"] == name]
            return json_response(found[: int(request.args.get("limit", 100))])
        match = re.fullmatch(r"/sessions/([0-9a-f-]+)", path)
        if match and method == "GET":
            session = self.sessions.get(match.group(1))
            return json_response(session) if session else json_response({"detail": "not found"}, 404)
        if path == "/datasets" and method == "POST":
            ds = {
                **body,
                "id": str(body.get("id") or uuid.uuid4()),
                "created_at": datetime.now(UTC).isoformat(),
                "modified_at": datetime.now(UTC).isoformat(),
                "tenant_id": TENANT,
                "example_count": 0,
            }
            self.datasets[ds["id"]] = ds
            return json_response(ds)
        if path == "/examples" and method == "POST":
            ex = {
                **body,
                "id": str(body.get("id") or uuid.uuid4()),
                # LangSmith names an example when the client gives none ("#" + a short id).
                "name": body.get("name") or f"#{str(body.get('id') or uuid.uuid4())[:4]}",
                "created_at": datetime.now(UTC).isoformat(),
                "modified_at": datetime.now(UTC).isoformat(),
            }
            self.examples[ex["id"]] = ex
            return json_response(ex)
        match = re.fullmatch(r"/examples/([0-9a-f-]+)", path)
        if match and method == "GET":
            ex = self.examples.get(match.group(1))
            return json_response(ex) if ex else json_response({"detail": "Example not found"}, 404)
        return json_response({"detail": f"fake has no {method} {path}"}, 404)

    def _store_run(self, run: dict[str, Any]) -> None:
        run = dict(run)
        run["id"] = str(run["id"])
        run["session_id"] = str(run.get("session_id") or self.session_id(run.get("session_name") or "default"))
        run.setdefault("trace_id", run["id"])
        with self._lock:
            existing = self.runs.get(run["id"], {})
            self.runs[run["id"]] = {**existing, **run}

    def _patch_run(self, run_id: str, patch: dict[str, Any]) -> None:
        with self._lock:
            run = self.runs.setdefault(run_id, {"id": run_id})
            for key, value in patch.items():
                if value is not None and key != "id":
                    run[key] = value

    def _list_feedback(self, request: Request) -> Response:
        run_ids = set(request.args.getlist("run"))
        keys = set(request.args.getlist("key"))
        limit = int(request.args.get("limit", 100))
        offset = int(request.args.get("offset", 0))
        if limit > MAX_PAGE:
            return json_response({"detail": "limit must be ≤ 100"}, 400)
        items = [
            f
            for f in self.feedback
            if (not run_ids or str(f.get("run_id")) in run_ids) and (not keys or f.get("key") in keys)
        ]
        return json_response(items[offset : offset + limit])

    def _query(self, body: dict[str, Any]) -> Response:
        limit = body.get("limit")
        if limit is not None and int(limit) > MAX_PAGE:
            return json_response({"detail": "limit: ensure this value is less than or equal to 100"}, 400)
        page = int(limit) if limit is not None else self.default_page
        stored = list(self.runs.values())
        if body.get("trace"):  # before the public view: a project of many traces stays quick to page
            stored = [r for r in stored if str(r.get("trace_id")) == str(body["trace"])]
        runs = [self._public_run(r) for r in stored]
        if body.get("reference_example"):
            examples = {str(e) for e in body["reference_example"]}
            runs = [r for r in runs if str(r.get("reference_example_id")) in examples]
        if body.get("session"):
            sessions = {str(s) for s in body["session"]}
            runs = [r for r in runs if str(r.get("session_id")) in sessions]
        if body.get("is_root"):
            runs = [r for r in runs if not r.get("parent_run_id")]
        if body.get("error") is not None:
            runs = [r for r in runs if bool(r.get("error")) == bool(body["error"])]
        if body.get("start_time"):
            since = datetime.fromisoformat(body["start_time"])
            runs = [r for r in runs if _dt(r.get("start_time")) >= since]
        if body.get("filter"):
            predicate = parse_filter(body["filter"])
            runs = [r for r in runs if predicate(r, self.feedback)]
        if body.get("trace"):
            runs.sort(key=lambda r: r.get("dotted_order") or "")
        else:
            runs.sort(key=lambda r: _dt(r.get("start_time")), reverse=True)
        offset = int(body.get("cursor") or 0)
        chunk = runs[offset : offset + page]
        if body.get("select"):  # as the server does: only the fields asked for
            chunk = [{k: v for k, v in r.items() if k in body["select"]} for r in chunk]
        next_cursor = str(offset + page) if offset + page < len(runs) else None
        return json_response({"runs": chunk, "cursors": {"next": next_cursor}})


def _dt(value: Any) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- the subset of LangSmith's filter language Refinery sends ----------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<name>[a-z_]+)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),]))')


def parse_filter(text: str) -> Any:
    """Parse ``and/or/eq/neq/lte/gte`` over error, feedback_key, feedback_score into a predicate."""
    tokens = [m for m in _TOKEN.finditer(text) if m.group(0).strip()]
    pos = 0

    def value() -> Any:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok.group("str"):
            return json.loads(tok.group("str"))
        if tok.group("num"):
            return float(tok.group("num"))
        if tok.group("name") == "null":
            return None
        return tok.group("name")

    def expr() -> Any:
        nonlocal pos
        op = tokens[pos].group("name")
        pos += 2  # name and "("
        args = []
        while True:
            args.append(expr() if op in ("and", "or") else value())
            sep = tokens[pos].group("punct")
            pos += 1
            if sep == ")":
                break
        return (op, args)

    tree = expr()

    def evaluate(node: Any, run: dict[str, Any], feedback: list[dict[str, Any]]) -> bool:
        op, args = node
        if op == "and":
            if any(a[0] in ("eq", "lte", "gte") and a[1][0] in ("feedback_key", "feedback_score") for a in args):
                # feedback_key and feedback_score constrain the same feedback item.
                items = [f for f in feedback if str(f.get("run_id")) == run["id"]]
                return any(all(_leaf(a, run, f) for a in args) for f in items)
            return all(evaluate(a, run, feedback) for a in args)
        if op == "or":
            return any(evaluate(a, run, feedback) for a in args)
        return _leaf(node, run, None)

    return lambda run, feedback: evaluate(tree, run, feedback)


def _leaf(node: Any, run: dict[str, Any], item: dict[str, Any] | None) -> bool:
    op, (field_, expected) = node
    if field_ == "feedback_key":
        actual = item.get("key") if item else None
    elif field_ == "feedback_score":
        actual = item.get("score") if item else None
    else:
        actual = run.get(field_)
    if op == "eq":
        return bool(actual == expected)
    if op == "neq":
        return bool(actual != expected) if expected is not None else actual not in (None, "")
    if actual is None:
        return False
    if op == "lte":
        return float(actual) <= float(expected)
    if op == "gte":
        return float(actual) >= float(expected)
    raise ValueError(f"fake filter has no {op}")
