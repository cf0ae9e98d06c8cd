"""The pipeline: one frame in, every face's AUs, emotions, episode and cabin steps out.

landmarker -> tracker -> normalizer -> AU estimator -> windows/classifier -> spotter ->
episodes, and beside them the cabin stage (eyes, yawns, attention) on the same faces. The
daemon, ``microemo analyze`` and the training tool's extraction all drive this one object,
so the features a model is trained on are the features the device computes. It goes down
the layers once (vision, then emotion and cabin) and returns typed steps; whoever drives it
turns them into event payloads (``publish.events.EventBuilder``) and sends them on.
``stage_ms`` says where the time went; ``FrameResult.cabin`` holds each watched face's cabin
state as a plain dict.

With ``workers = 0`` everything runs in the calling thread (``process``). With ``workers``
K >= 1 the landmarker runs in K processes (``vision.pool``): frames go in through a
``Feeder`` thread (``feed``, or ``stream`` over a recorded input) and ``collect`` returns
them in frame order with everything after the landmarker done here, in one thread, on the
ordered stream: optical flow (it needs each frame's predecessor, which a worker that sees
every K-th frame does not have; here it costs what it costs with K = 1), face ids, AUs,
windows, spotting. So K changes what each worker's MediaPipe tracking starts from, nothing
after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from microemo.cabin.stage import CabinStage
from microemo.config import Config
from microemo.emotion.classify import EmotionClassifier
from microemo.emotion.episodes import EpisodeManager
from microemo.emotion.spotting import Spotter
from microemo.model.bundle import Bundle, calibration_mismatch
from microemo.types import AU_NAMES, AUFrame, FaceObservation, Frame, FrameResult, Step
from microemo.vision.au import AUEstimator
from microemo.vision.features import frame_vector
from microemo.vision.flow import FlowAU, FlowMeter
from microemo.vision.geometry import Normalizer
from microemo.vision.tracker import FaceTracker

if TYPE_CHECKING:
    from microemo.vision.feeder import Feeder
    from microemo.vision.pool import LandmarkerPool

logger = logging.getLogger(__name__)


class FrameError(RuntimeError):
    """The landmarker raised on a frame in a worker (``stream`` stops there)."""


class Pipeline:
    def __init__(
        self,
        config: Config,
        *,
        bundle: Bundle | None = None,
        landmarker: Any = None,
        workers: int = 0,
        depth: int = 1,
        resubmit: bool = False,
        stall_s: float = 30.0,
    ) -> None:
        """``workers`` landmarker processes (0: the landmarker in this thread); ``depth``,
        ``resubmit`` and ``stall_s`` as in ``vision.pool.LandmarkerPool``."""
        self.config = config
        # the AU calibration first: a file that cannot be used stops us before MediaPipe starts
        self.au = AUEstimator(config.au)
        self.pool: LandmarkerPool | None = None
        if workers > 0:
            import cv2

            from microemo.vision.pool import LandmarkerPool

            # this process's OpenCV work is small (flow on a face box): threads for it would
            # only take cores from the workers (measured: 0.08 ms a frame less CPU here)
            cv2.setNumThreads(1)

            self.pool = LandmarkerPool(  # the workers start while the rest is built
                config.landmarker,
                workers,
                depth=depth,
                resubmit=resubmit,
                stall_s=stall_s,
                wait=False,
            )
        elif landmarker is None:
            from microemo.vision.landmarker import Landmarker

            landmarker = Landmarker(config.landmarker)
        self.landmarker = landmarker
        try:
            self._build(config, bundle)
        except BaseException:
            self.close()
            raise
        if self.pool is not None:
            self.pool.wait_ready()

    def _build(self, config: Config, bundle: Bundle | None) -> None:
        """The stages after the landmarker."""
        from microemo.model.appearance import load_appearance

        self.tracker = FaceTracker(config.tracker)
        self.normalizer = Normalizer()
        self.classifier = EmotionClassifier(
            bundle, load_appearance(config.model.appearance), config.model.appearance_hz
        )
        self._check_calibration(bundle)
        self.spotter = Spotter(config.spotting)
        sp = config.spotting
        self.flow = FlowMeter() if sp.flow else None
        self.flow_au = FlowAU(sp.flow_tau_ms, sp.flow_full) if sp.flow else None
        self.episodes = EpisodeManager(config.device.id, self.classifier)
        self.cabin = CabinStage(config.cabin, config.device.id)
        self._last_t = 0.0

    @property
    def model_info(self) -> dict[str, Any]:
        return self.classifier.model_info

    @property
    def appearance_info(self) -> dict[str, Any] | None:
        return self.classifier.appearance_info

    def swap_model(self, bundle: Bundle | None) -> None:
        """Thread-safe: the new model classifies from the next window on."""
        self.classifier.swap_model(bundle)
        self._check_calibration(bundle)

    def _check_calibration(self, bundle: Bundle | None) -> None:
        problem = calibration_mismatch(bundle, self.config.au.calibration)
        if problem:
            logger.warning("%s", problem)

    def process(self, frame: Frame) -> FrameResult:
        if self.pool is not None:  # one frame through the pool (a warm-up, a test)
            return next(iter(self.stream([frame])))
        stage_ms: dict[str, float] = {}
        faces = self.observe(frame, stage_ms)
        result = self.process_faces(faces, frame.t_ms, frame.index, frame.image)
        result.stage_ms.update(stage_ms)
        return result

    def observe(
        self, frame: Frame, stage_ms: dict[str, float] | None = None
    ) -> list[FaceObservation]:
        """The measurement stages on the picture: the landmarker's faces, with optical flow
        at the landmarks when ``spotting.flow`` is on. What ``process_faces`` takes, so a
        recording of these replays everything after the camera."""
        t0 = time.monotonic()
        faces = self.landmarker.detect(frame)
        landmarker_ms = (time.monotonic() - t0) * 1000.0
        flow_ms = self._measure_flow(frame, faces)
        if stage_ms is not None:
            stage_ms.update(landmarker=landmarker_ms, flow=flow_ms)
        return faces

    def _measure_flow(self, frame: Frame, faces: list[FaceObservation]) -> float:
        """Optical flow on ``faces`` (``spotting.flow``); the milliseconds it took."""
        t0 = time.monotonic()
        if self.flow is not None:
            self.flow.measure(frame.image, faces)
        return (time.monotonic() - t0) * 1000.0

    # -- with a pool of landmarker workers ----------------------------------------------------
    @property
    def pooled(self) -> bool:
        return self.pool is not None

    @property
    def idle(self) -> bool:
        """No frame in the pool that ``collect`` has not returned yet."""
        return self.pool is None or self.pool.idle

    def feed(self, take: Callable[[float], Frame | None], ended: Callable[[], bool]) -> Feeder:
        """Start a thread handing frames from ``take`` to the pool (see ``vision.feeder``)."""
        from microemo.vision.feeder import Feeder

        assert self.pool is not None, "feed needs workers > 0"
        return Feeder(self.pool, take, ended)

    def collect(self, timeout_s: float) -> list[tuple[Frame, FrameResult]]:
        """The pool's results in frame order, each processed after the landmarker here;
        waits up to ``timeout_s`` when none is ready. A frame the landmarker raised on comes
        back with ``error`` set and no faces, and nothing after the landmarker saw it."""
        assert self.pool is not None, "collect needs workers > 0"
        out = []
        for obs in self.pool.collect(timeout_s):
            frame = obs.frame
            if obs.error is not None:
                out.append((frame, FrameResult(frame.index, frame.t_ms, error=obs.error)))
                continue
            try:
                flow_ms = self._measure_flow(frame, obs.faces)
                result = self.process_faces(obs.faces, frame.t_ms, frame.index, frame.image)
            except Exception as exc:  # this frame fails, not the frames collected with it
                logger.debug("frame %d failed after the landmarker", frame.index, exc_info=True)
                result = FrameResult(frame.index, frame.t_ms, error=f"{type(exc).__name__}: {exc}")
            else:
                result.stage_ms.update(landmarker=obs.landmarker_ms, flow=flow_ms)
            out.append((frame, result))
        return out

    def stream(self, frames: Iterable[Frame]) -> Generator[FrameResult, None, None]:
        """Every frame's result in order: through the pool when there is one (``frames`` is
        then read on the feeder's thread, beside the landmarker), else in this thread."""
        if self.pool is None:
            for frame in frames:
                yield self.process(frame)
            return
        from microemo.vision.feeder import Feeder, iterator_take

        # the workers start afresh as soon as they have the last frame (``end_stream``): the
        # next input's ``new_stream`` then costs nothing
        feeder = Feeder(self.pool, *iterator_take(frames), on_end=self.pool.end_stream)
        try:
            while True:
                fed_all = feeder.done  # read first: every frame was submitted before it is set
                for _, result in self.collect(1.0):
                    if result.error is not None:
                        raise FrameError(f"frame {result.frame_index}: {result.error}")
                    yield result
                if feeder.error is not None:
                    raise feeder.error
                if fed_all and self.pool.idle:
                    return
        finally:
            feeder.stop()
            while not self.pool.idle:  # stopped early: what is in flight is not wanted
                self.pool.collect(1.0)

    def process_faces(
        self,
        faces: list[FaceObservation],
        t_ms: float,
        index: int = 0,
        image: np.ndarray | None = None,
    ) -> FrameResult:
        """Everything after the landmarker (used directly on recorded landmarks, where there
        is no ``image`` for the appearance model: the AUs' prototypes are the evidence)."""
        self._last_t = t_ms
        result = FrameResult(frame_index=index, t_ms=t_ms)
        t0 = time.monotonic()
        tracked, gone = self.tracker.update(faces, t_ms)
        for face_id in gone:
            self._end_face(face_id, t_ms, result)
        t1 = time.monotonic()
        for tf in tracked:
            result.faces.append(self._face(tf, t_ms))
        t2 = time.monotonic()
        for au in result.faces:
            if image is not None:
                self.classifier.see(au.face_id, t_ms, image, au.face.obs.landmarks)
            self._emotions(au, result)
        t3 = time.monotonic()
        cabin_steps, result.cabin = self.cabin.update(result.faces, t_ms)
        result.steps += cabin_steps
        result.stage_ms.update(
            track=(t1 - t0) * 1000.0,
            aus=(t2 - t1) * 1000.0,
            emotion=(t3 - t2) * 1000.0,
            cabin=(time.monotonic() - t3) * 1000.0,
        )
        return result

    def _face(self, tf: Any, t_ms: float) -> AUFrame:
        norm = self.normalizer(tf)
        au = self.au(norm, t_ms)
        au.features = frame_vector(au, self.au.deviation(norm))
        if self.flow_au is not None:
            au.motion = self.flow_au(tf.face_id, tf.obs, t_ms)
        return au

    def _emotions(self, au: AUFrame, result: FrameResult) -> None:
        if self.classifier.push(au.face_id, au.t_ms, au.features):
            self.episodes.model = self.classifier.model_info
        self.episodes.observe(au.face_id, au.intensity, au.trust)
        for spot in self.spotter.update(au):
            step = self.episodes.on_spot(spot, au.intensity, au.t_ms, au.trust)
            if step is not None:
                result.steps.append(step)
        cls = self.classifier.classify(au.face_id, au.intensity, au.trust)
        expressed = cls.expressed()
        result.emotions[au.face_id] = {
            "core": cls.core,
            "core_score": round(cls.core_score, 3),
            "core_source": cls.core_source,
            "micro": cls.micro,
            "micro_rule": cls.micro_rule,
            "expressed": expressed[0] if expressed else None,
            "expressed_score": round(expressed[1], 3) if expressed else None,
            "scores": {k: round(float(v), 3) for k, v in cls.scores.items()},
            "aus": {n: round(float(v), 2) for n, v in zip(AU_NAMES, au.intensity.tolist())},
            # 0: the AUs read from this glance alone; towards 1: against the face's own neutral
            "baseline": round(au.trust, 2),
        }

    def _end_face(self, face_id: int, t_ms: float, result: FrameResult) -> None:
        for spot in self.spotter.close_face(face_id, t_ms):
            step = self.episodes.on_spot(spot, np.zeros(len(AU_NAMES), np.float32), t_ms)
            if step is not None:
                result.steps.append(step)
        result.steps += self.cabin.forget(face_id, t_ms)
        self.au.forget(face_id)
        self.classifier.forget(face_id)
        if self.flow_au is not None:
            self.flow_au.forget(face_id)

    def expire(self, t_ms: float) -> list[Step]:
        """No frame until ``t_ms`` on the capture clock (a camera outage, a frozen stream):
        faces unseen for ``tracker.max_lost_ms`` are gone as when they leave the picture, and
        their open episodes end where they were last seen."""
        result = FrameResult(frame_index=-1, t_ms=t_ms)
        for face_id in self.tracker.expire(t_ms):
            self._end_face(face_id, t_ms, result)
        return result.steps

    def finish(self, t_ms: float | None = None) -> list[Step]:
        """End of stream: close every open episode and forget every face."""
        t = self._last_t if t_ms is None else t_ms
        result = FrameResult(frame_index=-1, t_ms=t)
        for face_id in self.tracker.flush():
            self._end_face(face_id, t, result)
        return result.steps

    def new_stream(self) -> list[Step]:
        """Between inputs: end the previous stream's faces and restart the clock."""
        steps = self.finish()
        self.tracker = FaceTracker(self.config.tracker)  # face ids count from 0 per input
        if self.flow is not None:
            self.flow.reset()
        if self.pool is not None:
            self.pool.new_stream()
        elif hasattr(self.landmarker, "new_stream"):
            self.landmarker.new_stream()
        return steps

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        elif hasattr(self.landmarker, "close"):
            self.landmarker.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
