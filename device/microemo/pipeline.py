"""The pipeline: one frame in, every face's AUs, emotions and episode steps out.

landmarker -> tracker -> normalizer -> AU estimator -> windows/classifier -> spotter ->
episodes. The daemon, ``microemo analyze`` and the training tool's extraction all drive
this one object, so the features a model is trained on are the features the device computes.
It goes down the layers once (vision, then emotion) and returns typed steps; whoever drives
it turns them into event payloads (``publish.events.EventBuilder``) and sends them on.
Everything runs in the calling thread; ``stage_ms`` says where the time went.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from microemo.config import Config
from microemo.emotion.classify import EmotionClassifier
from microemo.emotion.episodes import EpisodeManager
from microemo.emotion.spotting import Spotter
from microemo.model.bundle import Bundle
from microemo.types import AU_NAMES, AUFrame, EpisodeStep, FaceObservation, Frame, FrameResult
from microemo.vision.au import AUEstimator
from microemo.vision.features import frame_vector
from microemo.vision.flow import FlowAU, FlowMeter
from microemo.vision.geometry import Normalizer
from microemo.vision.tracker import FaceTracker

logger = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        config: Config,
        *,
        bundle: Bundle | None = None,
        landmarker: Any = None,
    ) -> None:
        self.config = config
        if landmarker is None:
            from microemo.vision.landmarker import Landmarker

            landmarker = Landmarker(config.landmarker)
        self.landmarker = landmarker
        self.tracker = FaceTracker(config.tracker)
        self.normalizer = Normalizer()
        self.au = AUEstimator(config.au)
        self.classifier = EmotionClassifier(bundle)
        self.spotter = Spotter(config.spotting)
        sp = config.spotting
        self.flow = FlowMeter() if sp.flow else None
        self.flow_au = FlowAU(sp.flow_tau_ms, sp.flow_full) if sp.flow else None
        self.episodes = EpisodeManager(config.device.id, self.classifier)
        self._last_t = 0.0

    @property
    def model_info(self) -> dict[str, Any]:
        return self.classifier.model_info

    def swap_model(self, bundle: Bundle | None) -> None:
        """Thread-safe: the new model classifies from the next window on."""
        self.classifier.swap_model(bundle)

    def process(self, frame: Frame) -> FrameResult:
        stage_ms: dict[str, float] = {}
        faces = self.observe(frame, stage_ms)
        result = self.process_faces(faces, frame.t_ms, frame.index)
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
        t1 = time.monotonic()
        if self.flow is not None:
            self.flow.measure(frame.image, faces)
        if stage_ms is not None:
            stage_ms["landmarker"] = (t1 - t0) * 1000.0
            stage_ms["flow"] = (time.monotonic() - t1) * 1000.0
        return faces

    def process_faces(
        self, faces: list[FaceObservation], t_ms: float, index: int = 0
    ) -> FrameResult:
        """Everything after the landmarker (used directly on recorded landmarks)."""
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
            self._emotions(au, result)
        t3 = time.monotonic()
        result.stage_ms.update(
            track=(t1 - t0) * 1000.0, aus=(t2 - t1) * 1000.0, emotion=(t3 - t2) * 1000.0
        )
        return result

    def _face(self, tf: Any, t_ms: float) -> AUFrame:
        norm = self.normalizer(tf)
        au = self.au(norm, t_ms)
        au.features = frame_vector(au, self.au.geometry_deviation(norm))
        if self.flow_au is not None:
            au.motion = self.flow_au(tf.face_id, tf.obs, t_ms)
        return au

    def _emotions(self, au: AUFrame, result: FrameResult) -> None:
        if self.classifier.push(au.face_id, au.t_ms, au.features):
            self.episodes.model = self.classifier.model_info
        self.episodes.observe(au.face_id, au.intensity)
        for spot in self.spotter.update(au):
            step = self.episodes.on_spot(spot, au.intensity, au.t_ms)
            if step is not None:
                result.steps.append(step)
        cls = self.classifier.classify(au.face_id, au.intensity)
        result.emotions[au.face_id] = {
            "core": cls.core,
            "core_score": round(cls.core_score, 3),
            "core_source": cls.core_source,
            "micro": cls.micro,
            "micro_rule": cls.micro_rule,
            "aus": {n: round(float(v), 2) for n, v in zip(AU_NAMES, au.intensity.tolist())},
        }

    def _end_face(self, face_id: int, t_ms: float, result: FrameResult) -> None:
        for spot in self.spotter.close_face(face_id, t_ms):
            step = self.episodes.on_spot(spot, np.zeros(len(AU_NAMES), np.float32), t_ms)
            if step is not None:
                result.steps.append(step)
        self.au.forget(face_id)
        self.classifier.forget(face_id)
        if self.flow_au is not None:
            self.flow_au.forget(face_id)

    def expire(self, t_ms: float) -> list[EpisodeStep]:
        """No frame until ``t_ms`` on the capture clock (a camera outage, a frozen stream):
        faces unseen for ``tracker.max_lost_ms`` are gone as when they leave the picture, and
        their open episodes end where they were last seen."""
        result = FrameResult(frame_index=-1, t_ms=t_ms)
        for face_id in self.tracker.expire(t_ms):
            self._end_face(face_id, t_ms, result)
        return result.steps

    def finish(self, t_ms: float | None = None) -> list[EpisodeStep]:
        """End of stream: close every open episode and forget every face."""
        t = self._last_t if t_ms is None else t_ms
        result = FrameResult(frame_index=-1, t_ms=t)
        for face_id in self.tracker.flush():
            self._end_face(face_id, t, result)
        return result.steps

    def new_stream(self) -> list[EpisodeStep]:
        """Between inputs: end the previous stream's faces and restart the clock."""
        steps = self.finish()
        self.tracker = FaceTracker(self.config.tracker)  # face ids count from 0 per input
        if self.flow is not None:
            self.flow.reset()
        if hasattr(self.landmarker, "new_stream"):
            self.landmarker.new_stream()
        return steps

    def close(self) -> None:
        if hasattr(self.landmarker, "close"):
            self.landmarker.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
