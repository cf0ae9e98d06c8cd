"""Sources: real-time replay, a file that is not there, and the back-ends' errors."""

from __future__ import annotations

import itertools
import sys
import types
from typing import ClassVar

import numpy as np
import pytest
from tests.conftest import FakeClock

from microemo.config import SourceConfig
from microemo.sources import SourceError, SourceLost, open_source
from microemo.sources.base import redact_url
from microemo.sources.capture import Capture, FrameSlot
from microemo.sources.files import open_file_source
from microemo.sources.replay import ReplaySource


def test_missing_file_is_an_error_not_a_retry(tmp_path):
    cfg = SourceConfig(type="file", path=str(tmp_path / "nope.mp4"))
    slot = FrameSlot()
    cap = Capture(lambda: open_source(cfg), slot, live=False)
    cap.start()
    cap.opened.wait(10)
    cap.stop()
    assert cap.state == "failed" and "nope.mp4" in str(cap.error)


def test_replay_paces_at_file_rate_and_loops(clip):
    clock = FakeClock(0.0)
    slept = []

    def sleep(dt):
        slept.append(dt)
        clock.advance(dt)

    src = ReplaySource(
        lambda: open_file_source(clip), realtime=True, loop=True, clock=clock, sleep=sleep
    )
    n = open_file_source(clip).frame_count
    frames = [src.read() for _ in range(n + 10)]
    src.close()
    # frame k is released k / fps seconds after the first one
    assert clock.t == pytest.approx((n + 9) / src.fps, abs=1e-6)
    assert frames[5].captured_at == pytest.approx(5 / src.fps, abs=1e-6)
    # looping keeps time and index increasing
    assert [f.index for f in frames] == list(range(n + 10))
    t = [f.t_ms for f in frames]
    assert all(b > a for a, b in itertools.pairwise(t))


def test_replay_without_pacing_never_sleeps(clip):
    src = ReplaySource(
        lambda: open_file_source(clip), realtime=False, sleep=lambda dt: pytest.fail("slept")
    )
    assert sum(1 for _ in iter(src.read, None)) > 50


class FakePicamera2:
    """The thinnest stand-in for picamera2.Picamera2: what open_picamera2 calls."""

    instances: ClassVar[list[FakePicamera2]] = []
    frames_before_failure = 5

    def __init__(self, camera_num=0):
        self.camera_num = camera_num
        self.calls = []
        self.n = 0
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main, controls, buffer_count):
        return {"main": main, "controls": controls, "buffer_count": buffer_count}

    def configure(self, config):
        self.config = config

    def start(self):
        self.calls.append("start")

    def capture_array(self, stream="main"):
        self.n += 1
        if self.n > self.frames_before_failure:
            raise RuntimeError("Camera frontend has timed out!")
        w, h = self.config["main"]["size"]
        return np.full((h, w, 4), self.n, np.uint8)

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


def test_picamera2_is_imported_only_when_chosen(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    cfg = SourceConfig(type="picamera2", device=1, width=320, height=240, fps=15)
    src = open_source(cfg)
    cam = FakePicamera2.instances[-1]
    assert cam.camera_num == 1 and cam.config["main"] == {"size": (320, 240), "format": "RGB888"}
    assert cam.config["controls"] == {"FrameRate": 15}
    frame = src.read()
    assert frame is not None and frame.image.shape == (240, 320, 3) and frame.captured_at > 0
    for _ in range(4):
        src.read()
    with pytest.raises(SourceLost, match="rpicam-hello"):
        src.read()
    src.close()
    assert cam.calls == ["start", "stop", "close"]


def test_picamera2_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        open_source(SourceConfig(type="picamera2"))


def test_v4l2_missing_device_says_what_to_check():
    with pytest.raises(SourceError) as err:
        open_source(SourceConfig(type="v4l2", device="/dev/video99"))
    assert str(err.value).startswith("no camera at /dev/video99")
    assert "v4l2-ctl --list-devices" in str(err.value) and "source.device" in str(err.value)
    with pytest.raises(SourceError, match="no camera at /dev/video97"):
        open_source(SourceConfig(type="v4l2", device=97))


def test_gstreamer_without_support_says_what_to_install():
    from microemo.sources.gstreamer import default_pipeline, has_gstreamer

    cfg = SourceConfig(type="gstreamer", width=1280, height=720, fps=30)
    assert default_pipeline(cfg).startswith("nvarguscamerasrc sensor-id=0 ! ")
    assert "width=1280,height=720,framerate=30/1" in default_pipeline(cfg)
    if has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(SourceError, match="without GStreamer"):
        open_source(cfg)


def test_rtsp_errors_and_passwords_stay_out_of_messages():
    assert redact_url("rtsp://admin:hunter2@cam/stream1") == "rtsp://admin:***@cam/stream1"
    with pytest.raises(SourceError, match="not a stream URL"):
        open_source(SourceConfig(type="rtsp", path="/tmp/x.mp4"))
    with pytest.raises(SourceError) as err:  # nothing listens on port 9: refused at once
        open_source(SourceConfig(type="rtsp", path="rtsp://u:hunter2@127.0.0.1:9/x", timeout_s=2))
    assert "hunter2" not in str(err.value) and "ffprobe" in str(err.value)
