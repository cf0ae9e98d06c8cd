"""A face landmarked in its own square crop of the full-resolution frame, mapped back.

A face 40 px wide in a 1000 px frame is 26 px wide once the frame is scaled to the
landmarker's 640: too small for its short-range detector. Cut from the full-resolution frame
a square about 2.5 face widths on a side around it and scaled to ``CROP_PX``, the same face
fills the crop, and the landmarker finds and meshes it as it does a near face.

Mapping back to the frame:

- x, y: the crop is a square window (origin, side) of frame pixels, so
  ``x_frame = (x0 + x_crop * side) / W``, likewise y; z is in units of the crop's width and
  becomes ``z_crop * side / W``, the frame's width units the rest of the pipeline uses.
- The facial transformation matrix: MediaPipe computes it for a pinhole camera with a 63 deg
  vertical field of view over whatever image it is given, optical axis at the image centre.
  For a crop that is a much longer lens pointed straight at the face. Its rotation is
  therefore the head's rotation as seen along the line of sight, which is what frontalizing
  the landmarks needs (the landmark mesh itself is "as seen": the same face gets the same
  mesh wherever it sits in the frame). It is kept as is. The translation is re-expressed in
  the frame's camera (same field of view over the frame's height): the face's projected
  centre is mapped from crop to frame pixels and its depth scaled by the ratio of the two
  focal lengths, so ``pose_T`` is comparable with faces landmarked on the whole frame.
  (MediaPipe's own rotation for an off-centre face in the whole frame mixes in about a
  quarter of the viewing angle, which frontalization then leaves in; see docs/faces.md.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from microemo.config import LandmarkerConfig
from microemo.types import BLENDSHAPE_NAMES, FaceObservation
from microemo.vision.geometry import CHEEK_L, CHEEK_R

CROP_PX = 256  # side of the square the landmarker sees
CROP_SCALE = 2.5  # crop side in face widths (cheek to cheek)
_TAN_HALF_FOV = math.tan(math.radians(63.0) / 2)  # MediaPipe's default environment


@dataclass(frozen=True)
class CropWindow:
    """A square of the frame, in frame pixels; it may reach past the frame's edges."""

    x0: float
    y0: float
    side: float

    @classmethod
    def around(cls, cx: float, cy: float, face_w: float) -> CropWindow:
        side = max(CROP_SCALE * face_w, 32.0)
        return cls(cx - side / 2, cy - side / 2, side)

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The window's pixels at ``CROP_PX``; outside the frame is edge-replicated."""
        s = CROP_PX / self.side
        m = np.array([[s, 0, -self.x0 * s], [0, s, -self.y0 * s]], np.float32)
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        return cv2.warpAffine(
            image, m, (CROP_PX, CROP_PX), flags=interp, borderMode=cv2.BORDER_REPLICATE
        )

    def to_frame(self, pts: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
        """Crop-normalised (x, y, z) landmarks -> frame-normalised."""
        out = np.empty_like(pts)
        out[:, 0] = (self.x0 + pts[:, 0] * self.side) / frame_w
        out[:, 1] = (self.y0 + pts[:, 1] * self.side) / frame_h
        out[:, 2] = pts[:, 2] * self.side / frame_w
        return out

    def pose_to_frame(self, m: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
        """The crop camera's facial transformation matrix in the frame's camera (module doc).

        MediaPipe's metric space: x right, y up, the camera looks down -z, units cm."""
        f_crop = (self.side / 2) / _TAN_HALF_FOV  # both focal lengths in frame pixels
        f_frame = (frame_h / 2) / _TAN_HALF_FOV
        x, y, z = (float(v) for v in m[:3, 3])
        depth = max(-z, 1e-6)
        u = self.x0 + self.side / 2 + f_crop * x / depth
        v = self.y0 + self.side / 2 - f_crop * y / depth
        depth_f = depth * f_frame / f_crop
        out = np.array(m, dtype=np.float32, copy=True)
        out[:3, 3] = (
            (u - frame_w / 2) * depth_f / f_frame,
            -(v - frame_h / 2) * depth_f / f_frame,
            -depth_f,
        )
        return out


def observations(result: object, image_size: tuple[int, int]) -> list[FaceObservation]:
    """A MediaPipe FaceLandmarkerResult as FaceObservations in the image's own coordinates."""
    faces = []
    blendshapes = getattr(result, "face_blendshapes", None) or []
    matrices = getattr(result, "facial_transformation_matrixes", None) or []
    for i, lms in enumerate(getattr(result, "face_landmarks", [])):
        pts = np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32)
        bs = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32)
        if i < len(blendshapes):
            for j, c in enumerate(blendshapes[i][: len(BLENDSHAPE_NAMES)]):
                bs[j] = c.score
        pose = np.eye(4, dtype=np.float32)
        if i < len(matrices):
            pose = np.asarray(matrices[i], dtype=np.float32)
        faces.append(FaceObservation(pts, bs, pose, image_size))
    return faces


Box = tuple[float, float, float]  # centre x, y and cheek-to-cheek width, frame pixels
SAME_FACE = 0.6  # centres closer than this many face widths are one face


def face_box(obs: FaceObservation, frame_w: int, frame_h: int) -> Box:
    """Centre x, y and cheek-to-cheek width of a face, in frame pixels."""
    xy = obs.landmarks[:, :2] * np.array([frame_w, frame_h], np.float32)
    cx, cy = (xy.min(0) + xy.max(0)) / 2
    width = float(np.linalg.norm(xy[CHEEK_L] - xy[CHEEK_R]))
    return float(cx), float(cy), max(width, 1.0)


def covered(box: Box, known: list[Box]) -> bool:
    """Whether ``box`` is one of the ``known`` faces (``SAME_FACE``)."""
    cx, cy, w = box
    return any(np.hypot(cx - k[0], cy - k[1]) < SAME_FACE * max(w, k[2]) for k in known)


class CropLandmarker:
    """MediaPipe's FaceLandmarker in IMAGE mode, one crop at a time (no state between calls).

    IMAGE mode runs the landmarker's detector on every crop (a 128 px pass, cheap next to the
    mesh and blendshapes), so one instance serves every small face and a face that left its
    crop is simply not found there. Up to two faces are meshed per crop: in a crowd a
    neighbour's face can be in the crop too, and the caller keeps the one it expected.
    """

    def __init__(self, model: str, config: LandmarkerConfig) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=model),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=2,
            min_face_detection_confidence=config.min_detection_confidence,
            min_face_presence_confidence=config.min_presence_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._task = vision.FaceLandmarker.create_from_options(options)

    def detect(self, image: np.ndarray, window: CropWindow) -> list[FaceObservation]:
        """Faces in ``window`` of the BGR frame ``image``, in the crop's own coordinates."""
        crop = cv2.cvtColor(window.cut(image), cv2.COLOR_BGR2RGB)
        result = self._task.detect(
            self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop)
        )
        return observations(result, (CROP_PX, CROP_PX))

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()
