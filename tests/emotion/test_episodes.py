"""Overlapping episodes of one face through the episode manager and the event builder: each
episode gets its own id (also when two share an onset millisecond), one start and one end,
the regions that carried it, and, on one that rose on top of a held one, that one's id;
every event validates against schema/event.v1.json."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
from tests.emotion.test_spotter import bump, quiet_series
from tests.emotion.test_spotter_overlap import run

from microemo.emotion.classify import EmotionClassifier
from microemo.emotion.episodes import EpisodeManager
from microemo.emotion.spotting import Spot
from microemo.publish.events import EventBuilder, validate_event
from microemo.publish.mqtt.watch import Printer
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.types import AU_INDEX, AU_NAMES, EpisodeStep

ZERO = np.zeros(len(AU_NAMES), np.float32)


def events_of(spots: list[Spot]) -> list[dict]:
    manager = EpisodeManager("kiosk-1", EmotionClassifier())
    builder = EventBuilder("kiosk-1", SequenceAllocator(MemoryStore()))
    steps: list[EpisodeStep] = []
    for s in spots:
        step = manager.on_spot(s, ZERO, s.offset_ms or s.apex_ms or s.onset_ms)
        assert step is not None
        steps.append(step)
    assert manager.open_count == 0
    events = [builder.build(s) for s in steps]
    for e in events:
        validate_event(e)
    return events


def test_overlapping_episodes_of_one_face_are_separate_events() -> None:
    t, x, _ = quiet_series(30.0, seconds=9.0)
    x[:, AU_INDEX[12]] += (2.5 * np.clip((t - 2000.0) / 200.0, 0, 1)).astype(np.float32)
    x[:, AU_INDEX[1]] += bump(t, 3000, 3300, 5600, 3.5)  # brows raised while smiling
    motion = np.zeros_like(x)
    motion[:, AU_INDEX[12]] = np.minimum(bump(t, 4600, 4720, 4900, 6.0), 5.0)  # a flick up
    events = events_of(run(x, t, motion))
    per_id = Counter((e["id"], e["phase"]) for e in events)
    assert all(n == 1 for n in per_id.values()), per_id
    ends = {e["id"]: e for e in events if e["phase"] == "end"}
    assert {e["id"] for e in events if e["phase"] == "start"} == set(ends)
    by_region = {tuple(e["regions"]): e for e in ends.values() if "within" not in e}
    assert set(by_region) == {("mouth",), ("brows",)}, ends
    smile, brows = by_region[("mouth",)], by_region[("brows",)]
    assert smile["kind"] == "macro" and brows["kind"] == "macro"
    flick = [e for e in ends.values() if "within" in e]
    assert len(flick) == 1 and flick[0]["within"] == smile["id"]
    assert flick[0]["kind"] == "micro" and flick[0]["regions"] == ["mouth"]
    assert flick[0]["onset_ms"] < smile["offset_ms"] and flick[0]["onset_ms"] > brows["onset_ms"]


def test_two_episodes_of_a_face_with_one_onset_get_two_ids() -> None:
    spots = [
        Spot("start", 0, 1500.2, apex_aus={"AU01": 3.0}, key=0, regions=("brows",)),
        Spot("start", 0, 1500.7, apex_aus={"AU12": 3.0}, key=1, regions=("mouth",)),
        Spot("end", 0, 1500.7, 1600.0, 1800.0, {"AU12": 3.0}, key=1, regions=("mouth",)),
        Spot("end", 0, 1500.2, 1700.0, 2400.0, {"AU01": 3.0}, key=0, regions=("brows",)),
    ]
    events = events_of(spots)
    ids = [e["id"] for e in events]
    assert ids[0] != ids[1] and ids[0].endswith("-f0-1500") and ids[1].endswith("-f0-1500-2")
    assert ids[2] == ids[1] and ids[3] == ids[0]  # each end finds its own start
    assert [e["aus"][0]["au"] for e in events] == ["AU01", "AU12", "AU12", "AU01"]


def test_the_event_watcher_says_where_and_on_what_an_episode_rose() -> None:
    t, x, _ = quiet_series(30.0, seconds=9.0)
    x[:, AU_INDEX[12]] += (2.5 * np.clip((t - 2000.0) / 200.0, 0, 1)).astype(np.float32)
    motion = np.zeros_like(x)
    motion[:, AU_INDEX[12]] = np.minimum(bump(t, 4600, 4720, 4900, 6.0), 5.0)
    events = events_of(run(x, t, motion))
    out = io.StringIO()
    printer = Printer("microemo", out)
    for e in events:
        printer.handle("microemo/kiosk-1/events", json.dumps(e).encode())
    held = next(e["id"] for e in events if "within" not in e)
    lines = out.getvalue().splitlines()
    assert sum(f"mouth within {held}" in line for line in lines) == 3  # start, update, end
    assert sum(" mouth " in line and "within" not in line for line in lines) == 3
