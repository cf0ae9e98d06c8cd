"""The landmarker pool (vision/pool.py) with real MediaPipe workers on a real clip: results in
frame order, the faces one landmarker finds, a worker killed for real (SIGKILL) or frozen
(SIGSTOP) replaced and counted, a flood of frames dropped and counted, never queued."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import psutil
import pytest
from tests.conftest import clip_path, wait_for

from microemo.config import LandmarkerConfig
from microemo.sources.files import open_file_source
from microemo.types import Frame
from microemo.vision.feeder import Feeder, iterator_take
from microemo.vision.pool import LandmarkerPool, Observed, PoolError

CONFIG = LandmarkerConfig()


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    with open_file_source(clip_path("HAP")) as src:
        return list(src)


def looped(frames: list[Frame], times: int) -> list[Frame]:
    """The clip played ``times`` times in a row, index and clock going on."""
    n, step = len(frames), frames[1].t_ms - frames[0].t_ms
    return [
        Frame(f.image, (k * n + i) * step, k * n + i)
        for k in range(times)
        for i, f in enumerate(frames)
    ]


def run(pool: LandmarkerPool, frames: list[Frame], during=None) -> list[Observed]:
    """Every frame through the pool by its feeder; ``during(results so far)`` after each
    collect."""
    feeder = Feeder(pool, *iterator_take(frames))
    got: list[Observed] = []
    try:
        while not (feeder.done and pool.idle):
            got += pool.collect(0.5)
            if during is not None:
                during(got)
    finally:
        feeder.stop()
    assert feeder.error is None
    return got


def test_results_come_back_in_frame_order_with_what_one_landmarker_finds(frames):
    from microemo.vision.landmarker import Landmarker

    with Landmarker(CONFIG) as alone:
        expected = [alone.detect(f) for f in frames]
    with LandmarkerPool(CONFIG, 2, depth=2) as pool:
        got = run(pool, frames)
        assert pool.restarts == pool.lost == pool.dropped == 0
    assert [o.frame.index for o in got] == [f.index for f in frames]
    # with one face and num_faces = 2 MediaPipe detects on every frame: each worker, seeing
    # every other frame, finds exactly what one landmarker finds on every frame
    for o, ref in zip(got, expected, strict=True):
        assert len(o.faces) == len(ref) == 1
        np.testing.assert_allclose(o.faces[0].landmarks, ref[0].landmarks, atol=1e-6)
        np.testing.assert_allclose(o.faces[0].blendshapes, ref[0].blendshapes, atol=1e-6)
        np.testing.assert_allclose(o.faces[0].pose, ref[0].pose, atol=1e-5)
        assert o.faces[0].image_size == ref[0].image_size


def test_a_worker_killed_mid_stream_is_replaced_counted_and_order_kept(frames):
    stream = looped(frames, 3)
    with LandmarkerPool(CONFIG, 2, depth=1) as pool:
        victim = pool.pids()[0]

        def kill_once(got: list[Observed]) -> None:
            if len(got) >= 30 and victim in pool.pids() and psutil.pid_exists(victim):
                os.kill(victim, signal.SIGKILL)

        got = run(pool, stream, kill_once)
        assert pool.restarts == 1
        assert victim not in pool.pids()
        # every frame came back or was counted as lost with its worker; none twice, none
        # out of order, and the frames after the kill were landmarked
        indices = [o.frame.index for o in got]
        assert indices == sorted(set(indices))
        assert len(got) + pool.lost == len(stream)
        assert pool.lost <= 1  # depth 1: the frame the victim held, if any
        assert all(len(o.faces) == 1 for o in got[-40:])
        wait_for(lambda: pool.collect(0.1) == [] and pool.ready_workers == 2)
        assert pool.stats()["worker_restarts"] == 1


def test_with_resubmit_a_killed_workers_frames_are_dealt_again(frames):
    stream = looped(frames, 2)
    with LandmarkerPool(CONFIG, 2, depth=2, resubmit=True) as pool:
        victim = pool.pids()[1]

        def kill_once(got: list[Observed]) -> None:
            if len(got) >= 20 and victim in pool.pids() and psutil.pid_exists(victim):
                os.kill(victim, signal.SIGKILL)

        got = run(pool, stream, kill_once)
        assert pool.restarts == 1 and pool.lost == 0
    assert [o.frame.index for o in got] == [f.index for f in stream]
    assert all(len(o.faces) == 1 for o in got)


def test_a_frozen_worker_is_killed_after_stall_s_and_replaced(frames):
    stream = looped(frames, 2)
    with LandmarkerPool(CONFIG, 2, depth=1, resubmit=True, stall_s=1.0) as pool:
        victim = pool.pids()[0]
        frozen: list[int] = []

        def freeze_once(got: list[Observed]) -> None:
            if len(got) >= 10 and not frozen:
                os.kill(victim, signal.SIGSTOP)  # alive, holding its frame, never answering
                frozen.append(victim)

        got = run(pool, stream, freeze_once)
        assert frozen and pool.restarts == 1 and victim not in pool.pids()
        assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == "zombie"
    assert [o.frame.index for o in got] == [f.index for f in stream]


def test_a_flood_is_dropped_and_counted_and_nothing_queues(frames):
    """Frames offered far faster than two landmarkers take them, without waiting for room:
    what cannot be handed over at once is dropped and counted; the pool never holds more
    than workers x depth frames and memory stays flat."""
    n = 3000
    with LandmarkerPool(CONFIG, 2, depth=1) as pool:
        run(pool, frames[:4])  # every shared memory slot made, every graph built
        procs = [psutil.Process(), *(psutil.Process(p) for p in pool.pids())]
        rss0 = [p.memory_info().rss for p in procs]
        accepted, held, got = 0, 0, []
        for i in range(n):
            src = frames[i % len(frames)]
            accepted += pool.submit(Frame(src.image, 1e5 + i * 5.0, 10_000 + i))
            held = max(held, pool.in_flight)
            got += pool.collect(0.0)
        while not pool.idle:
            got += pool.collect(0.5)
        growth = [p.memory_info().rss - r for p, r in zip(procs, rss0)]
        assert accepted + pool.dropped == n
        assert pool.dropped > n // 2
        assert len(got) == accepted and pool.lost == 0
    assert held <= 2
    assert [o.frame.index for o in got] == sorted(o.frame.index for o in got)
    assert max(growth) < 40 * 2**20, f"memory grew by {max(growth) / 2**20:.0f} MB"


def test_a_worker_that_cannot_build_its_landmarker_fails_the_pool_with_the_reason(tmp_path):
    missing = Path(tmp_path) / "nowhere" / "face_landmarker.task"
    with pytest.raises(PoolError) as err:
        LandmarkerPool(LandmarkerConfig(model_path=missing), 2)
    assert str(missing) in str(err.value)
