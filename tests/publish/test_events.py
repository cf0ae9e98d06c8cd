"""The event payload, built in one place: an episode's steps become exactly the documented
events (README "MQTT topics and payloads"): key order, rounding, kind, numbering, schema."""

from __future__ import annotations

import re

from microemo.publish.events import EventBuilder, validate_event
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.types import Classification, EpisodeStep

CLS = Classification(
    core="happiness",
    core_source="cnn+rules",
    core_score=0.7101,
    scores={"happiness": 0.7101, "surprise": 0.2004},
    micro="hopeful",
    micro_state="Confident",
    micro_rule="AU12+AU1",
)
MODEL = {"name": "microemo-core-synthetic", "version": "0.1.0", "sha256": "ab" * 32}


def steps(onset: float, apex: float, offset: float) -> list[EpisodeStep]:
    aus = {"AU12": 4.6049, "AU01": 3.1}
    ep = ("desktop-3fa2c1-f0-600", 0)
    return [
        EpisodeStep("start", *ep, onset, onset, None, None, CLS, aus, MODEL),
        EpisodeStep("update", *ep, apex, onset, apex, None, CLS, aus, MODEL),
        EpisodeStep("end", *ep, offset, onset, apex, offset, CLS, aus, MODEL),
    ]


def test_an_episode_becomes_the_documented_events() -> None:
    builder = EventBuilder("desktop", SequenceAllocator(MemoryStore(409)))
    events = [builder.build(s) for s in steps(600.62, 934.31, 1835.24)]
    for e in events:
        validate_event(e)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e.pop("time"))
    assert [(e["phase"], e["seq"], e["kind"]) for e in events] == [
        ("start", 410, None),  # still shorter than a micro-expression can be: kind unknown
        ("update", 411, None),
        ("end", 412, "macro"),
    ]
    assert events[-1] == {
        "schema": "microemo.event/1",
        "id": "desktop-3fa2c1-f0-600",
        "phase": "end",
        "seq": 412,
        "device_id": "desktop",
        "face_id": 0,
        "t_ms": 1835.2,
        "onset_ms": 600.6,
        "apex_ms": 934.3,
        "offset_ms": 1835.2,
        "duration_ms": 1234.6,
        "kind": "macro",
        "core_emotion": "happiness",
        "core_source": "cnn+rules",
        "micro_emotion": "hopeful",
        "micro_state": "Confident",
        "micro_rule": "AU12+AU1",
        "scores": {"happiness": 0.71, "surprise": 0.2},
        "aus": [{"au": "AU12", "apex_intensity": 4.6}, {"au": "AU01", "apex_intensity": 3.1}],
        "model": MODEL,
    }
    assert list(events[-1]) == [k for k in events[0] if k != "time"]  # one key order


def test_kind_is_micro_under_half_a_second_and_known_once_past_it() -> None:
    builder = EventBuilder("desktop", SequenceAllocator(MemoryStore()))
    short = [builder.build(s)["kind"] for s in steps(1000.0, 1150.0, 1300.0)]
    assert short == [None, None, "micro"]
    long_update = steps(1000.0, 1600.0, 2500.0)[1]
    assert builder.build(long_update)["kind"] == "macro"  # 600 ms in: cannot be micro any more
