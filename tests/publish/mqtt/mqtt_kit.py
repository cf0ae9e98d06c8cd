"""Helpers for the broker tests: a real Mosquitto, a recording subscriber, synthetic events."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from tests import mosquitto

from microemo.config import load_config
from microemo.publish.events import EventBuilder, event_schema, validate_event
from microemo.publish.mqtt.sink import MqttSink
from microemo.types import Classification, EpisodeStep

MOSQUITTO = mosquitto.tool("mosquitto") or "mosquitto"


def passwd(path: Path, user: str, secret: str, create: bool = False) -> None:
    """Add ``user`` to a Mosquitto password file (``mosquitto_passwd -b``)."""
    tool = mosquitto.tool("mosquitto_passwd") or "mosquitto_passwd"
    subprocess.run([tool, *(["-c"] if create else []), "-b", str(path), user, secret], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float = 15.0, step: float = 0.02) -> bool:
    """Poll until ``predicate()`` is true; readiness, not a timing assertion."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Broker:
    """One mosquitto process on 127.0.0.1:port with persistence in ``workdir``."""

    def __init__(
        self, workdir: Path, password_file: Path | None = None, extra: list[str] | None = None
    ) -> None:
        hint = mosquitto.install_hint()
        if hint is not None:
            pytest.skip(hint)
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if password_file else 'true'}",
            "persistence true",
            f"persistence_location {workdir}/",
            f"log_dest file {workdir}/mosquitto.log",
        ]
        if password_file:
            lines.append(f"password_file {password_file}")
        lines += extra or []
        if os.geteuid() == 0:  # else mosquitto drops to user "mosquitto", who cannot write here
            lines.append("user root")
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def _accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        if not wait_for(self._accepting, 10):
            raise RuntimeError(f"mosquitto did not start; see {self.workdir}/mosquitto.log")

    def stop(self) -> None:
        """SIGTERM (graceful: saves the persistence db), sent again if it was lost: mosquitto
        listens before it sets its run flag, so a SIGTERM just after it began accepting can
        be overwritten and the broker runs on (seen once in CI: a broker stopped right after
        its start was still up 10 s later). SIGKILL only if three were not enough."""
        if self.proc and self.proc.poll() is None:
            for _ in range(3):
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Recorder:
    """A subscriber with a persistent session (QoS 1), so a broker restart loses nothing."""

    def __init__(
        self,
        port: int,
        topic: str,
        client_id: str | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"recorder-{port}-{time.monotonic_ns()}",
            clean_session=False,
        )
        self.client.reconnect_delay_set(0.1, 0.5)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "recorder could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, suffix: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.on("/events")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def make_steps(n: int, face_id: int) -> list[EpisodeStep]:
    """Episode ``n`` on ``face_id``: its start, update (at apex) and end steps."""
    classification = Classification(
        core="happiness",
        core_source="rules",
        core_score=0.8,
        micro="excited",
        micro_state="Happy",
        micro_rule="AU12+AU26",
        scores={"happiness": 0.8, "neutral": 0.2},
    )
    onset, apex, offset = 1000.0 * n, 1000.0 * n + 120.0, 1000.0 * n + 300.0
    model = {"name": "facs-rules", "version": "builtin", "sha256": None}
    return [
        EpisodeStep(phase, f"ep-{face_id}-{n:06d}", face_id, t, onset, apex,
                    offset if phase == "end" else None, classification,
                    {"AU12": 2.5, "AU26": 1.25}, model)
        for phase, t in (("start", onset), ("update", apex), ("end", offset))
    ]  # fmt: skip


def make_events(events: EventBuilder, start: int, count: int, faces: int = 2) -> Iterator[dict]:
    """``count`` episodes spread over ``faces`` faces, each giving start, update and end."""
    for n in range(start, start + count):
        for step in make_steps(n, face_id=n % faces):
            yield events.build(step)


def dedupe(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First occurrence of each (id, phase): what a consumer keeps."""
    seen: set[tuple[str, str]] = set()
    out = []
    for e in events:
        key = (e["id"], e["phase"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def in_order_per_face(events: list[dict[str, Any]]) -> bool:
    last: dict[int, int] = {}
    for e in events:
        if e["seq"] <= last.get(e["face_id"], 0):
            return False
        last[e["face_id"]] = e["seq"]
    return True


class Producer:
    """``producer.py`` as a subprocess; collects what it reports as committed."""

    def __init__(self, port: int, state_dir: Path, start: int, count: int, **opts: Any) -> None:
        script = Path(__file__).with_name("producer.py")
        cmd = [sys.executable, str(script), "--port", str(port), "--state-dir", str(state_dir),
               "--start", str(start), "--count", str(count)]  # fmt: skip
        for k, v in opts.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        root = str(Path(__file__).resolve().parents[3])  # `tests` importable, as in pytest
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        self.committed: list[tuple[int, str, str]] = []
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            parts = line.split()
            if parts and parts[0] == "committed":
                self.committed.append((int(parts[1]), parts[2], parts[3]))

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(10)

    def wait(self, timeout: float = 60) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        return rc


def validate_all(events: list[dict[str, Any]]) -> None:
    """Every payload against schema/event.v1.json. One compiled validator: the same check as
    ``validate_event`` (which rebuilds its validator per call, ~40 ms each)."""
    import jsonschema

    schema = event_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    validate_event(events[0])
    for event in events:
        validator.validate(event)


def sink_for(port: int, state_dir: Path, device: str = "cabin-1", **extra: object) -> MqttSink:
    """The device's MQTT sink for a test broker on ``port``, reconnecting quickly; ``extra``
    overrides more config keys (``**{"mqtt.username": "cabin"}``)."""
    overrides: dict[str, object] = {
        "mqtt.enabled": True,
        "mqtt.host": "127.0.0.1",
        "mqtt.port": port,
        "mqtt.reconnect_min_s": 0.1,
        "mqtt.reconnect_max_s": 0.5,
        "device.id": device,
        "device.state_dir": str(state_dir),
        **extra,
    }
    return MqttSink.from_config(load_config(None, overrides))
