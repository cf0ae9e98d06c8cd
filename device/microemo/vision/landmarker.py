"""MediaPipe Tasks FaceLandmarker in VIDEO mode: 478 landmarks, 52 blendshapes, head pose.

The only stage that touches pixels. It needs strictly increasing integer millisecond
timestamps; a source clock that repeats or runs backwards (a looped file, a camera
restart) is nudged forward rather than crashing the task.

In VIDEO mode MediaPipe tracks each face from the previous frame's landmarks and runs its
face detector (BlazeFace short-range, on the whole frame at 128x128) only while it holds
fewer than ``num_faces`` faces. That detector misses faces narrower than about a tenth of the
frame; with ``small_faces`` on, ``vision.small_faces`` finds and landmarks those too.

A single picture in which that pass finds no face gets a second look (``SecondLook``): the
detector misses some faces that fill the picture (a passport-style crop, a data set's
aligned face), and finds many of them once the picture is framed in a border.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from microemo.assets import LANDMARKER, find_asset
from microemo.config import LandmarkerConfig
from microemo.types import FaceObservation, Frame
from microemo.vision.crops import Box, CropWindow, covered, face_box, observations
from microemo.vision.mirror import unmirror

if TYPE_CHECKING:
    from microemo.vision.small_faces import SmallFaces

logger = logging.getLogger(__name__)

SECOND_LOOK_BORDER = 0.2  # of the picture's longer side, black, on each side


def largest(faces: list[FaceObservation]) -> FaceObservation | None:
    """The widest face of ``faces`` (a data set's still or frame shows one person), or None."""
    if not faces:
        return None
    return max(faces, key=lambda f: float(np.ptp(f.landmarks[:, 0])))


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
        self.second = SecondLook(self.model_path, config)
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
        if not faces and frame.still:
            faces = self.second.detect(image)
        return faces

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()
        self.second.close()
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
        self.second = SecondLook(Path(model), config)

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
        return observations(result, (w, h)) or self.second.detect(image)

    def close(self) -> None:
        self._task.close()
        self.second.close()


def _as_found(face: FaceObservation) -> FaceObservation:
    return face


class SecondLook:
    """A picture in which the landmarker found no face, looked at once more: centred in a
    black square a fifth of its longer side wider on each side, with ``still_second_look`` as
    the detector's and the presence score. The faces found are mapped back to the picture
    (``crops.CropWindow``: landmarks, and the head pose in the picture's camera).

    BlazeFace misses faces that fill the picture, are cut by its edge, turned or half hidden;
    of 160 FER2013 fusion-part stills (aligned 48 px faces, padded as the data set's README
    says) where the first pass found none, the second look finds 66 and the device reads 30
    of them right (docs/real-faces.md). Only single pictures get it: on a camera a frame with
    no face is the common case and is not looked at twice. The IMAGE-mode task is built on
    the first second look (about 80 ms).

    Where the bordered square shows no face either, it is looked at turned by each of
    ``still_tilts_deg`` in turn until one shows it (the detector is trained on upright
    faces and misses heads tilted in a photo); the face is turned back (``_look``). On the
    FER2013 fusion part's 103 stills neither look found, the turns found 40 and the device
    read 25 of them right (docs/real-faces.md). Where none of those shows it, the bordered
    square's mirror image is looked at, upright and at each turn (``still_mirror_look``: the
    detector is not symmetric, and a face it misses one way round it may find the other), and
    the face put back on its own sides (``mirror.unmirror``); of the 58 fusion-part stills no
    other look found, it found 19 and the device read 10 right. A few detector passes, only
    for a picture in which no face has been found."""

    def __init__(self, model: Path, config: LandmarkerConfig) -> None:
        self.model = model
        self.config = config
        self._task: Any = None

    def detect(self, image: np.ndarray) -> list[FaceObservation]:
        """Faces in the BGR ``image``, in its own coordinates (none when turned off)."""
        score = self.config.still_second_look
        if score <= 0:
            return []
        if self._task is None:
            from mediapipe.tasks.python import vision

            options = _options(self.config, self.model, video=False)
            options.min_face_detection_confidence = score
            options.min_face_presence_confidence = score
            self._task = vision.FaceLandmarker.create_from_options(options)
        h, w = image.shape[:2]
        side = round(max(w, h) * (1 + 2 * SECOND_LOOK_BORDER))
        x0, y0 = (side - w) // 2, (side - h) // 2
        square = cv2.copyMakeBorder(
            image, y0, side - h - y0, x0, side - w - x0, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
        turns = [0.0, *self.config.still_tilts_deg]
        looks: list[tuple[np.ndarray, Callable[[FaceObservation], FaceObservation], float]]
        looks = [(square, _as_found, angle) for angle in turns]
        if self.config.still_mirror_look:
            flipped = cv2.flip(square, 1)  # once, for every turn
            looks += [(flipped, unmirror, angle) for angle in turns]
        found: list[FaceObservation] = []
        for picture, put_back, angle in looks:
            found = [put_back(f) for f in self._look(picture, angle)]
            if found:
                break
        window = CropWindow(-x0, -y0, side)
        faces: list[FaceObservation] = []
        boxes: list[Box] = []
        for f in found:
            face = FaceObservation(
                window.to_frame(f.landmarks, w, h),
                f.blendshapes,
                window.pose_to_frame(f.pose, w, h),
                (w, h),
            )
            box = face_box(face, w, h)
            if covered(box, boxes):  # at the lower score a face cut by the edge is found twice
                continue
            faces.append(face)
            boxes.append(box)
        return faces

    def _look(self, square: np.ndarray, angle: float) -> list[FaceObservation]:
        """Faces in ``square`` turned ``angle`` degrees counter-clockwise about its centre,
        turned back: landmarks (normalised to the square) and head pose as if found upright
        (a turn about the picture's centre is a roll about the camera's axis)."""
        import mediapipe as mp

        side = square.shape[0]
        turn = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        if angle:
            square = cv2.warpAffine(square, turn, (side, side), borderValue=(0, 0, 0))
        rgb = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)
        result = self._task.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        faces = observations(result, (side, side))
        if not angle:
            return faces
        back = cv2.invertAffineTransform(turn)
        a = math.radians(angle)
        roll_back = np.eye(4, dtype=np.float32)  # about the camera's z, towards the viewer
        roll_back[:2, :2] = [[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]
        for f in faces:
            xy = f.landmarks[:, :2] * side
            f.landmarks[:, :2] = (xy @ back[:, :2].T + back[:, 2]) / side
            f.pose = roll_back @ f.pose
        return faces

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()
