"""Cabin events and states over a real Mosquitto, with the episodes' guarantees: they arrive
on ``cabin/events`` once each (after dedupe) numbered in the device's one sequence, survive a
broker outage in the spool, a microsleep left open by a dead run is ended at the restart;
the retained face state carries the cabin state and the device summary the driver's; Home
Assistant finds the cabin entities, and loses them when the cabin readings are turned off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mqtt_kit import Broker, Recorder, dedupe, make_steps, sink_for, wait_for

from microemo.publish.events import CABIN_SCHEMA_ID, EventBuilder, validate_event
from microemo.publish.mqtt.discovery import discovery_configs
from microemo.publish.mqtt.topics import Topics
from microemo.types import CabinStep

pytestmark = pytest.mark.broker

READINGS = {"drowsiness": "asleep", "attention": "attentive", "perclos": 0.1,
            "off_road_share": 0.0, "head_yaw": 2.0, "head_pitch": -9.0, "gaze_yaw": 2.0,
            "gaze_pitch": -9.0}  # fmt: skip


def microsleep(n: int) -> list[CabinStep]:
    onset = 10_000.0 * n
    base = dict(kind="microsleep", episode_id=f"cab-f0-microsleep-{n:06d}", face_id=0,
                onset_ms=onset, readings=READINGS)  # fmt: skip
    return [
        CabinStep("start", t_ms=onset + 1000, offset_ms=None, **base),  # type: ignore[arg-type]
        CabinStep("end", t_ms=onset + 1800, offset_ms=onset + 1800, **base),  # type: ignore[arg-type]
    ]


def cabin_events(rec: Recorder) -> list[dict]:
    return [json.loads(p) for p in rec.on("/cabin/events")]


def test_cabin_events_survive_an_outage_and_share_the_sequence(
    own_broker: Broker, tmp_path: Path
) -> None:
    rec = Recorder(own_broker.port, "microemo/cab-1/#", client_id="cabin-recorder")
    sink = sink_for(own_broker.port, tmp_path, "cab-1")
    events = EventBuilder("cab-1", sink.sequence)
    assert sink.wait_connected(10)
    own_broker.stop()  # everything below waits in the spool
    sent = []
    for n in range(30):
        sent += [events.build(s) for s in make_steps(n, face_id=0)]
        sent += [events.build(s) for s in microsleep(n)]
    for event in sent:
        sink.emit(event)
    assert sink.flush()
    own_broker.start()
    assert wait_for(lambda: len(dedupe(cabin_events(rec))) == 60, 30)
    sink.close()
    got = dedupe(cabin_events(rec))
    for e in got[:2]:
        validate_event(e)
    assert {e["schema"] for e in got} == {CABIN_SCHEMA_ID}
    assert [e["seq"] for e in got] == [e["seq"] for e in sent if e["schema"] == CABIN_SCHEMA_ID]
    episodes = [json.loads(p) for t, p, _ in rec.messages if t == "microemo/cab-1/events"]
    assert len(dedupe(episodes)) == 90 and all(e["schema"] == "microemo.event/1" for e in episodes)
    seqs = sorted(e["seq"] for e in dedupe(episodes) + got)
    assert seqs == sorted({e["seq"] for e in sent})  # one sequence for both, no gap
    rec.close()


def test_a_microsleep_left_open_is_ended_at_the_restart(broker: Broker, tmp_path: Path) -> None:
    rec = Recorder(broker.port, "microemo/cab-2/cabin/events", client_id="cabin-restart")
    first = sink_for(broker.port, tmp_path, "cab-2")
    start = EventBuilder("cab-2", first.sequence).build(microsleep(1)[0])
    first.emit(start)
    assert first.flush()
    first.close(timeout=0.5)  # as if killed with the driver asleep
    second = sink_for(broker.port, tmp_path, "cab-2")
    ends = second.left_open()
    assert [(e["id"], e["kind"], e["ended_by"]) for e in ends] == [
        (start["id"], "microsleep", "restart")
    ]
    for e in ends:
        second.emit(e)
    assert wait_for(lambda: len(dedupe(cabin_events(rec))) == 2, 20)
    second.close()
    got = dedupe(cabin_events(rec))
    assert [(e["phase"], e["id"]) for e in got] == [("start", start["id"]), ("end", start["id"])]
    validate_event(got[1])
    rec.close()


def test_the_cabin_state_is_retained_and_home_assistant_sees_it(
    broker: Broker, tmp_path: Path
) -> None:
    rec = Recorder(broker.port, "#")
    sink = sink_for(broker.port, tmp_path, "cab-3", **{"mqtt.state_interval_s": 0.1})
    topics = Topics("microemo", "cab-3")
    configs = discovery_configs(topics)
    assert wait_for(lambda: all(rec.on(t) for t in configs))
    cabin = [t for t in configs if "drowsiness" in t or "eyes_closed" in t]
    assert len(cabin) == 2
    state = {"driver": True, "drowsiness": "drowsy", "attention": "distracted", "perclos": 0.21,
             "eyes_closed": False, "yawning": False, "head_yaw": 41.0, "head_pitch": -4.0,
             "landmarks": [[0.1, 0.2]]}  # fmt: skip
    sink.face_state(0, {"core": "neutral", "aus": {}, "cabin": state})
    assert wait_for(lambda: rec.on("microemo/cab-3/face/0/state"))
    face = json.loads(rec.on("microemo/cab-3/face/0/state")[-1])
    assert face["cabin"]["drowsiness"] == "drowsy"
    assert wait_for(lambda: (json.loads(rec.on("microemo/cab-3/state")[-1]).get("cabin") or {})
                    .get("attention") == "distracted")  # fmt: skip
    assert all(b"landmarks" not in p for _, p, _ in rec.messages)
    drowsy = json.loads(rec.on(cabin[0])[-1])
    assert drowsy["state_topic"] == "microemo/cab-3/state"
    sink.close()
    off = sink_for(broker.port, tmp_path / "off", "cab-3", **{"cabin.enabled": False})
    assert off.wait_connected(10)
    assert wait_for(lambda: all(rec.on(t)[-1] == b"" for t in cabin))  # entities removed
    assert json.loads(rec.on(next(t for t in configs if "core_emotion" in t))[-1])
    off.close()
    rec.close()
