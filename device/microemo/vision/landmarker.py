"""MediaPipe Tasks FaceLandmarker in VIDEO mode: 478 landmarks, 52 blendshapes, head pose.

The only stage that touches pixels. It needs strictly increasing integer millisecond
timestamps; a source clock that repeats or runs backwards (a looped file, a camera
restart) is nudged forward rather than crashing the task.

In VIDEO mode MediaPipe tracks each face from the previous frame's landmarks and runs its
face detector (BlazeFace short-range, on the whole frame at 128x128) only while it holds
fewer than ``num_faces`` faces. That detector misses faces narrower than about a tenth of the
frame; with ``small_faces`` on, ``vision.small_faces`` finds and landmarks those too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from microemo.assets import LANDMARKER, find_asset
from microemo.config import LandmarkerConfig
from microemo.types import FaceObservation, Frame
from microemo.vision.crops import observations

if TYPE_CHECKING:
    from microemo.vision.small_faces import SmallFaces

logger = logging.getLogger(__name__)


def _options(config: LandmarkerConfig, model: Path, video: bool = True) -> Any:
    from mediapipe.tasks.python import BaseOptions, vision

    mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
    return vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)),
        running_mode=mode,
        num_faces=config.num_faces,
        min_face_detection_confidence=config.min_detection_confidence,
        min_face_presence_confidence=config.min_presence_confidence,
        min_tracking_confidence=config.min_tracking_confidence,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )


class Landmarker:
    def __init__(self, config: LandmarkerConfig) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import vision

        self._mp = mp
        self.config = config
        model = find_asset(LANDMARKER, config.model_path)
        options = _options(config, model)
        self._options = options
        self._task = vision.FaceLandmarker.create_from_options(options)
        self._last_ts = -1
        self.model_path = Path(model)
        self.small: SmallFaces | None = None
        if config.small_faces:
            from microemo.vision.small_faces import SmallFaces

            self.small = SmallFaces(self.model_path, config)

    def new_stream(self) -> None:
        """Call between inputs: a fresh VIDEO-mode task (about 25 ms), so the next input is
        read as if alone. MediaPipe tracks a face from the previous frame's landmarks; carried
        over into another clip, that track can hold a face in the wrong place and lose it
        (a CK+ sequence analysed after another lost its face in 10 of 12 frames)."""
        from mediapipe.tasks.python import vision

        if self._task is not None:
            self._task.close()
        self._task = vision.FaceLandmarker.create_from_options(self._options)
        self._last_ts = -1
        if self.small is not None:
            self.small.new_stream()

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
        ts = max(round(frame.t_ms), self._last_ts + 1)
        self._last_ts = ts
        result = self._task.detect_for_video(
            self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb), ts
        )
        faces = observations(result, (w, h))
        if self.small is not None:
            faces += self.small.detect(frame.image, ts, faces, (w, h))
        return faces

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()
        small, self.small = self.small, None
        if small is not None:
            small.close()

    def __enter__(self) -> Landmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StillLandmarker:
    """The same landmarker for unrelated pictures (a data set of stills): IMAGE mode, which
    gives exactly the observations of a VIDEO-mode stream's first frame (what ``microemo
    analyze`` reads from a picture) without building a new stream per picture (about 80 ms).
    Whole-frame only: no tiled search for small faces."""

    def __init__(self, config: LandmarkerConfig) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import vision

        self._mp = mp
        self.config = config
        model = find_asset(LANDMARKER, config.model_path)
        self._task = vision.FaceLandmarker.create_from_options(_options(config, model, False))

    def detect(self, image: np.ndarray) -> list[FaceObservation]:
        h, w = image.shape[:2]
        if w > self.config.max_width:
            scale = self.config.max_width / w
            image = cv2.resize(
                image, (self.config.max_width, round(h * scale)), interpolation=cv2.INTER_AREA
            )
            h, w = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        result = self._task.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb))
        return observations(result, (w, h))

    def close(self) -> None:
        self._task.close()
