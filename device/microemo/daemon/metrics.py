"""Counters and latency figures of the frame loop, cheap enough to update on every frame.

Latencies are kept in fixed-size rings (the last ``window`` values), so percentiles describe
recent behaviour and memory stays flat however long the daemon runs; ``max`` is also kept
over the whole run. All durations come from ``time.monotonic``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

WINDOW = 1024
FPS_WINDOW_S = 5.0
# histogram bucket bounds in ms (/metrics gives them in seconds): a 1 ms stage to a 5 s stall
BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)


class Latency:
    """A ring of recent values in ms with p50/p95/max, plus the all-time max and a histogram
    over the whole run (``BUCKETS_MS``: counts per bucket and their sum, for /metrics)."""

    def __init__(self, window: int = WINDOW) -> None:
        self._ring: deque[float] = deque(maxlen=window)
        self.count = 0
        self.max_ever = 0.0
        self.total_ms = 0.0
        self.buckets = [0] * (len(BUCKETS_MS) + 1)  # the last: over every bound

    def add(self, ms: float) -> None:
        self._ring.append(ms)
        self.count += 1
        self.total_ms += ms
        self.buckets[bisect_left(BUCKETS_MS, ms)] += 1
        if ms > self.max_ever:
            self.max_ever = ms

    def histogram(self) -> tuple[list[int], float]:
        """(count per bucket, not cumulative, the last over every bound; sum in ms): a copy."""
        return list(self.buckets), self.total_ms

    def summary(self) -> dict[str, float]:
        if not self._ring:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0, "n": 0}
        a = np.fromiter(self._ring, dtype=np.float64, count=len(self._ring))
        p50, p95 = np.percentile(a, [50, 95])
        return {
            "p50": round(float(p50), 2),
            "p95": round(float(p95), 2),
            "max": round(float(a.max()), 2),
            "n": self.count,
        }


class Metrics:
    """What the frame loop measured. ``snapshot()`` is what stats/STATUS/bench report."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: int = WINDOW):
        self._clock = clock
        self._window = window
        self.started = clock()
        self.stages: dict[str, Latency] = {}
        self.frame_total = Latency(window)  # whole loop iteration for one frame
        self.frame_latency = Latency(window)  # capture -> result ready
        self.event_latency = Latency(window)  # capture -> event handed to the sinks
        self.processed = 0
        self.events = 0
        self.over_budget = 0
        self._done_at: deque[float] = deque()

    def stage(self, name: str, ms: float) -> None:
        lat = self.stages.get(name)
        if lat is None:
            lat = self.stages[name] = Latency(self._window)
        lat.add(ms)

    def frame(self, total_ms: float, latency_ms: float, over_budget: bool) -> None:
        now = self._clock()
        self.processed += 1
        self.frame_total.add(total_ms)
        self.frame_latency.add(latency_ms)
        self.over_budget += over_budget
        self._done_at.append(now)
        while self._done_at and now - self._done_at[0] > FPS_WINDOW_S:
            self._done_at.popleft()

    def event(self, latency_ms: float) -> None:
        self.events += 1
        self.event_latency.add(latency_ms)

    def fps(self) -> float:
        """Frames processed per second over the last few seconds."""
        now = self._clock()
        while self._done_at and now - self._done_at[0] > FPS_WINDOW_S:
            self._done_at.popleft()
        if len(self._done_at) < 2:
            return 0.0
        span = max(now - self._done_at[0], 1e-9)
        return (len(self._done_at) - 1) / span

    def snapshot(
        self, captured: int = 0, dropped: int = 0, source: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        seen = max(captured, self.processed + dropped)
        return {
            "uptime_s": round(self._clock() - self.started, 1),
            "fps": round(self.fps(), 2),
            "frames_captured": seen,
            "frames_processed": self.processed,
            "frames_dropped": dropped,
            "drop_ratio": round(dropped / seen, 4) if seen else 0.0,
            "over_budget": self.over_budget,
            "events": self.events,
            "stage_ms": {k: v.summary() for k, v in self.stages.items()},
            "frame_ms": self.frame_total.summary(),
            "frame_latency_ms": self.frame_latency.summary(),
            "event_latency_ms": self.event_latency.summary(),
            "source": source or {},
        }


def status_line(s: dict[str, Any]) -> str:
    """One line for systemd's STATUS= and the log."""
    src = s.get("source") or {}
    state = src.get("state", "?")
    fl = s["frame_latency_ms"]
    lm = s.get("landmarker") or {}
    return (
        f"{s['fps']:.1f} fps, {s['frames_processed']} frames, {s['frames_dropped']} dropped, "
        f"{s['events']} events, latency p95 {fl['p95']:.0f} ms, camera {state}"
        + _losses(src.get("losses", 0))
        + (f", {lm['workers_ready']}/{lm['workers']} workers" if lm else "")
        + (f" ({lm['worker_restarts']} restarts)" if lm.get("worker_restarts") else "")
        + ("" if (s.get("spool") or {}).get("writable", True) else ", spool not writable")
        + ("" if s.get("clock_synced", True) else ", clock not synchronised")
    )


def _losses(n: int) -> str:
    return f" ({n} loss{'es' if n > 1 else ''})" if n else ""
