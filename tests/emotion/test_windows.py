"""Windows read any frame rate the same way, and emit by time, not by frame count."""

from __future__ import annotations

import numpy as np

from microemo.emotion.windows import WindowBuffer


def _feed(fps: float, seconds: float = 2.0) -> list[np.ndarray]:
    buf = WindowBuffer(window_ms=1000, hop_ms=250, window_frames=16)
    out = []
    for i in range(int(seconds * fps)):
        t = i * 1000.0 / fps
        x = np.array([np.sin(t / 150.0), t / 1000.0], np.float32)
        w = buf.push(t, x)
        if w is not None:
            out.append((t, w))
    return out


def test_windows_at_30_and_200_fps_agree():
    w30, w200 = _feed(30), _feed(200)
    assert len(w30) == len(w200) == 4  # at 1.0, 1.25, 1.5, 1.75 s
    for (t30, a), (t200, b) in zip(w30, w200):
        assert abs(t30 - t200) < 34
        assert a.shape == b.shape == (16, 2)
        # the same signal seen at two rates, resampled onto the same grid (allowing for the
        # 30 fps window ending up to one frame earlier)
        assert np.abs(a[:, 0] - b[:, 0]).max() < 0.25


def test_window_hop_count_is_bounded_by_time_not_frames():
    buf = WindowBuffer(1000, 500, 8)
    emitted = sum(buf.push(i * 5.0, np.zeros(3, np.float32)) is not None for i in range(1000))
    assert emitted == 8  # 0-4.995 s at 200 fps: windows at 1.0, 1.5, ... 4.5 s


def test_one_frame_window_is_the_current_frame_from_the_first_frame_on():
    """A frame-level model (window_frames = 1) reads the frame just pushed, from a face's
    first frame, so it classifies a 12-frame clip's last frame (not the one before it, and
    not nothing)."""
    buf = WindowBuffer(window_ms=1000 / 30, hop_ms=1000 / 30, window_frames=1)
    got = []
    for i in range(12):
        w = buf.push(i * 1000 / 30, np.array([float(i), -float(i)], np.float32))
        assert w is not None, f"no window at frame {i}"
        got.append(w)
    assert all(w.shape == (1, 2) for w in got)
    assert [float(w[0, 0]) for w in got] == [float(i) for i in range(12)]
