"""The frame budget: a slow pipeline makes frames drop, not latency grow."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
from daemon_kit import FakePipeline, ListSink, builder, start_step
from tests.conftest import FakeClock

from microemo.daemon.loop import FrameLoop
from microemo.daemon.metrics import Latency, Metrics
from microemo.sources.capture import Capture, FrameSlot
from microemo.types import Frame

IMAGE = np.zeros((8, 8, 3), np.uint8)


def run_overloaded(n_steps: int, interval_s: float, cost_s: float):
    """A camera at 1/interval_s fps feeding a pipeline that needs cost_s per frame, on a fake
    clock: before each loop turn, every frame the camera produced meanwhile goes into the slot
    (what the capture thread does in real life)."""
    clock = FakeClock()
    pipeline = FakePipeline(cost_s, clock)
    sink = ListSink()
    slot = FrameSlot()
    loop = FrameLoop(
        pipeline,
        sink,
        slot,
        events=builder(),
        budget_ms=interval_s * 1000,
        metrics=Metrics(clock),
        clock=clock,
    )
    produced = 0
    next_capture = clock.t
    latencies = []
    for _ in range(n_steps):
        clock.t = max(clock.t, next_capture)  # the slot is empty: the loop idles until a frame
        while next_capture <= clock.t:
            slot.put(Frame(IMAGE, produced * interval_s * 1000, produced, next_capture))
            produced += 1
            next_capture += interval_s
        frame_seen = len(pipeline.seen)
        assert loop.step(0.0)
        captured = pipeline.seen[frame_seen].captured_at
        latencies.append(clock.t - captured)
    return loop, slot, pipeline, sink, produced, latencies


def test_slow_stage_drops_frames_and_latency_stays_bounded():
    interval, cost = 0.010, 0.025  # camera 100 fps, machine 40 fps: 2.5x overloaded
    loop, slot, pipeline, sink, produced, lat = run_overloaded(400, interval, cost)
    snap = loop.metrics.snapshot(slot.put_count, slot.dropped)
    # every frame is either processed or counted as dropped: nothing waits in a queue
    assert snap["frames_processed"] == 400
    assert slot.dropped + snap["frames_processed"] + (1 if slot.take(0) else 0) == produced
    assert snap["frames_dropped"] >= 1.4 * 400
    # the loop always works on the newest frame: latency is at most one frame + one processing
    assert max(lat) <= cost + interval + 1e-9
    # ... and does not creep up the longer it runs (a queue would make it grow linearly)
    assert max(lat[-100:]) <= max(lat[:100]) + 1e-9
    assert snap["frame_latency_ms"]["max"] <= (cost + interval) * 1000 + 1e-6
    assert snap["over_budget"] == 400
    # events still flow, with the same bounded capture-to-event latency
    assert len(sink.events) == 40
    assert snap["event_latency_ms"]["max"] <= (cost + interval) * 1000 + 1e-6
    # frames are taken in order, skipping the dropped ones
    idx = [f.index for f in pipeline.seen]
    assert idx == sorted(idx) and idx[-1] - idx[0] > 2 * len(idx)


def test_machine_fast_enough_drops_nothing():
    loop, slot, pipeline, _, _produced, _lat = run_overloaded(200, 0.010, 0.004)
    assert slot.dropped == 0
    assert [f.index for f in pipeline.seen] == list(range(200))
    assert loop.metrics.over_budget == 0


def test_real_threads_newest_wins(caplog):
    """A real capture thread at ~200 fps and a pipeline sleeping 20 ms: the loop sees a subset
    of frames in order, and the rest are counted as dropped."""
    stop = threading.Event()

    class Fast:
        name, fps = "fast", 200.0

        def __init__(self):
            self.i = 0

        def read(self):
            if stop.wait(0.005):
                return None
            self.i += 1
            return Frame(IMAGE, self.i * 5.0, self.i)

        def close(self):
            pass

    slot = FrameSlot()
    cap = Capture(Fast, slot, live=True)
    pipeline = FakePipeline(0.02)
    loop = FrameLoop(pipeline, ListSink(), slot, events=builder(), budget_ms=5)
    cap.start()
    while len(pipeline.seen) < 30:
        loop.step(1.0)
    stop.set()
    cap.stop()
    idx = [f.index for f in pipeline.seen]
    assert idx == sorted(set(idx))
    assert slot.dropped > 0
    assert slot.put_count >= slot.dropped + len(idx)


def test_latency_percentiles():
    lat = Latency(window=100)
    for v in range(1, 201):
        lat.add(float(v))
    s = lat.summary()
    assert s["n"] == 200 and s["max"] == 200.0  # window holds the last 100 values
    assert 149 <= s["p50"] <= 151 and 194 <= s["p95"] <= 196
    assert lat.max_ever == 200.0


def test_a_bad_frame_is_skipped_and_a_broken_pipeline_ends_the_loop(caplog):
    class Choking(FakePipeline):
        def process(self, frame):
            if frame.index % 7 == 3 or frame.index >= 50:
                raise ValueError(f"bad frame {frame.index}")
            return super().process(frame)

    slot = FrameSlot()
    loop = FrameLoop(Choking(0.0), ListSink(), slot, events=builder(), budget_ms=10)
    for i in range(50):
        slot.put(Frame(IMAGE, i * 10.0, i, 1.0))
        loop.step(0)
    assert loop.errors == 7 and loop.metrics.processed == 43  # skipped, counted, went on
    assert sum("pipeline failed on frame" in r.getMessage() for r in caplog.records) == 7
    with pytest.raises(ValueError):
        for i in range(50, 200):
            slot.put(Frame(IMAGE, i * 10.0, i, 1.0))
            loop.step(0)
    assert loop.errors == 7 + 100


class FacePipeline(FakePipeline):
    """Face 0 on every frame with an episode open since the first one; ``expire`` ends it
    (as the real pipeline's does) once face 0 has been unseen for 1.5 s of capture time."""

    def __init__(self) -> None:
        super().__init__(0.0, event_every=10**9)
        self.last_seen: float | None = None
        self.expired_at: list[float] = []

    def process(self, frame):
        result = super().process(frame)
        result.emotions[0] = {"core": "happiness"}
        self.last_seen = frame.t_ms
        return result

    def expire(self, t_ms):
        self.expired_at.append(t_ms)
        if self.last_seen is None or t_ms - self.last_seen <= 1500.0:
            return []
        step = start_step("e0", self.last_seen)
        self.last_seen = None
        return [replace(step, phase="end", t_ms=t_ms, offset_ms=step.onset_ms)]


def test_no_frame_from_a_live_camera_ends_faces_on_the_capture_clock():
    clock = FakeClock()
    pipeline, sink, slot = FacePipeline(), ListSink(), FrameSlot()
    loop = FrameLoop(
        pipeline, sink, slot, events=builder(), budget_ms=100, face_timeout_ms=1500.0,
        live=True, metrics=Metrics(clock), clock=clock,
    )  # fmt: skip
    for i in range(10):
        slot.put(Frame(IMAGE, 1000.0 + i * 33.0, i, clock.t))
        assert loop.step(0.0)
        clock.advance(0.033)
    # the camera is gone: the loop keeps turning on empty takes while the clock runs
    for _ in range(100):
        clock.advance(0.05)
        assert loop.step(0.0)
    last = 1000.0 + 9 * 33.0
    ends = [e for e in sink.events if e["phase"] == "end"]
    assert len(ends) == 1 and ends[0]["offset_ms"] == pytest.approx(last)
    assert ends[0]["t_ms"] == pytest.approx(last + 1500.0, abs=60)  # noticed on time
    assert sink.states[-1] == (0, None)  # its retained state cleared, once
    assert [s for s in sink.states if s[1] is None] == [(0, None)]
    assert pipeline.expired_at[-1] == pytest.approx(last + 0.033 * 1000 + 100 * 50, abs=1)


def test_a_file_replay_that_pauses_does_not_end_its_faces():
    clock = FakeClock()
    pipeline, sink, slot = FacePipeline(), ListSink(), FrameSlot()
    loop = FrameLoop(
        pipeline, sink, slot, events=builder(), budget_ms=100, face_timeout_ms=1500.0,
        metrics=Metrics(clock), clock=clock,
    )  # fmt: skip
    slot.put(Frame(IMAGE, 0.0, 0, clock.t))
    assert loop.step(0.0)
    clock.advance(10.0)
    assert loop.step(0.0)
    assert pipeline.expired_at == [] and sink.states == [(0, {"core": "happiness"})]
