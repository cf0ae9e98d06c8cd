"""The status server: one page, its live feed, the figures as JSON and as Prometheus text.

    GET /             the page (page.html: no build step, nothing fetched from elsewhere)
    GET /events       server-sent events: the status JSON at every snapshot
    GET /api/status   the status JSON (schema ``microemo.status/1``; frame rate under ``fps``)
    GET /metrics      Prometheus text
    GET /preview.jpg  the camera with the mesh, when ``status.preview`` is on (else 404)

Python's threading HTTP server in a thread of its own, a thread per connection; handlers
read the board's snapshot (``board.StatusBoard``) and never call into the frame loop. At most
``MAX_STREAMS`` live pages at once (more get 503), and a client that stops reading is
dropped after ``WRITE_TIMEOUT_S``. With a password (the ``status_password`` secret) every
path asks for basic auth.
"""

from __future__ import annotations

import base64
import hmac
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from microemo.daemon.status.board import StatusBoard
from microemo.daemon.status.preview import Preview
from microemo.daemon.status.prom import CONTENT_TYPE, exposition, registry

logger = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("page.html")
MAX_STREAMS = 8
WRITE_TIMEOUT_S = 10.0
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing an idle stream
# the page may load only from here: nothing from the internet, even if the file changed
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"
)


class StatusServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        board: StatusBoard,
        *,
        user: str,
        password: str | None,
    ) -> None:
        self.board = board
        self.page = PAGE.read_bytes()
        self.registry = registry(board)
        self.preview = Preview(board, board.preview_fps) if board.preview_fps else None
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.auth: bytes | None = None
        if password:
            self.auth = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
        if ":" in address[0]:  # an IPv6 address ("::" for every interface)
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    server: StatusServer
    server_version = "microemo"
    sys_version = ""
    timeout = WRITE_TIMEOUT_S
    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        route = {
            "/": self._page,
            "/index.html": self._page,
            "/api/status": self._status,
            "/events": self._events,
            "/metrics": self._metrics,
            "/preview.jpg": self._preview,
        }.get(path)
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        route()

    def _authorized(self) -> bool:
        want = self.server.auth
        got = (self.headers.get("Authorization") or "").encode()
        if want is None or hmac.compare_digest(got, want):
            return True
        self._send(
            HTTPStatus.UNAUTHORIZED,
            b"this status page asks for a password\n",
            "text/plain",
            {"WWW-Authenticate": 'Basic realm="microemo", charset="UTF-8"'},
        )
        return False

    def _page(self) -> None:
        self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")

    def _status(self) -> None:
        p = self.server.board.published
        if p is None:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b'{"error":"starting"}', "application/json")
            return
        self._send(HTTPStatus.OK, p.json(), "application/json")

    def _metrics(self) -> None:
        self._send(HTTPStatus.OK, exposition(self.server.registry), CONTENT_TYPE)

    def _preview(self) -> None:
        preview = self.server.preview
        if preview is None:
            body = b"the preview is off: status.preview = true turns it on\n"
            self._send(HTTPStatus.NOT_FOUND, body, "text/plain")
            return
        jpeg = preview.jpeg()
        if jpeg is None:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain")
            return
        self._send(HTTPStatus.OK, jpeg, "image/jpeg")

    def _events(self) -> None:
        """Server-sent events: each snapshot as ``event: status``, until the client goes."""
        streams = self.server.streams
        if not streams.acquire(blocking=False):
            body = f"more than {MAX_STREAMS} live pages; close one\n".encode()
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, body, "text/plain")
            return
        try:
            self._stream()
        except OSError:  # the page went away (or stopped reading)
            pass
        finally:
            streams.release()
            self.close_connection = True

    def _stream(self) -> None:
        board = self.server.board
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.write(b"retry: 2000\n\n")
        p = board.published
        version = 0
        while not board.closed:
            if p is not None and p.version > version:
                self.wfile.write(b"event: status\ndata: " + p.json() + b"\n\n")
                version = p.version
            else:
                self.wfile.write(b": keep-alive\n\n")
            self.wfile.flush()
            p = board.wait_newer(version, KEEPALIVE_S)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)
