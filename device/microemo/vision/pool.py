"""Landmarker worker processes: frames dealt round-robin, faces back in frame order.

MediaPipe's landmarker keeps one core busy per frame (about 10 ms here, 25-80 ms on a Pi);
``workers`` processes, each with its own VIDEO-mode landmarker and its own increasing
timestamps (``vision.pool_worker``), landmark that many frames at once. Processes, not
threads: measured here in the same runs, two landmarker threads in one process gave
1.2-1.5x the frame rate of one, two processes 1.6-1.85x (MediaPipe's wrapper builds each
result in Python under the GIL, and on a busy machine a preempted GIL holder stalls all).

- Frames go to the ready workers in turn, through shared memory. A worker holds at most
  ``depth`` frames, so the pool holds at most ``workers * depth``: ``wait_room`` holds the
  feeder back and frames wait in the capture slot (newest wins, drops counted there), in no
  queue here; ``submit`` without room drops the frame and counts it.
- ``collect`` returns results in frame order, so everything after the landmarker sees the
  stream one landmarker would give. Face ids are given there, after the pool.
- Each worker's VIDEO-mode tracking follows a face from its own previous frame, ``workers``
  frames back (tests/vision/test_pool.py measures what that changes).
- A worker that dies (a crash, the OOM killer, kill -9) or is stuck on one frame for
  ``stall_s`` is replaced and counted (``restarts``). Its frames are lost and counted
  (``lost``: live sources, where newer frames matter more) or, with ``resubmit``, dealt
  again (recorded inputs: every frame gets its row). A worker that cannot build its
  landmarker at start, or keeps dying before it is ready, raises ``PoolError``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from microemo.config import LandmarkerConfig
from microemo.types import FaceObservation, Frame
from microemo.vision.pool_worker import WorkerProcess

logger = logging.getLogger(__name__)

MAX_FAILED_STARTS = 3  # in a row, at every place, before the pool gives up


def worker_count(setting: int) -> int:
    """``landmarker.workers``: 0 means one per core this process may run on."""
    if setting > 0:
        return setting
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class PoolError(RuntimeError):
    """The landmarker workers cannot run; the message says why."""


@dataclass
class Observed:
    """A frame as the landmarker saw it: its faces, or ``error`` if the landmarker raised."""

    frame: Frame
    faces: list[FaceObservation]
    landmarker_ms: float = 0.0
    error: str | None = None


@dataclass
class _Job:
    seq: int
    frame: Frame
    done: Observed | None = None
    lost: bool = False


class LandmarkerPool:
    """Thread-safe for one feeding thread (``wait_room``/``submit``) and one collecting
    thread (``collect``); workers are replaced by the collecting thread."""

    def __init__(
        self,
        config: LandmarkerConfig,
        workers: int,
        *,
        depth: int = 1,
        resubmit: bool = False,
        stall_s: float = 30.0,
        wait: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Starts the workers and, with ``wait``, waits until they are ready (else call
        ``wait_ready`` before the first frame: their start-up then overlaps yours)."""
        if workers < 1 or depth < 1:
            raise ValueError("a pool needs at least one worker and a depth of one")
        self._config = config.model_dump(mode="json")
        self._cond = threading.Condition()
        self._clock = clock
        self.size, self.depth = workers, depth
        self.resubmit, self.stall_s = resubmit, stall_s
        self._order: deque[_Job] = deque()  # every job not yet collected, in frame order
        self._pending: deque[_Job] = deque()  # a dead worker's jobs, to deal again
        self._seq = self._turn = 0
        self._failed_starts = [0] * workers
        self.restarts = self.lost = self.dropped = self.errors = 0
        self.closed = False
        self._wake_r, self._wake_w = socket.socketpair()  # ``wake`` ends a ``collect`` wait
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._starting = True  # a worker failing now is a set-up problem: no respawn
        self._fresh = True  # no frame since the workers' last reset
        self._workers = [WorkerProcess(i, self._config, depth) for i in range(workers)]
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        """Until every worker has built its landmarker; ``PoolError`` (and the pool closed)
        if one cannot."""
        deadline = self._clock() + timeout_s
        try:
            while any(w.state == "starting" for w in self._workers):
                if self._clock() > deadline:
                    raise PoolError(f"landmarker workers not ready after {timeout_s:.0f} s")
                self._poll(0.2)
        except BaseException:
            self.close()
            raise
        self._starting = False

    @property
    def ready_workers(self) -> int:
        return sum(w.state == "ready" for w in self._workers)

    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.state != "dead"]

    # -- frames in ---------------------------------------------------------------------------
    def _target(self) -> WorkerProcess | None:
        """The ready worker whose turn it is; None if it has no room (or none is ready)."""
        for k in range(self.size):
            w = self._workers[(self._turn + k) % self.size]
            if w.state == "ready":
                return w if len(w.jobs) < self.depth else None
        return None

    def _next(self) -> WorkerProcess | None:
        """The worker the next frame goes to; None while a dead worker's frames wait to be
        dealt again (they go first) or there is no room."""
        return None if self._pending else self._target()

    def wait_room(self, timeout_s: float) -> bool:
        """Wait until a frame can be handed over at once. The feeder calls this before it
        takes the newest frame, so that frame is as fresh as it can be."""
        with self._cond:
            return self._cond.wait_for(lambda: self._next() is not None, timeout_s)

    def submit(self, frame: Frame) -> bool:
        """Hand ``frame`` to the next worker; without room it is dropped and counted."""
        with self._cond:
            w = self._next()
            if w is None:
                self.dropped += 1
                return False
            job = _Job(self._seq, frame)
            self._seq += 1
            self._fresh = False
            self._order.append(job)
            self._send(w, job)
            return True

    def _send(self, w: WorkerProcess, job: _Job) -> None:
        if not w.jobs:
            w.busy_since = self._clock()
        w.jobs.append(job)
        self._turn = (w.place + 1) % self.size
        w.send_frame(job.seq, job.frame)

    def _deal_pending(self) -> None:
        while self._pending and (w := self._target()) is not None:
            self._send(w, self._pending.popleft())

    def end_stream(self) -> None:
        """The last frame of an input is handed over: each worker starts a fresh VIDEO task
        once it has landmarked its share, while the input's last results are collected."""
        with self._cond:
            self._reset_workers()

    def new_stream(self) -> None:
        """Before an input (nothing in flight): fresh VIDEO tasks, unless ``end_stream``
        already asked for them and no frame came since."""
        with self._cond:
            if self._order:
                raise RuntimeError("new_stream with frames in flight: collect them first")
            if not self._fresh:
                self._reset_workers()

    def _reset_workers(self) -> None:
        for w in self._workers:
            if w.state in ("starting", "ready"):
                w.send(("reset",))
        self._fresh = True

    # -- results out ------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Frames handed over and not yet collected (at most ``size * depth``)."""
        with self._cond:
            return len(self._order)

    @property
    def idle(self) -> bool:
        return self.in_flight == 0

    def collect(self, timeout_s: float) -> list[Observed]:
        """The results ready, in frame order; waits up to ``timeout_s`` when there are none
        (less if ``wake`` is called)."""
        out = self._pop_done()
        if not out:
            self._poll(timeout_s)
            out = self._pop_done()
        return out

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # already woken (buffer full) or closed
            self._wake_w.send(b"w")

    def _pop_done(self) -> list[Observed]:
        with self._cond:
            out = []
            while self._order and (self._order[0].done or self._order[0].lost):
                job = self._order.popleft()
                if job.done is not None:
                    out.append(job.done)
            return out

    def _poll(self, timeout_s: float) -> None:
        with self._cond:
            live = [w for w in self._workers if w.state != "dead"]
        ready = wait([w.conn for w in live] + [self._wake_r], timeout_s)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)
        with self._cond:
            for w in live:
                if w.conn in ready:
                    for msg in w.messages():  # an ended worker's last results still count
                        self._handle(w, msg)
                if w.state == "gone":
                    self._bury(w, w.failure or w.exit_text())
            now = self._clock()
            for w in list(self._workers):
                if w.state == "ready" and w.jobs and now - w.busy_since > self.stall_s:
                    self._bury(w, f"was stuck on one frame for {now - w.busy_since:.0f} s")
            self._deal_pending()
            self._cond.notify_all()

    def _handle(self, w: WorkerProcess, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            w.state = "ready"
            self._failed_starts[w.place] = 0
        elif kind == "failed":
            logger.error("landmarker worker %d cannot start: %s", w.place, msg[1])
            w.state, w.failure = "gone", f"cannot start: {msg[1]}"
        else:
            job = w.jobs.popleft()
            w.busy_since = self._clock()
            if kind == "error":
                self.errors += 1
                job.done = Observed(job.frame, [], error=msg[2])
            else:
                _, _seq, faces, ms = msg
                obs = [FaceObservation(lm, bs, p, (int(s[0]), int(s[1]))) for lm, bs, p, s in faces]
                job.done = Observed(job.frame, obs, ms)

    def _bury(self, w: WorkerProcess, why: str) -> None:
        """A dead or stuck worker: settle its frames, count it, start its replacement."""
        was_ready, w.state = w.state == "ready", "dead"
        w.end()
        for job in w.jobs:
            if self.resubmit and not self.closed:
                self._pending.append(job)
            else:
                job.lost = True
                self.lost += 1
        w.jobs.clear()
        if self.closed:
            return
        if self._starting:
            raise PoolError(f"landmarker worker {w.place} {why}")
        self.restarts += 1
        n = self._failed_starts[w.place] = 0 if was_ready else self._failed_starts[w.place] + 1
        logger.warning(
            "landmarker worker %d (pid %d) %s; starting another (%d restarts so far)",
            *(w.place, w.pid, why, self.restarts),
        )
        if n < MAX_FAILED_STARTS:
            self._workers[w.place] = WorkerProcess(w.place, self._config, self.depth)
        elif all(k >= MAX_FAILED_STARTS for k in self._failed_starts):
            raise PoolError(f"landmarker workers keep dying before they are ready: {why}")

    # -- end ----------------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        return {
            "workers": self.size,
            "workers_ready": self.ready_workers,
            "worker_restarts": self.restarts,
            "frames_lost": self.lost,
            "landmarker_errors": self.errors,
        }

    def close(self) -> None:
        with self._cond:
            if self.closed:
                return
            self.closed = True
            workers = list(self._workers)
        for w in workers:
            w.send(None)
        for w in workers:
            w.end(grace_s=5.0)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> LandmarkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
