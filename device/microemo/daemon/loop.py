"""The frame loop: newest frame in, pipeline, events out to the sinks, every stage timed.

The pipeline returns typed episode and cabin steps; the loop stamps them into event payloads
(``publish.events.EventBuilder``: sequence number, wall time) and hands them to the sinks.
Sequence numbers come from blocks reserved by the allocator's own thread
(``publish.sequence``), so numbering an event never writes the disk here.

It takes whatever frame is newest in the one-slot buffer, so when a frame costs more than the
budget the frames that arrived meanwhile are replaced in the slot (counted as dropped) rather
than queued: latency from capture to result stays about one frame plus one processing time,
however slow the machine. Sinks must return at once (they hand off to their own threads);
the loop never touches the network or the disk itself.

With a pool of landmarker workers (``Pipeline(workers=K)``) a feeder thread takes the newest
frame whenever a worker is free and the loop turns on the results, which come back in frame
order; drops stay in the slot, and frames a dead worker held are counted as dropped too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from microemo.daemon.metrics import Metrics
from microemo.daemon.watchdog import Heartbeat
from microemo.publish.events import EventBuilder
from microemo.publish.sink import Sink
from microemo.sources.capture import FrameSlot
from microemo.types import Frame, FrameResult, Step

logger = logging.getLogger(__name__)

MAX_ERRORS_IN_ROW = 100


class FramePipeline(Protocol):
    """What the loop needs of the pipeline (``microemo.pipeline.Pipeline``)."""

    def process(self, frame: Frame) -> FrameResult: ...

    def finish(self, t_ms: float | None = None) -> list[Step]: ...

    def expire(self, t_ms: float) -> list[Step]: ...


class PooledPipeline(FramePipeline, Protocol):
    """A pipeline whose landmarker runs in worker processes (``pooled`` is true)."""

    @property
    def idle(self) -> bool: ...

    def feed(self, take: Callable[[float], Frame | None], ended: Callable[[], bool]) -> Any: ...

    def collect(self, timeout_s: float) -> list[tuple[Frame, FrameResult]]: ...


class FrameLoop:
    def __init__(
        self,
        pipeline: FramePipeline,
        sink: Sink,
        slot: FrameSlot,
        *,
        events: EventBuilder,
        budget_ms: float,
        metrics: Metrics | None = None,
        heartbeat: Heartbeat | None = None,
        face_timeout_ms: float = 5000.0,
        live: bool = False,
        tap: Callable[[Frame, FrameResult], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipeline = pipeline
        self.sink = sink
        self.events = events
        self.slot = slot
        self.budget_ms = budget_ms
        self.metrics = metrics or Metrics(clock)
        self.heartbeat = heartbeat or Heartbeat(clock)
        self.face_timeout_ms = face_timeout_ms
        self.live = live  # frames carry the capture clock: time goes on while none come
        self.tap = tap  # sees every processed frame (the status page keeps a reference)
        self._clock = clock
        self.last_t_ms: float | None = None
        self._last_at = 0.0  # captured_at of the last frame processed
        self._faces: dict[int, float] = {}  # face id -> t_ms last seen (for face_state None)
        self.errors = 0
        self._errors_in_row = 0
        self._pooled = bool(getattr(pipeline, "pooled", False))
        self._feeder: Any = None

    def step(self, timeout_s: float = 0.2) -> bool:
        """Process the newest frame if one comes within ``timeout_s`` (with workers: every
        result that is ready, waiting as long for the first).

        Returns False once the source has ended and every frame taken is processed."""
        self.heartbeat.beat()
        self.expire_idle()
        if self._pooled:
            return self._step_pooled(timeout_s)
        frame = self.slot.take(timeout_s)
        if frame is None:
            return not self.slot.finished
        self.process(frame)
        return True

    def _step_pooled(self, timeout_s: float) -> bool:
        pipeline = cast(PooledPipeline, self.pipeline)
        feeder = self._feeder
        if feeder is None or (feeder.done and not self.slot.finished):  # (a new source)
            feeder = self._feeder = pipeline.feed(self._take, lambda: self.slot.finished)
        ended = feeder.done  # read first: every frame was submitted before it is set
        self.heartbeat.enter("pipeline")  # waits for the workers, then the stages after them
        results = pipeline.collect(timeout_s)
        self.heartbeat.leave()
        for frame, result in results:
            t0 = self._clock()
            try:
                if result.error is not None:
                    raise RuntimeError(result.error)
                events = [self.events.build(step) for step in result.steps]
            except Exception:
                self._failed(frame)
                continue
            self._errors_in_row = 0
            self._deliver(frame, result, events, t0)
        if feeder.error is not None:
            raise feeder.error
        return not (ended and pipeline.idle)

    def _take(self, timeout_s: float) -> Frame | None:
        return self.slot.take(timeout_s)  # the slot may be replaced (a new source)

    def process(self, frame: Frame) -> FrameResult:
        clock, hb = self._clock, self.heartbeat
        t0 = clock()
        hb.enter("pipeline")
        try:
            result = self.pipeline.process(frame)
            events = [self.events.build(step) for step in result.steps]
        except Exception:
            hb.leave()
            self._failed(frame)
            return FrameResult(frame_index=frame.index, t_ms=frame.t_ms)
        self._errors_in_row = 0
        self._deliver(frame, result, events, t0)
        return result

    def _deliver(
        self, frame: Frame, result: FrameResult, events: list[dict[str, Any]], t0: float
    ) -> None:
        """Publish one processed frame and account for it. ``t0``: when this thread began on
        it (with workers, the landmarker's own time is added: it ran elsewhere)."""
        clock = self._clock
        t1 = clock()
        self.heartbeat.enter("sinks")
        self._publish(result, events, frame.captured_at)
        self.heartbeat.leave()
        t2 = clock()
        m = self.metrics
        for name, ms in result.stage_ms.items():
            m.stage(name, ms)
        m.stage("sinks", (t2 - t1) * 1000.0)
        total_ms = (t2 - t0) * 1000.0
        if self._pooled:
            total_ms += sum(result.stage_ms.values())
        m.frame(total_ms, (t1 - frame.captured_at) * 1000.0, total_ms > self.budget_ms)
        self.last_t_ms, self._last_at = frame.t_ms, frame.captured_at
        if self.tap is not None:
            self.tap(frame, result)

    def _failed(self, frame: Frame) -> None:
        """A frame the pipeline choked on (or whose events could not be numbered) is skipped
        and counted; a pipeline that fails ``MAX_ERRORS_IN_ROW`` frames in a row is broken,
        and the error ends the daemon (systemd restarts it) instead of spinning."""
        self.errors += 1
        self._errors_in_row += 1
        if self._errors_in_row >= MAX_ERRORS_IN_ROW:
            logger.critical("pipeline failed %d frames in a row; giving up", self._errors_in_row)
            raise
        if self._errors_in_row == 1:
            logger.exception(
                "pipeline failed on frame %d (t=%.0f ms); skipping it", frame.index, frame.t_ms
            )

    def _publish(
        self, result: FrameResult, events: list[dict[str, Any]], captured_at: float
    ) -> None:
        for event in events:
            self.sink.emit(event)
            self.metrics.event((self._clock() - captured_at) * 1000.0)
        for face_id, state in result.emotions.items():
            cabin = result.cabin.get(face_id)
            self.sink.face_state(face_id, state if cabin is None else {**state, "cabin": cabin})
            self._faces[face_id] = result.t_ms
        for face_id, cabin in result.cabin.items():  # held but not seen: its cabin says no_face
            if face_id not in result.emotions and face_id in self._faces:
                self.sink.face_state(face_id, {"cabin": cabin})
        self._forget_faces(result.t_ms)

    def _forget_faces(self, now_ms: float) -> None:
        """Faces not seen for ``face_timeout_ms`` at ``now_ms``: their state is cleared."""
        for face_id, seen in list(self._faces.items()):
            if now_ms - seen > self.face_timeout_ms:
                del self._faces[face_id]
                self.sink.face_state(face_id, None)

    def expire_idle(self) -> None:
        """No frame from a live source for longer than ``face_timeout_ms`` (an outage, a
        frozen stream): on the capture clock the faces have been gone that long, so they end
        as faces that leave do (open episodes ended where last seen, per-face state cleared)
        now, not when the camera is back."""
        if not self.live or self.last_t_ms is None:
            return
        now_ms = self.last_t_ms + (self._clock() - self._last_at) * 1000.0
        if now_ms - self.last_t_ms <= self.face_timeout_ms:
            return
        for step in self.pipeline.expire(now_ms):
            self.sink.emit(self.events.build(step))
            self.metrics.events += 1
        self._forget_faces(now_ms)

    def stop_feeding(self) -> None:
        """Shutdown with workers: no more frames into the pool."""
        if self._feeder is not None:
            self._feeder.stop()

    def finish(self) -> list[dict[str, Any]]:
        """End of stream or shutdown: close open episodes and hand their events over."""
        self.stop_feeding()
        events = [self.events.build(step) for step in self.pipeline.finish(self.last_t_ms)]
        for event in events:
            self.sink.emit(event)
            self.metrics.events += 1
        for face_id in list(self._faces):
            self.sink.face_state(face_id, None)
        self._faces.clear()
        return events
