"""The daemon's frame loop hands each face's cabin state to the sinks with its emotions, and
a driver the tracker still holds but the camera does not see (turned away, covered) as
``no_face``: never left showing "attentive" while nobody is watched; once the face is gone
its state is cleared."""

from __future__ import annotations

import numpy as np
from tests.daemon.daemon_kit import ListSink, builder

from microemo.daemon.loop import FrameLoop
from microemo.sources.capture import FrameSlot
from microemo.types import Frame, FrameResult, Step

IMAGE = np.zeros((8, 8, 3), np.uint8)
SEEN = {"driver": True, "drowsiness": "awake", "attention": "attentive", "eyes_closed": False}
UNSEEN = {"driver": True, "drowsiness": "awake", "attention": "no_face", "eyes_closed": None}


class Scripted:
    """A pipeline whose frames say: the face is seen, then held but unseen, then gone."""

    def __init__(self) -> None:
        self.n = 0

    def process(self, frame: Frame) -> FrameResult:
        self.n += 1
        r = FrameResult(frame.index, frame.t_ms)
        if self.n <= 2:
            r.emotions[0] = {"core": "neutral", "aus": {}}
            r.cabin[0] = SEEN
        elif self.n <= 4:
            r.cabin[0] = UNSEEN
        return r

    def finish(self, t_ms: float | None = None) -> list[Step]:
        return []

    def expire(self, t_ms: float) -> list[Step]:
        return []


def test_the_cabin_state_goes_with_the_face_and_says_no_face_when_unseen() -> None:
    sink, slot = ListSink(), FrameSlot()
    loop = FrameLoop(Scripted(), sink, slot, events=builder(), budget_ms=100,
                     face_timeout_ms=150)  # fmt: skip
    for i in range(7):
        slot.put(Frame(IMAGE, i * 100.0, i))
        assert loop.step(0.5)
    states = [s for f, s in sink.states if f == 0]
    assert states[0] == {"core": "neutral", "aus": {}, "cabin": SEEN}
    assert states[2] == {"cabin": UNSEEN}  # held, not seen: no emotion, and no_face
    assert states[-1] is None  # gone: cleared
    assert all(s is None or s["cabin"]["attention"] != "attentive" for s in states[2:])
