"""The optional status server: a page, ``/api/status`` and ``/metrics`` (``status.enabled``).

Off by default, and on 127.0.0.1 unless ``status.host`` says otherwise. ``check`` is run at
start (and by ``microemo config check``): the camera preview is refused on an address
beyond this machine without a password, so pictures of faces never go to the network
unprotected. The password is the secret ``status_password`` (``$MICROEMO_STATUS_PASSWORD``
or the systemd credential; never the config file); with it every path asks for basic auth
as ``status.username``.

The daemon holds a ``StatusService``: its board is one of the daemon's sinks and taps every
processed frame, ``publish`` is called from the frame loop's thread every
``status.interval_s``, and the server runs in threads of its own. The client library for
/metrics is imported only here, so a device with the status server off never loads it.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Mapping
from typing import Any

from microemo.config import Config, StatusConfig
from microemo.daemon.metrics import Metrics
from microemo.daemon.status.board import FaceExtra, Health, StatusBoard
from microemo.daemon.wiring import DaemonError
from microemo.secrets import get_secret

logger = logging.getLogger(__name__)

SECRET = "status_password"


class StatusError(DaemonError):
    """The status server cannot start as configured; the message says what to change."""


def is_local(host: str) -> bool:
    """``host`` listens on this machine only (a loopback address or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: treat as the network


def check(config: Config, env: Mapping[str, str] | None = None) -> str | None:
    """The password (None for none), or ``StatusError`` when the preview would go to the
    network unprotected. Nothing to check while the status server is off."""
    s = config.status
    if not s.enabled:
        return None
    password = get_secret(SECRET, env)
    if s.preview and not password and not is_local(s.host):
        raise StatusError(
            f"status.preview = true on status.host = {s.host!r} without a password: the camera "
            "would be open to the network. Give the page a password (the file "
            "/etc/microemo/status_password with LoadCredential=status_password:..., or "
            '$MICROEMO_STATUS_PASSWORD), or set status.host = "127.0.0.1", or '
            "status.preview = false"
        )
    return password


class StatusService:
    """The board and the server, started together and stopped together."""

    def __init__(self, board: StatusBoard, server: Any, thread: threading.Thread) -> None:
        self.board = board
        self.server = server
        self._thread = thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def publish(self, snap: Mapping[str, Any], metrics: Metrics) -> None:
        self.board.publish(snap, metrics)

    def stop(self) -> None:
        self.board.close()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5.0)


def start(
    config: Config,
    *,
    health: Health | None = None,
    extras: Mapping[str, FaceExtra] | None = None,
) -> StatusService | None:
    """The running status server, or None when ``status.enabled`` is false."""
    s = config.status
    if not s.enabled:
        return None
    password = check(config)
    try:
        from microemo.daemon.status.server import StatusServer
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("prometheus_client"):
            raise
        raise StatusError(
            f"status.enabled = true but /metrics cannot load ({exc}): install "
            "prometheus-client (reinstall microemo) or set status.enabled = false"
        ) from exc
    fps = s.preview_fps if s.preview else None
    board = StatusBoard(episodes=s.episodes, preview_fps=fps, extras=extras, health=health)
    try:
        server = StatusServer((s.host, s.port), board, user=s.username, password=password)
    except OSError as exc:
        raise StatusError(
            f"status.host = {s.host!r}, status.port = {s.port}: cannot listen there "
            f"({exc.strerror or exc}): choose another status.port, or stop what holds it"
        ) from exc
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="status", daemon=True
    )
    thread.start()
    _announce(s, password, server.server_address[1])
    return StatusService(board, server, thread)


def _announce(s: StatusConfig, password: str | None, port: int) -> None:
    where = f"http://{f'[{s.host}]' if ':' in s.host else s.host}:{port}/"
    logger.info(
        "status page on %s%s%s",
        where,
        " (password)" if password else "",
        ", camera preview ON" if s.preview else "",
    )
    if not password and not is_local(s.host):
        logger.warning(
            "the status page on %s has no password: anyone on the network can read it "
            "(no pictures: the preview is off); set the status_password secret",
            where,
        )
