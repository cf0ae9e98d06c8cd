"""MqttSink against a real Mosquitto: payloads, availability, discovery, states, stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mqtt_kit import (
    Broker,
    Recorder,
    dedupe,
    in_order_per_face,
    make_events,
    validate_all,
    wait_for,
)

from microemo.config import load_config
from microemo.publish.discovery import face_state_payload
from microemo.publish.events import EventFactory
from microemo.publish.mqtt import MqttSink

pytestmark = pytest.mark.broker


def sink_for(port: int, state_dir: Path, device: str = "cabin-1", **extra: object) -> MqttSink:
    overrides: dict[str, object] = {
        "mqtt.enabled": True,
        "mqtt.host": "127.0.0.1",
        "mqtt.port": port,
        "mqtt.reconnect_min_s": 0.1,
        "mqtt.reconnect_max_s": 0.5,
        "mqtt.state_interval_s": 0.2,
        "device.id": device,
        "device.state_dir": str(state_dir),
        **extra,
    }
    return MqttSink.from_config(load_config(None, overrides))


def test_every_payload_validates_and_arrives_once(broker: Broker, tmp_path: Path) -> None:
    rec = Recorder(broker.port, "microemo/cabin-1/#")
    sink = sink_for(broker.port, tmp_path)
    factory = EventFactory("cabin-1", sink.sequence)
    sent = list(make_events(factory, 0, 40, faces=3))
    for event in sent:
        sink.emit(event)
    sink.face_state(1, face_state_payload(1, 1234.5, {"AU12": 2.5}, {"core": "happiness"}))
    sink.stats({"fps": 29.5, "dropped_frames": 0})
    assert wait_for(lambda: len(dedupe(rec.events())) == len(sent))
    sink.close()
    assert wait_for(lambda: rec.on("/availability")[-1:] == [b"offline"])
    got = rec.events()
    validate_all(got)
    kept = dedupe(got)
    assert [e["seq"] for e in kept] == [e["seq"] for e in sent]
    assert in_order_per_face(kept)
    assert b"online" in rec.on("/availability")
    state = json.loads(rec.on("/face/1/state")[-1])
    assert state["core_emotion"] == "happiness" and state["aus"] == {"AU12": 2.5}
    stats = json.loads(rec.on("/stats")[-1])
    assert stats["fps"] == 29.5 and stats["spool"]["dropped"] == 0
    print(f"\nclean run: sent {len(sent)} events, received {len(got)}, after dedupe {len(kept)}")
    rec.close()
