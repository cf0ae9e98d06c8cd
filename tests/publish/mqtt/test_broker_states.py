"""What the operator reads when the broker is not what the device expects, against real
servers: nothing listening, a socket server that accepts TCP and never answers, a real
Mosquitto that wants TLS (or does not), one that refuses the credentials. Each state is
logged once while it lasts, and again only when it changes."""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import struct
import threading
from pathlib import Path

import pytest
from mqtt_kit import Broker, free_port, sink_for, wait_for
from test_mqtt_tls import make_pki

pytestmark = pytest.mark.broker

KEEPALIVE = 5  # the smallest mqtt.keepalive_s: the silent server is noticed after it


class SilentServer:
    """Accepts TCP connections on ``port`` and never sends a byte."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
        self.sock.close()
        for conn in self.held:  # reset, not closed: no TIME_WAIT keeps the port from a broker
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        self.held = []


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What an operator reading the journal sees of the link (warnings and errors)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("microemo.publish.mqtt") and r.levelno >= logging.WARNING
    ]


def test_each_state_is_logged_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listening, then a server that never answers, then a real broker: each state
    is said when it starts, and not again while it lasts."""
    caplog.set_level(logging.INFO, logger="microemo")
    port = free_port()
    sink = sink_for(port, tmp_path / "state", "states-1", **{"mqtt.keepalive_s": KEEPALIVE})
    silent = broker = None
    try:
        assert wait_for(lambda: sink.health()["connect_attempts"] >= 3)
        (refused,) = said(caplog)
        assert "connection refused (nothing listens there" in refused
        silent = SilentServer(port)
        assert wait_for(lambda: silent.accepted >= 3, timeout=60)  # two keep-alives passed
        assert said(caplog)[:1] == [refused] and len(said(caplog)) == 2, said(caplog)
        silence = said(caplog)[1]
        assert "sent no MQTT answer within the keep-alive (5 s)" in silence
        assert "mqtt.port" in silence and "mqtt.tls = true" in silence
        silent.close()
        broker = Broker(tmp_path / "mosquitto", extra=[f"listener {port} 127.0.0.1"])
        assert sink.wait_connected(30)
    finally:
        sink.close(timeout=0.5)
        if silent is not None:
            silent.close()
        if broker is not None:
            broker.stop()
    lines = said(caplog)
    assert "connected again" in lines[-1], lines
    assert all(a != b for a, b in itertools.pairwise(lines)), lines  # never twice in a row


@pytest.mark.parametrize("device_tls", [False, True], ids=["plain-to-tls", "tls-to-plain"])
def test_a_tls_mismatch_is_named_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, device_tls: bool
) -> None:
    caplog.set_level(logging.INFO, logger="microemo")
    pki = make_pki(tmp_path / "pki")
    tls_port = free_port()
    broker = Broker(tmp_path / "mosquitto", extra=[
        f"listener {tls_port} 127.0.0.1", f"cafile {pki['ca']}",
        f"certfile {pki['server']}", f"keyfile {pki['server_key']}",
    ])  # fmt: skip
    try:
        if device_tls:  # the device speaks TLS to the broker's plain port
            sink = sink_for(broker.port, tmp_path / "state", "tls-1",
                            **{"mqtt.tls": True, "mqtt.ca_file": str(pki["ca"])})  # fmt: skip
        else:  # the device speaks plain MQTT to the broker's TLS port
            sink = sink_for(tls_port, tmp_path / "state", "tls-1")
        assert wait_for(lambda: sink.health()["connect_attempts"] >= 4)
        assert not sink.health()["connected"]
        sink.close(timeout=0.5)
    finally:
        broker.stop()
    lines = said(caplog)
    assert len(lines) == 1, lines
    if device_tls:
        assert "does not speak TLS on that port" in lines[0] and "mqtt.tls = false" in lines[0]
    else:
        assert "without answering the MQTT CONNECT" in lines[0]
        assert "if that port wants TLS, set mqtt.tls = true" in lines[0]
