"""A threaded loopback HTTP server for the fakes, on 127.0.0.1 and an ephemeral port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

logging.getLogger("werkzeug").setLevel(logging.ERROR)


class LoopbackServer:
    """Serve a WSGI app on 127.0.0.1 in a daemon thread; use as a context manager."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # serve_forever notices a shutdown at its next poll: 0.5 s by default, paid by every test
        # that starts a fake (and by every mutant a mutation run tests through one).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


class ServedFake:
    """Base of the fakes: serves ``self.wsgi`` on loopback while used as a context manager."""

    _server: LoopbackServer | None = None

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self: Any) -> Any:
        self._server = LoopbackServer(self.wsgi)
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.__exit__(*exc)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    import json

    return Response(json.dumps(body, default=str), status=status, headers=headers, content_type="application/json")


__all__ = ["LoopbackServer", "Request", "Response", "ServedFake", "json_response"]
