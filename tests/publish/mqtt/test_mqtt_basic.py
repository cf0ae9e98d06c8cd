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
    sink_for,
    validate_all,
    wait_for,
)

from microemo.publish.events import EventBuilder
from microemo.publish.mqtt.discovery import discovery_configs, face_state_payload
from microemo.publish.mqtt.spool import Spool
from microemo.publish.mqtt.topics import Topics

pytestmark = pytest.mark.broker
FAST_STATE = {"mqtt.state_interval_s": 0.2}  # retained face states five times a second


def test_every_payload_validates_and_arrives_once(broker: Broker, tmp_path: Path) -> None:
    rec = Recorder(broker.port, "microemo/cabin-1/#")
    sink = sink_for(broker.port, tmp_path, **FAST_STATE)
    builder = EventBuilder("cabin-1", sink.sequence)
    sent = list(make_events(builder, 0, 40, faces=3))
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


def test_discovery_states_and_retire(broker: Broker, tmp_path: Path) -> None:
    rec = Recorder(broker.port, "#")
    sink = sink_for(broker.port, tmp_path, device="cabin-6", **FAST_STATE)
    topics = Topics("microemo", "cabin-6")
    configs = discovery_configs(topics)
    assert wait_for(lambda: all(rec.on(t) for t in configs))
    for topic in configs:
        cfg = json.loads(rec.on(topic)[-1])
        assert cfg["unique_id"].startswith("microemo_cabin-6_")
        assert cfg["availability_topic"] == "microemo/cabin-6/availability"
        assert cfg["device"]["identifiers"] == ["microemo_cabin-6"]
    assert any("/binary_sensor/" in t for t in configs) and any("au12" in t for t in configs)

    sink.face_state(3, face_state_payload(3, 10.0, {"AU12": 2.0}, {"core": "happiness"}))
    sink.face_state(3, {"core_emotion": "happiness", "landmarks": [[0.1, 0.2]], "aus": {}})
    assert wait_for(lambda: rec.on("microemo/cabin-6/face/3/state"))
    assert wait_for(lambda: json.loads(rec.on("microemo/cabin-6/state")[-1])["faces"] == 1)
    summary = json.loads(rec.on("microemo/cabin-6/state")[-1])
    assert summary["core_emotion"] == "happiness"
    sink.face_state(3, None)  # the face left: its retained state is cleared
    assert wait_for(lambda: rec.on("microemo/cabin-6/face/3/state")[-1] == b"")
    assert wait_for(lambda: json.loads(rec.on("microemo/cabin-6/state")[-1])["faces"] == 0)
    assert all(b"landmarks" not in p for _, p, _ in rec.messages)  # privacy

    assert sink.publish_status("model/status", {"state": "installed", "version": "1.2.0"})
    assert wait_for(lambda: rec.on("microemo/cabin-6/model/status"))
    assert sink.retire()
    assert wait_for(lambda: all(rec.on(t)[-1] == b"" for t in configs))
    sink.close()
    rec.close()


def test_command_topic_reaches_callback(broker: Broker, tmp_path: Path) -> None:
    sink = sink_for(broker.port, tmp_path, device="cabin-8", **FAST_STATE)
    got: list[tuple[str, bytes]] = []
    sink.on_command(lambda topic, payload: got.append((topic, payload)))
    assert sink.wait_connected(10)
    pub = Recorder(broker.port, "unused/#")
    assert wait_for(lambda: sink.health()["connected"])
    pub.client.publish(
        Topics("microemo", "cabin-8").cmd_model, b'{"url": "x"}', qos=1
    ).wait_for_publish(5)
    assert wait_for(lambda: got == [("microemo/cabin-8/cmd/model", b'{"url": "x"}')])
    sink.close()
    pub.close()


def test_live_events_not_starved_by_backlog(broker: Broker, tmp_path: Path) -> None:
    """A backlog of 3000 events drains while new events still go out promptly."""
    spool = Spool(tmp_path / "spool.sqlite3", 100_000)
    spool.append(
        [("old:0", "microemo/cabin-10/events", b'{"backlog": %d}' % i) for i in range(3000)]
    )
    spool.close()
    rec = Recorder(broker.port, "microemo/cabin-10/events")
    sink = sink_for(
        broker.port,
        tmp_path,
        device="cabin-10",
        **FAST_STATE,
        **{"spool.path": str(tmp_path / "spool.sqlite3")},
    )
    builder = EventBuilder("cabin-10", sink.sequence)
    live = list(make_events(builder, 0, 2, faces=1))
    assert sink.wait_connected(10)  # the backlog starts draining; then new events come
    for event in live:
        sink.emit(event)
    assert wait_for(lambda: len(rec.messages) >= 3000 + len(live), timeout=30)
    order = [json.loads(p).get("id") for _, p, _ in rec.messages]
    first_live = min(i for i, x in enumerate(order) if x is not None)
    sink.close()
    print(
        f"\nbacklog 3000 + live {len(live)}: first live event arrived as message {first_live + 1}"
    )
    assert first_live < 1500  # not behind the whole backlog
    backlog = [json.loads(p)["backlog"] for _, p, _ in rec.messages if b"backlog" in p]
    assert backlog == sorted(backlog) and len(set(backlog)) == 3000
    rec.close()


def test_events_cli_pretty_prints(broker: Broker, tmp_path: Path) -> None:
    import subprocess
    import sys

    cli = subprocess.Popen(
        [sys.executable, "-m", "microemo.cli", "events", "--host", "127.0.0.1", "--port",
         str(broker.port), "--device", "cabin-11", "--count", "3", "--timeout", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert cli.stderr is not None
    assert "listening on microemo/cabin-11/#" in cli.stderr.readline()
    sink = sink_for(broker.port, tmp_path, device="cabin-11", **FAST_STATE)
    builder = EventBuilder("cabin-11", sink.sequence)
    for event in make_events(builder, 0, 1, faces=1):
        sink.emit(event)
    out, _ = cli.communicate(timeout=30)
    sink.close()
    assert cli.returncode == 0
    lines = [line for line in out.splitlines() if " face 0 " in line]
    assert [line.split()[4] for line in lines] == ["START", "UPDATE", "END"]
    assert "happiness/excited [AU12+AU26]" in lines[0] and "cabin-11 is online" in out


def test_events_cli_reads_the_password_where_the_daemon_does(
    auth_broker: Broker, tmp_path: Path
) -> None:
    """``microemo events --username`` takes the password from the one secret reader: here
    systemd's credentials directory, as on a device."""
    import os
    import subprocess
    import sys

    (tmp_path / "mqtt_password").write_text("s3cret\n")
    env = {k: v for k, v in os.environ.items() if k != "MICROEMO_MQTT_PASSWORD"}
    env["CREDENTIALS_DIRECTORY"] = str(tmp_path)
    cli = subprocess.run(
        [sys.executable, "-m", "microemo.cli", "events", "--host", "127.0.0.1", "--port",
         str(auth_broker.port), "--username", "cabin", "--timeout", "2"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 0
    assert "listening on microemo/+/#" in cli.stderr and "refused" not in cli.stderr
