"""Sliding windows over one face's per-frame features.

Each face keeps a fixed-size ring of (time, feature vector); every ``hop_ms`` of source time
a window covering the last ``window_ms`` is resampled to ``window_frames`` evenly spaced
steps, so a model trained at 30 fps reads 200 fps input the same way. Cost per frame is a
copy into the ring; the resampling runs only at hop rate.

A window of one frame (``window_frames = 1``) is the current frame itself, emitted from a
face's first frame on, every ``hop_ms``: a frame-level model (the face now, and its deviation
from its own neutral) speaks on a clip of any length, where a longer window stays silent until
``window_ms`` of the face has been seen.
"""

from __future__ import annotations

import numpy as np

CAPACITY = 1024  # frames held; at 200 fps that is 5 s, longer than any window


class WindowBuffer:
    def __init__(
        self, window_ms: float, hop_ms: float, window_frames: int, n_features: int | None = None
    ) -> None:
        if window_ms <= 0 or hop_ms <= 0 or window_frames < 1:
            raise ValueError("window_ms and hop_ms must be > 0 and window_frames >= 1")
        self.window_ms = float(window_ms)
        self.hop_ms = float(hop_ms)
        self.window_frames = int(window_frames)
        self._n_features = n_features
        self._t = np.zeros(CAPACITY, np.float64)
        self._x: np.ndarray | None = None
        self._count = 0
        self._first_t: float | None = None
        self._next_emit: float | None = None

    def push(self, t_ms: float, features: np.ndarray) -> np.ndarray | None:
        """Add one frame; return a (window_frames, n_features) window at hop boundaries."""
        if self._x is None:
            self._x = np.zeros((CAPACITY, features.shape[0]), np.float32)
            self._first_t = t_ms
            self._next_emit = t_ms if self.window_frames == 1 else t_ms + self.window_ms
        i = self._count % CAPACITY
        self._t[i] = t_ms
        self._x[i] = features
        self._count += 1
        assert self._next_emit is not None
        if t_ms + 1e-6 < self._next_emit:
            return None
        while self._next_emit <= t_ms + 1e-6:
            self._next_emit += self.hop_ms
        return self._resample(t_ms)

    def _resample(self, t_end: float) -> np.ndarray:
        assert self._x is not None
        if self.window_frames == 1:  # linspace(a, b, 1) is [a]: the frame window_ms ago
            i = (self._count - 1) % CAPACITY
            return self._x[i : i + 1].copy()
        n = min(self._count, CAPACITY)
        order = (np.arange(self._count - n, self._count)) % CAPACITY
        t = self._t[order]
        x = self._x[order]
        grid = np.linspace(t_end - self.window_ms, t_end, self.window_frames)
        j = np.clip(np.searchsorted(t, grid, side="right"), 1, n - 1) if n > 1 else None
        if j is None:
            return np.repeat(x[-1:], self.window_frames, axis=0)
        t0, t1 = t[j - 1], t[j]
        w = np.clip((grid - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)[:, None]
        return ((1.0 - w) * x[j - 1] + w * x[j]).astype(np.float32)

    def reset(self) -> None:
        self._count = 0
        self._x = None
        self._first_t = None
        self._next_emit = None
