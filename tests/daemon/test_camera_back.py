"""A camera that dies and comes back: the daemon's capture retries, the loop goes on."""

from __future__ import annotations

import itertools
import logging

from daemon_kit import FakePipeline, ListSink, builder

from microemo.daemon.loop import FrameLoop
from microemo.sources import SourceError, SourceLost
from microemo.sources.capture import Capture, FrameSlot
from microemo.sources.files import open_file_source


class FlakyCamera:
    """A real clip behind a camera that stops after ``die_after`` frames on its first
    opening, then cannot be opened ``refuse`` times (unplugged), then works again."""

    def __init__(self, path, die_after=12, refuse=3):
        self.path, self.die_after, self.refuse = path, die_after, refuse
        self.opened = 0
        self.attempts = 0

    def __call__(self):
        self.attempts += 1
        if self.opened == 1 and self.refuse > 0:
            self.refuse -= 1
            raise SourceError("no camera at /dev/video0: check `v4l2-ctl --list-devices`")
        self.opened += 1
        src = open_file_source(self.path)
        if self.opened > 1:
            return src
        outer = self

        class Dying:
            name, fps = src.name, src.fps
            n = 0

            def read(self):
                if self.n == outer.die_after:
                    raise SourceLost("camera stopped delivering frames")
                self.n += 1
                return src.read()

            def close(self):
                src.close()

        return Dying()


def test_source_dies_and_comes_back(clip, caplog):
    caplog.set_level(logging.INFO, logger="microemo.sources.capture")
    camera = FlakyCamera(clip)
    slot = FrameSlot(lossless=True)  # count every frame: the test is about the outage
    cap = Capture(camera, slot, live=True, retry_initial_s=0.01, retry_max_s=0.04)
    pipeline = FakePipeline(0.0, event_every=1000)
    loop = FrameLoop(pipeline, ListSink(), slot, events=builder(), budget_ms=100)
    cap.start()
    while loop.step(5.0):
        pass
    cap.stop()
    n_clip = open_file_source(clip).frame_count
    status = cap.status()
    # resumed without a restart: the frames before the loss and the whole clip after it
    assert len(pipeline.seen) == 12 + n_clip
    assert status["state"] == "ended" and status["losses"] == 1
    assert camera.attempts == 1 + 3 + 1
    assert "no camera at" in status["last_error"]  # the latest reason it was gone
    snap = loop.metrics.snapshot(slot.put_count, slot.dropped, status)
    assert snap["source"]["losses"] == 1 and snap["source"]["down_s"] > 0
    # time keeps moving forward across the reconnect (the tracker must not see it go back)
    t = [f.t_ms for f in pipeline.seen]
    assert all(b > a for a, b in itertools.pairwise(t))
    # logged once when lost and once when back, not on every retry
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("camera lost" in m for m in msgs) == 1
    assert sum("camera back" in m for m in msgs) == 1
