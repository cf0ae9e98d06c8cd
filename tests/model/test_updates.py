"""Signed update commands: over HTTP, over retained MQTT chunks through a real Mosquitto,
and every refusal leaves the old model live and classifying."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from update_kit import Kit, windows

from microemo.model.bundle import Bundle
from microemo.model.runner import CnnClassifier
from microemo.model.store import ModelStore
from microemo.model.updates import UpdateManager
from microemo.publish.mqtt.topics import Topics
from microemo_train.signing import chunk_payloads, sign_message, update_message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[assignment]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Device:
    """A store with v1 running, an UpdateManager and a 'pipeline' that holds the live model."""

    def __init__(self, kit: Kit, state: Path, **model: Any) -> None:
        self.store = ModelStore(kit.config(state, **model), default_bundle=kit.default)
        self.store.install(kit.v1)
        self.live: Bundle | None = self.store.current()
        self.switched: list[str] = []
        self.statuses: list[dict[str, Any]] = []
        self.fail_switch_to: str | None = None
        self.updates = UpdateManager(
            self.store.config,
            self.store,
            self.swap,
            self.statuses.append,
            command_topic=Topics("microemo", "dev-1").cmd_model,
        )
        self.updates.start()

    def swap(self, bundle: Bundle) -> None:
        if bundle.manifest.version == self.fail_switch_to:
            raise RuntimeError("interpreter refused the model")
        self.live = bundle
        self.switched.append(bundle.manifest.version)

    def run(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.updates.handle_message("microemo/dev-1/cmd/model", json.dumps(msg).encode())
        assert self.updates.wait_idle(60)
        return self.statuses[-1]

    def assert_live(self, version: str) -> None:
        assert self.live is not None and self.live.manifest.version == version
        assert ModelStore(self.store.config).current().manifest.version == version  # next start
        probs = CnnClassifier(self.live).predict(windows(1)[0])
        assert np.isclose(probs.sum(), 1, atol=1e-3)


@pytest.fixture
def device(kit: Kit, tmp_path: Path) -> Iterator[Device]:
    d = Device(kit, tmp_path / "state")
    yield d
    d.updates.stop()


def test_good_update_over_http_is_live(kit, device, http_dir) -> None:
    root, base = http_dir
    msg = update_message(kit.v2, root / "v2.tar.gz", kit.key, url=f"{base}/v2.tar.gz")
    status = device.run(msg)
    assert status["step"] == "live" and status["ok"], device.statuses
    assert status["running"]["version"] == "2.0.0"
    assert device.switched == ["2.0.0"]
    steps = [s["step"] for s in device.statuses]
    assert steps[:3] == ["accepted", "downloading", "downloaded"]
    assert {"verified", "selftested", "switched"} <= set(steps)
    device.assert_live("2.0.0")
    # the same retained command delivered again after a reconnect changes nothing
    device.run(msg)
    assert device.switched == ["2.0.0"]
    # a signed rollback command brings v1 back
    status = device.run(sign_message({"type": "rollback"}, kit.key))
    assert status["step"] == "live" and device.switched == ["2.0.0", "1.0.0"]
    device.assert_live("1.0.0")


def test_unreachable_url_fails_for_now(kit, device, tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v2.tar.gz"
    status = device.run(update_message(kit.v2, tmp_path / "v2.tgz", kit.key, url=url))
    assert status["step"] == "failed" and "download failed" in status["reason"]
    assert status["retry"] is True
    assert status["running"]["version"] == "1.0.0" and device.switched == []
    device.assert_live("1.0.0")


def test_wait_idle_covers_a_command_the_worker_has_just_taken(kit, tmp_path, monkeypatch):
    """A worker preempted between taking a command and starting it (a loaded machine) is
    not idle: ``wait_idle`` (tests, orderly shutdown) waits for the command's status."""
    import queue
    import time

    class Preempted(queue.Queue):
        def get(self, *args, **kwargs):
            item = super().get(*args, **kwargs)
            if item is not None:
                time.sleep(0.3)
            return item

    monkeypatch.setattr("microemo.model.updates.queue.Queue", Preempted)
    device = Device(kit, tmp_path / "state")
    try:
        status = device.run(sign_message({"type": "rollback"}, kit.key))
        assert status["step"] in ("live", "failed", "refused", "ignored"), status
    finally:
        device.updates.stop()


def test_a_password_in_the_download_url_stays_on_the_device(kit, device, tmp_path, caplog):
    """The owner's signed URL may carry credentials; what the device reports (the retained
    ``model/status``, its log) names the URL with them masked."""
    url = f"http://fleet:s3cret-token@127.0.0.1:{free_port()}/v2.tar.gz"
    with caplog.at_level("INFO"):
        status = device.run(update_message(kit.v2, tmp_path / "v2.tgz", kit.key, url=url))
    assert status["step"] == "failed" and "download failed" in status["reason"]
    assert "127.0.0.1" in status["reason"]
    assert "s3cret-token" not in json.dumps(status)
    assert "s3cret-token" not in caplog.text


def test_bad_command_signature_refused(kit, device, http_dir) -> None:
    root, base = http_dir
    msg = update_message(kit.v2, root / "v2.tar.gz", kit.key, url=f"{base}/v2.tar.gz")
    status = device.run({**msg, "allow_downgrade": True})  # edited after signing
    assert status["step"] == "refused" and "signature does not verify" in status["reason"]
    rogue = update_message(kit.v2, root / "v2.tar.gz", kit.rogue, url=f"{base}/v2.tar.gz")
    assert "signature does not verify" in device.run(rogue)["reason"]
    unsigned = {k: v for k, v in msg.items() if k != "signature"}
    assert "no signature" in device.run(unsigned)["reason"]
    assert device.switched == []
    device.assert_live("1.0.0")


def test_archive_hash_mismatch_refused(kit, device, http_dir) -> None:
    root, base = http_dir
    msg = update_message(kit.v2, root / "v2.tar.gz", kit.key, url=f"{base}/v2.tar.gz")
    shutil.copy(root / "v2.tar.gz", root / "keep")
    update_message(kit.v1, root / "v2.tar.gz", kit.key, url="http://x")  # swapped on the server
    status = device.run(msg)
    assert status["step"] == "refused" and "is not the command's" in status["reason"]
    device.assert_live("1.0.0")


def test_self_test_failure_over_the_air_keeps_old(kit, device, http_dir) -> None:
    root, base = http_dir
    bad = kit.bundle("ota-bad", kit.model_b, "3.0.0", break_selftest=True)
    status = device.run(update_message(bad, root / "bad.tgz", kit.key, url=f"{base}/bad.tgz"))
    assert status["step"] == "refused" and "self-test" in status["reason"]
    device.assert_live("1.0.0")


def test_pipeline_load_failure_rolls_back(kit, device, http_dir) -> None:
    root, base = http_dir
    device.fail_switch_to = "2.0.0"
    status = device.run(update_message(kit.v2, root / "v2.tgz", kit.key, url=f"{base}/v2.tgz"))
    assert status["step"] == "rolled-back" and status["ok"] is False
    assert status["running"]["version"] == "1.0.0"
    device.assert_live("1.0.0")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    from tests.publish.mqtt.mqtt_kit import Broker

    b = Broker(tmp_path / "mosquitto")
    yield b.port
    b.stop()


@pytest.mark.broker
def test_update_over_mqtt_chunks(kit, tmp_path, broker) -> None:
    """A broker-only device: command and retained chunks through a real Mosquitto; the
    device reports each step on its retained model/status topic."""
    import paho.mqtt.client as mqtt

    topic = "microemo/dev-1/cmd/model"
    chunk_topic = "microemo/dev-1/cmd/model/chunks/v2"
    msg = update_message(
        kit.v2, tmp_path / "v2.tgz", kit.key, chunks_topic=chunk_topic, chunk_size=4000
    )
    # the operator publishes retained chunks and the retained command, then leaves
    op = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator")
    op.connect("127.0.0.1", broker)
    op.loop_start()
    chunks = chunk_payloads(tmp_path / "v2.tgz", chunk_topic, 4000)
    assert len(chunks) == msg["chunks"]["count"] > 1
    for t, data in chunks:
        op.publish(t, data, qos=1, retain=True).wait_for_publish(10)
    op.publish(topic, json.dumps(msg), qos=1, retain=True).wait_for_publish(10)

    device = Device(kit, tmp_path / "state")
    statuses: list[dict[str, Any]] = []
    got = threading.Event()
    dev = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dev-1")

    def on_message(client, userdata, m) -> None:
        if m.topic.endswith("/model/status"):
            statuses.append(json.loads(m.payload))
            if statuses[-1]["step"] in ("live", "refused"):
                got.set()
        else:
            device.updates.handle_message(m.topic, m.payload)

    dev.on_message = on_message
    device.updates.publish_status = lambda s: dev.publish(
        "microemo/dev-1/model/status", json.dumps(s), qos=1, retain=True
    )
    device.updates.subscribe = lambda f: dev.subscribe(f, 1)  # the broker re-sends the chunks
    dev.on_connect = lambda c, u, f, rc, p: c.subscribe(
        [("microemo/dev-1/cmd/#", 1), ("microemo/dev-1/model/status", 1)]
    )
    dev.connect("127.0.0.1", broker)
    dev.loop_start()
    try:
        assert got.wait(60), statuses
        assert statuses[-1]["step"] == "live", statuses
        assert statuses[-1]["running"]["version"] == "2.0.0"
        device.assert_live("2.0.0")
    finally:
        dev.loop_stop()
        op.loop_stop()
        device.updates.stop()
