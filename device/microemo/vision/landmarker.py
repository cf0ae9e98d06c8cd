"""MediaPipe Tasks FaceLandmarker in VIDEO mode: 478 landmarks, 52 blendshapes, head pose.

The only stage that touches pixels. It needs strictly increasing integer millisecond
timestamps; a source clock that repeats or runs backwards (a looped file, a camera
restart) is nudged forward rather than crashing the task.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from microemo.assets import LANDMARKER, find_asset
from microemo.config import LandmarkerConfig
from microemo.types import BLENDSHAPE_NAMES, FaceObservation, Frame

logger = logging.getLogger(__name__)


class Landmarker:
    def __init__(self, config: LandmarkerConfig) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self.config = config
        model = find_asset(LANDMARKER, config.model_path)
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=config.num_faces,
            min_face_detection_confidence=config.min_detection_confidence,
            min_face_presence_confidence=config.min_presence_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._task = vision.FaceLandmarker.create_from_options(options)
        self._last_ts = -1
        self._offset = 0
        self.model_path = Path(model)

    def new_stream(self) -> None:
        """Call between inputs: the next stream's clock starts after this one's."""
        self._offset = self._last_ts + 1000

    def detect(self, frame: Frame) -> list[FaceObservation]:
        image = frame.image
        h, w = image.shape[:2]
        if w > self.config.max_width:
            scale = self.config.max_width / w
            image = cv2.resize(
                image, (self.config.max_width, round(h * scale)), interpolation=cv2.INTER_AREA
            )
            h, w = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        ts = max(self._offset + round(frame.t_ms), self._last_ts + 1)
        self._last_ts = ts
        result = self._task.detect_for_video(
            self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb), ts
        )
        faces = []
        for i, lms in enumerate(result.face_landmarks):
            pts = np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32)
            bs = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32)
            if result.face_blendshapes and i < len(result.face_blendshapes):
                for j, c in enumerate(result.face_blendshapes[i][: len(BLENDSHAPE_NAMES)]):
                    bs[j] = c.score
            pose = np.eye(4, dtype=np.float32)
            if result.facial_transformation_matrixes and i < len(
                result.facial_transformation_matrixes
            ):
                pose = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32)
            faces.append(FaceObservation(pts, bs, pose, (w, h)))
        return faces

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()

    def __enter__(self) -> Landmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
