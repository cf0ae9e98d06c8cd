"""Cabin events, built by the one ``EventBuilder``: a microsleep's steps become exactly the
documented payloads (docs/mqtt.md "Cabin event"), numbered with the episodes, valid against
``schema/cabin.v1.json``; one left open by a dead run is ended at the restart; a payload
with a field outside its schema does not validate."""

from __future__ import annotations

import jsonschema
import pytest

from microemo.publish.events import EventBuilder, ended_by_restart, validate_event
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.types import CabinStep

READINGS = {
    "drowsiness": "asleep",
    "attention": "attentive",
    "perclos": 0.052,
    "off_road_share": 0.0,
    "head_yaw": 3.04,
    "head_pitch": -8.96,
    "gaze_yaw": 3.51,
    "gaze_pitch": -7.04,
}


def microsleep() -> list[CabinStep]:
    base = dict(kind="microsleep", episode_id="cabin-1-3fa2c1-f0-microsleep-6072", face_id=0)
    return [
        CabinStep("start", **base, t_ms=7073.66, onset_ms=6072.73, offset_ms=None,
                  readings=READINGS),
        CabinStep("end", **base, t_ms=7941.31, onset_ms=6072.73, offset_ms=7941.31,
                  readings=dict(READINGS, drowsiness="drowsy")),
    ]  # fmt: skip


def test_a_microsleep_becomes_the_documented_events() -> None:
    builder = EventBuilder("cabin-1", SequenceAllocator(MemoryStore(41)))
    start, end = (builder.build(s) for s in microsleep())
    for e in (start, end):
        validate_event(e)
        e.pop("time")
    assert start == {
        "schema": "microemo.cabin/1",
        "id": "cabin-1-3fa2c1-f0-microsleep-6072",
        "phase": "start",
        "seq": 42,
        "device_id": "cabin-1",
        "face_id": 0,
        "t_ms": 7073.7,
        "kind": "microsleep",
        "onset_ms": 6072.7,
        "offset_ms": None,
        "duration_ms": 1000.9,  # the threshold it crossed
        "cause": None,
        "drowsiness": "asleep",
        "attention": "attentive",
        "perclos": 0.052,
        "off_road_share": 0.0,
        "head_yaw": 3.0,
        "head_pitch": -9.0,
        "gaze_yaw": 3.5,
        "gaze_pitch": -7.0,
    }
    assert (end["seq"], end["offset_ms"], end["duration_ms"]) == (43, 7941.3, 1868.6)


def test_a_blink_has_only_its_end_and_a_lost_face_null_angles() -> None:
    builder = EventBuilder("cabin-1", SequenceAllocator(MemoryStore()))
    lost = dict(READINGS, attention="no_face", head_yaw=None, head_pitch=None, gaze_yaw=None,
                gaze_pitch=None)  # fmt: skip
    blink = CabinStep("end", "blink", "cabin-1-a-f0-blink-2035", 0, 2135.5, 2035.4, 2135.5,
                      readings=lost)  # fmt: skip
    e = builder.build(blink)
    validate_event(e)
    assert (e["kind"], e["duration_ms"], e["head_yaw"], e["attention"]) == (
        "blink",
        100.1,
        None,
        "no_face",
    )


def test_a_distraction_says_its_cause_and_a_face_gone_says_so() -> None:
    builder = EventBuilder("cabin-1", SequenceAllocator(MemoryStore()))
    step = CabinStep("end", "distraction", "cabin-1-a-f0-distraction-14180", 0, 19000.0,
                     14180.8, 17284.0, cause="glance", readings=READINGS,
                     ended_by="face_gone")  # fmt: skip
    e = builder.build(step)
    validate_event(e)
    assert (e["cause"], e["ended_by"], e["duration_ms"]) == ("glance", "face_gone", 3103.2)


def test_an_open_microsleep_is_ended_at_the_restart() -> None:
    builder = EventBuilder("cabin-1", SequenceAllocator(MemoryStore()))
    start = builder.build(microsleep()[0])
    end = ended_by_restart(start, 99)
    validate_event(end)
    assert (end["phase"], end["seq"], end["kind"], end["ended_by"]) == (
        "end",
        99,
        "microsleep",
        "restart",
    )
    assert end["offset_ms"] == start["t_ms"] and end["duration_ms"] == 1001.0  # a lower bound
    assert "apex_ms" not in end  # a cabin end, not an episode's


def test_the_schema_refuses_landmarks_and_an_unknown_kind() -> None:
    builder = EventBuilder("cabin-1", SequenceAllocator(MemoryStore()))
    event = builder.build(microsleep()[0])
    with pytest.raises(jsonschema.ValidationError):
        validate_event({**event, "landmarks": [[0.1, 0.2]]})
    with pytest.raises(jsonschema.ValidationError):
        validate_event({**event, "kind": "nap"})
