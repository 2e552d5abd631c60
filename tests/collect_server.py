"""A real HTTP server on 127.0.0.1 (ephemeral port) for collection tests.

Routes map a path to a function of the request that returns a Reply; every
request is recorded (with its arrival time) so tests can assert what the
client sent and when. Runs in a background thread, one thread per
connection, HTTP/1.1 keep-alive like a real server.

    with LocalServer() as srv:
        srv.route("/items", lambda req: Reply(body={"items": []}))
        srv.url("/items")

A route "*" catches everything, which is how a test plays an HTTP proxy
(the client then sends absolute URLs as the request target).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    target: str  # as sent: a path, or an absolute URL when we are a proxy
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    at: float  # time.monotonic() on arrival


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)


Handler = Callable[[Request], Reply]


class LocalServer:
    def __init__(self, routes: dict[str, Handler] | None = None) -> None:
        self.routes: dict[str, Handler] = dict(routes or {})
        self.hits: list[Request] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- setup ----------------------------------------------------------------
    def route(self, path: str, handler: Handler | None = None) -> Any:
        if handler is not None:
            self.routes[path] = handler
            return handler

        def deco(fn: Handler) -> Handler:
            self.routes[path] = fn
            return fn
        return deco

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    def hits_for(self, path: str) -> list[Request]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> "LocalServer":
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                parts = urlsplit(self.path)
                req = Request("GET", self.path, parts.path or "/", dict(parse_qsl(parts.query)),
                              {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
                with server._lock:
                    server.hits.append(req)
                handler = server.routes.get(req.path) or server.routes.get("*")
                reply = handler(req) if handler else Reply(404, "not found")
                if reply.delay:
                    time.sleep(reply.delay)
                body, ctype = _encode(reply.body)
                try:
                    self.send_response(reply.status)
                    # A 304 carries no representation, so no Content-Type of its own.
                    headers = {**({} if reply.status == 304 else {"Content-Type": ctype}), **reply.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if reply.status != 304:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): expected

            def log_message(self, *args: Any) -> None:
                pass

        class _Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # closed connections during timeout tests are not errors

        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _encode(body: bytes | str | dict | list) -> tuple[bytes, str]:
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), "application/json"
    if isinstance(body, str):
        return body.encode(), "text/html; charset=utf-8"
    return body, "application/octet-stream"


def free_port() -> int:
    """A port nothing listens on (bound, read, released): a server that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Retries and backoff small enough that a failing test source costs milliseconds.
FAST_HTTP = {"timeout": 2.0, "connect_timeout": 1.0, "max_attempts": 3, "backoff_base": 0.01,
             "backoff_max": 0.05, "retry_after_max": 2.0}


def source(name: str, type_: str, url: str, **kw: Any) -> dict[str, Any]:
    """A source config pointed at a LocalServer (loopback explicitly allowed);
    a vehicles source mapping `make`/`model`/`year`/`url` unless told otherwise."""
    http = {**FAST_HTTP, **kw.pop("http", {})}
    return {"name": name, "type": type_, "url": url, "allowed_hosts": ["127.0.0.1"],
            "allow_private_networks": True, "http": http, "kind": "vehicles",
            "fields": {"make": "make", "model": "model", "year": "year", "source_url": "url"}, **kw}
