"""``microemo events`` follows cabin events with the episodes: one sequence, so no false
gap, and a cabin line says what happened (microsleep, distraction and why)."""

from __future__ import annotations

import io
import json

from microemo.publish.events import EventBuilder
from microemo.publish.mqtt.watch import Printer
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.types import CabinStep, Classification, EpisodeStep

READ = {"drowsiness": "awake", "attention": "distracted", "perclos": 0.0,
        "off_road_share": 0.2, "head_yaw": 41.0, "head_pitch": 0.0, "gaze_yaw": 41.0,
        "gaze_pitch": 0.0}  # fmt: skip


def test_cabin_events_print_and_share_the_sequence() -> None:
    build = EventBuilder("cab-1", SequenceAllocator(MemoryStore())).build
    cls = Classification(core="neutral", core_source="rules", core_score=1.0)
    episode = build(EpisodeStep("start", "cab-1-x-f0-10", 0, 10.0, 10.0, None, None, cls, {}, {}))
    away = build(CabinStep("start", "distraction", "cab-1-x-f0-distraction-100", 0, 2100.0,
                           100.0, None, cause="glance", readings=READ))  # fmt: skip
    later = build(EpisodeStep("start", "cab-1-x-f0-3000", 0, 3e3, 3e3, None, None, cls, {}, {}))
    out = io.StringIO()
    printer = Printer("microemo", out)
    printer.handle("microemo/cab-1/events", json.dumps(episode).encode())
    printer.handle("microemo/cab-1/cabin/events", json.dumps(away).encode())
    printer.handle("microemo/cab-1/events", json.dumps(later).encode())
    lines = out.getvalue().splitlines()
    assert printer.events == 3 and not any("gap" in line for line in lines)
    assert "cabin (glance) distraction" in lines[1] and "seq 2" in lines[1]
