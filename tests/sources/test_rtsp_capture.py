"""The capture thread against a real RTSP camera (GStreamer's RTSP server, ``tests/rtsp_kit``)
read through OpenCV's FFmpeg back-end: a camera not there at start, lost and back, frozen and
trickling. Each state change is one log line; time is the capture clock across an outage.
(No landmarker here: about 15 s for both tests, mostly the outages themselves.)"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import clip_path
from tests.rtsp_kit import RtspCamera, require_server, wait_until, write_frames

from microemo.config import SourceConfig
from microemo.sources import source_opener
from microemo.sources.capture import Capture, FrameSlot
from microemo.types import Frame

TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    require_server()
    folder = tmp_path_factory.mktemp("rtsp-frames")
    return folder, write_frames(clip_path("HAP"), folder)


@pytest.fixture
def camera(frames: tuple[Path, float]) -> Iterator[RtspCamera]:
    cam = RtspCamera(*frames)
    yield cam
    cam.close()


class Drain:
    """The frame loop's side of the slot: takes every frame and keeps it."""

    def __init__(self, slot: FrameSlot) -> None:
        self.slot = slot
        self.frames: list[Frame] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.slot.finished:
            frame = self.slot.take(0.1)
            if frame is not None:
                frame.image = None  # type: ignore[assignment]  # keep the test's memory flat
                self.frames.append(frame)

    def count(self) -> int:
        return len(self.frames)


def start_capture(url: str) -> tuple[Capture, Drain]:
    cfg = SourceConfig(
        type="rtsp", path=url, timeout_s=TIMEOUT_S, retry_initial_s=0.1, retry_max_s=0.3
    )
    cap = Capture(
        source_opener(cfg),
        FrameSlot(),
        live=True,
        retry_initial_s=cfg.retry_initial_s,
        retry_max_s=cfg.retry_max_s,
        stall_s=cfg.timeout_s,
    )
    drain = Drain(cap.slot)
    cap.start()
    return cap, drain


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    """What the capture thread logged at ``level`` or above."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "microemo.sources.capture" and r.levelno >= level
    ]


def test_an_outage_is_a_gap_in_time_and_each_change_one_line(camera, caplog):
    caplog.set_level(logging.DEBUG, logger="microemo")
    cap, drain = start_capture(camera.url)
    try:
        assert wait_until(lambda: cap.state == "waiting", 10), cap.status()
        time.sleep(1.0)  # nothing listens yet: a few retries
        assert cap.status()["losses"] == 0  # a camera never seen is not lost
        camera.start()
        assert wait_until(lambda: drain.count() > 30, 30), cap.status()
        camera.kill()
        assert wait_until(lambda: cap.state == "lost", 10), cap.status()
        time.sleep(2.5)  # the outage: retried, refused
        n = drain.count()
        camera.start()
        assert wait_until(lambda: drain.count() > n + 30, 30), cap.status()
    finally:
        cap.stop()
    got = drain.frames
    # the outage stays in the timeline: the frames' clock moved as long as the monotonic
    # clock did, and never backwards
    t = [f.t_ms for f in got]
    assert all(b > a for a, b in itertools.pairwise(t))
    i = max(range(len(t) - 1), key=lambda k: t[k + 1] - t[k])
    gap_ms = t[i + 1] - t[i]
    assert gap_ms == pytest.approx((got[i + 1].captured_at - got[i].captured_at) * 1000, abs=1)
    assert gap_ms > 2500
    status = cap.status()
    assert status["state"] == "ok" and status["losses"] == 1 and status["down_s"] > 2.5
    # one line per state change, whatever the number of retries in between
    said, info = messages(caplog), messages(caplog, logging.INFO)
    changes = ["camera not available yet", "camera up", "camera lost", "camera back"]
    assert [next(c for c in changes if m.startswith(c)) for m in info] == changes, info
    assert "connection refused: nothing listens on 127.0.0.1" in info[0]
    assert sum(m.startswith("camera still") for m in said) >= 2  # the retries, at DEBUG


def test_a_frozen_or_trickling_stream_is_lost_after_timeout(camera, caplog):
    caplog.set_level(logging.INFO, logger="microemo")
    camera.start()
    cap, drain = start_capture(camera.url)
    try:
        assert wait_until(lambda: drain.count() > 30, 30), cap.status()
        # a frozen camera that lets its last picture out every 0.8 s: a read never times out
        camera.trickle(0.8)
        froze = time.monotonic()
        lost = wait_until(lambda: cap.state == "lost", 4 * TIMEOUT_S)
        assert lost is not None, "a trickling stream was never noticed"
        assert lost - froze < TIMEOUT_S + 1.0
        n = drain.count()
        time.sleep(2.0)
        assert drain.count() == n  # what still trickles out after the loss is dropped
        camera.play()
        assert wait_until(lambda: cap.state == "ok", 30), cap.status()
        # no frame at all, the session open (the driver's read timeout is the same here)
        camera.freeze()
        froze = time.monotonic()
        lost = wait_until(lambda: cap.state == "lost", 4 * TIMEOUT_S)
        assert lost is not None and lost - froze < TIMEOUT_S + 1.0
    finally:
        cap.stop()
    lines = [m for m in messages(caplog) if m.startswith("camera ")]
    assert len(lines) == 4 and "no frames for" in lines[1] and "frozen stream" in lines[1]
    assert [m.split()[1] for m in lines] == ["up:", "lost:", "back", "lost:"]
