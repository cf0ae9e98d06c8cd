"""A device in the field for the update tests: a real Mosquitto, the daemon's MQTT sink and
its update wiring (``daemon.wiring.attach_updates``), v1 installed and live; an operator
that publishes commands and an observer of the retained ``model/status`` topic. Also the
HTTP servers updates are fetched from: a static one and one that trickles."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from tests.publish.mqtt.mqtt_kit import Broker, Recorder, wait_for
from update_kit import Kit

from microemo.config import parse_config
from microemo.daemon.wiring import attach_updates
from microemo.model.bundle import Bundle
from microemo.model.store import ModelStore
from microemo.publish.mqtt.sink import MqttSink

DEVICE = "dev-1"
CMD = f"microemo/{DEVICE}/cmd/model"
STATUS = f"microemo/{DEVICE}/model/status"
FINAL = {"live", "refused", "failed", "ignored", "rolled-back"}


class Pipeline:
    """What the update channel needs of the daemon's pipeline: the model it runs."""

    def __init__(self, bundle: Bundle | None) -> None:
        self.live = bundle

    def swap_model(self, bundle: Bundle | None) -> None:
        self.live = bundle

    @property
    def version(self) -> str | None:
        return None if self.live is None else self.live.manifest.version


class Field:
    def __init__(self, kit: Kit, root: Path, **model: Any) -> None:
        self.broker = Broker(root / "mosquitto")
        try:
            self._start(kit, root, model)
        except BaseException:
            self.broker.stop()  # a failed set-up leaves no broker behind
            raise

    def _start(self, kit: Kit, root: Path, model: dict[str, Any]) -> None:
        self.config = parse_config(
            {
                "device": {"id": DEVICE, "state_dir": str(root / "state")},
                "mqtt": {"enabled": True, "host": "127.0.0.1", "port": self.broker.port,
                         "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "discovery": False},
                "model": {"public_keys": [kit.pub], **model},
            }
        )  # fmt: skip
        self.store = ModelStore(self.config, default_bundle=kit.default)
        self.store.install(kit.v1)
        self.pipeline = Pipeline(self.store.current())
        self.sink = MqttSink.from_config(self.config)
        assert self.sink.wait_connected(10)
        self.updates: Any = attach_updates(self.config, self.pipeline, self.sink)  # type: ignore[arg-type]
        self.observer = Recorder(self.broker.port, STATUS)
        self.operator = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator")
        self.operator.connect("127.0.0.1", self.broker.port)
        self.operator.loop_start()

    def raw_statuses(self) -> list[bytes]:
        return [p for p in self.observer.on("/model/status") if p]

    def statuses(self) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.raw_statuses()]

    def publish(self, topic: str, payload: bytes | str | dict, retain: bool = False) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        self.operator.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def command(self, payload: bytes | str | dict, retain: bool = False) -> dict[str, Any]:
        """Publish on cmd/model; the first final status the device publishes after it."""
        seen = len(self.statuses())
        self.publish(CMD, payload, retain)
        return self.final_after(seen)

    def final_after(self, seen: int, timeout: float = 60) -> dict[str, Any]:
        def final() -> dict[str, Any] | None:
            return next((s for s in self.statuses()[seen:] if s["step"] in FINAL), None)

        assert wait_for(lambda: final() is not None, timeout), self.statuses()[seen:]
        status = final()
        assert status is not None
        return status

    def retained_status(self) -> bytes:
        """What a dashboard that subscribes now gets on model/status."""
        late = Recorder(self.broker.port, STATUS)
        try:
            assert wait_for(lambda: late.on("/model/status"), 10)
            return late.on("/model/status")[-1]
        finally:
            late.close()

    def assert_running(self, version: str) -> None:
        assert self.pipeline.version == version
        current = ModelStore(self.config).current()
        assert current is not None and current.manifest.version == version

    def close(self) -> None:
        self.operator.loop_stop()
        self.observer.close()
        self.updates.stop()
        self.sink.close()
        self.broker.stop()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class StaticServer:
    """Serves the files of ``root`` over HTTP on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TricklingServer:
    """Answers every request one byte every ``gap_s``: the body (after honest headers) or,
    with ``in_headers``, an endless header line. It never stops by itself."""

    def __init__(self, gap_s: float = 0.2, in_headers: bool = False) -> None:
        self.gap_s, self.in_headers = gap_s, in_headers
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/bundle.tar.gz"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)  # the request
            head = b"HTTP/1.1 200 OK\r\n"
            if self.in_headers:
                conn.sendall(head + b"X-Slow: ")
            else:
                conn.sendall(head + b"Content-Length: 100000\r\n\r\n")
            while not self.stop.wait(self.gap_s):
                try:
                    conn.sendall(b"a")
                except OSError:
                    return  # the client gave up

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
