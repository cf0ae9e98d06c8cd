"""What ``microemo-train cabin-eval`` generates: drowsy drives and talking faces.

A drive is one real CREMA-D clip played back and forth for ``DRIVE_S`` seconds at its own
29.97 fps, with blinks of 120-400 ms every 2-5 s, eye closures of 1.2, 2 and 3 s, two yawns,
two head turns far off the road (``OFF_ROAD``: 3 s to the side, 2.5 s dropped), one small
turn that stays on the road and one short glance away (``ON_ROAD``), in a seeded random
order that keeps every act apart. The talking faces are the six clips joined, each played
back and forth for ``TALK_SEGMENT_S`` in turn, for ten minutes, with nothing added.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from microemo_train.spotting.cabin_synth import CabinAct

DRIVE_S = 90.0
TALK_S = 600.0
TALK_SEGMENT_S = 20.0
GAP_MS = 1500.0  # between two acts (a blink comes closer)
# (kind, duration ms, yaw, pitch) of the long acts of every drive
LONG_ACTS: tuple[tuple[str, float, float, float], ...] = (
    ("eyes", 1200.0, 0, 0),
    ("eyes", 2000.0, 0, 0),
    ("eyes", 3000.0, 0, 0),
    ("yawn", 3500.0, 0, 0),
    ("yawn", 5000.0, 0, 0),
    ("turn", 3000.0, 50.0, 0),  # far off the road: a distraction is due
    ("turn", 2500.0, 0, -35.0),
    ("turn", 3000.0, -15.0, 0),  # on the road: no distraction
    ("turn", 1200.0, -50.0, 0),  # a glance too short to be a distraction
)
OFF_ROAD = {(50.0, 0), (0, -35.0)}


@dataclass
class Drive:
    name: str
    source: Path
    acts: list[CabinAct] = field(default_factory=list)
    duration_ms: float = DRIVE_S * 1000.0


def drive(source: Path, seed: int) -> Drive:
    """One drive on ``source``: the long acts in a random order with gaps, blinks between."""
    rng = random.Random(f"{seed}:{source.stem}")
    longs = list(LONG_ACTS)
    rng.shuffle(longs)
    acts: list[CabinAct] = []
    t = 4000.0  # the first seconds let the face's scales settle
    span = DRIVE_S * 1000.0 - 2000.0
    room = span - t - sum(d + GAP_MS for _, d, _, _ in longs)
    for kind, duration, yaw, pitch in longs:
        lead = rng.uniform(0, room / len(longs))
        acts += _blinks(rng, t, t + lead)
        t += lead
        acts.append(CabinAct(kind, t, t + duration, yaw, pitch))
        t += duration + GAP_MS
    acts += _blinks(rng, t, span)
    return Drive(f"drive_{source.stem}", source, acts)


def _blinks(rng: random.Random, start: float, end: float) -> list[CabinAct]:
    """Blinks every 2-5 s between ``start`` and ``end`` (clear of the acts around)."""
    out, t = [], start + rng.uniform(600, 2000)
    while t + 1000 < end:
        out.append(CabinAct("eyes", t, t + rng.uniform(120, 400)))
        t += rng.uniform(2000, 5000)
    return out
