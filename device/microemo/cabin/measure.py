"""What the cabin stage reads off one face on one frame: each eye's lid aperture, the mouth,
the head's yaw and pitch, and where the eyes point in the head (the iris between the corners).

Everything comes from the normalizer's frontal, face-width points (``NormalizedFace.points``:
head pose removed, x to the subject's left, y up), so a lid aperture or an iris offset reads
the same whether the head is turned, dropped or near the camera, and from the landmarker's
pose for the head itself. About 15 us a face: one fancy index, then plain float arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from microemo.types import BLENDSHAPE_INDEX, NormalizedFace

# MediaPipe mesh indices. Each eye: outer corner, inner corner, three upper-lid points and
# the three lower-lid points below them, iris centre (subject's right eye first).
_RIGHT_EYE = (33, 133, 160, 159, 158, 144, 145, 153, 468)
_LEFT_EYE = (263, 362, 387, 386, 385, 373, 374, 380, 473)
_MOUTH = (13, 14)  # the inner upper and lower lip
_IDX = np.array(_RIGHT_EYE + _LEFT_EYE + _MOUTH)
_SMILE = [BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"]]
_BLINK_L, _BLINK_R = BLENDSHAPE_INDEX["eyeBlinkLeft"], BLENDSHAPE_INDEX["eyeBlinkRight"]

# The iris moves about 0.4 eye widths per radian of eye rotation near straight ahead (an
# eyeball of 12 mm radius in a 30 mm wide eye): sin(angle) = IRIS_GAIN * offset / eye width.
IRIS_GAIN = 2.5
NEAR_EYE_DEG = 15.0  # head yaw beyond which only the nearer eye's iris is read


@dataclass(slots=True)
class Reading:
    """One face on one frame. Apertures are lid gap / eye width (about 0.3 open, under 0.1
    closed); the mouth's inner-lip gap in face widths; angles in degrees, yaw + to the
    subject's left and pitch + up; ``iris_*`` the iris offset from the eye's centre in eye
    widths (eye-in-head, before the face's own neutral is taken off)."""

    aperture_l: float
    aperture_r: float
    blink_l: float  # the landmarker's eyeBlinkLeft / Right blendshapes (0-1)
    blink_r: float
    mouth_gap: float
    smile: float
    head_yaw: float
    head_pitch: float
    iris_x: float
    iris_y: float


def _eye(p: list[list[float]], k: int) -> tuple[float, float, float]:
    """Aperture and iris offset (x, y) of the eye whose points start at ``p[k]``."""
    (ox, oy), (ix, iy) = p[k], p[k + 1]
    width = max(math.hypot(ox - ix, oy - iy), 1e-6)
    gap = sum(math.hypot(p[k + j][0] - p[k + j + 3][0], p[k + j][1] - p[k + j + 3][1])
              for j in (2, 3, 4))  # fmt: skip
    cx, cy = (ox + ix) / 2, (oy + iy) / 2
    return gap / (3 * width), (p[k + 8][0] - cx) / width, (p[k + 8][1] - cy) / width


def read_face(face: NormalizedFace) -> Reading:
    p = face.points[_IDX, :2].tolist()
    ap_r, xr, yr = _eye(p, 0)
    ap_l, xl, yl = _eye(p, 9)
    uy, ly = p[18][1], p[19][1]
    pitch, yaw = float(face.pose_r_rad[0]), float(face.pose_r_rad[1])
    yaw_deg = math.degrees(yaw)
    # a head turned away shows one eye foreshortened: read the iris of the nearer eye
    if yaw_deg > NEAR_EYE_DEG:  # turned to its left: the right eye is nearer
        ix, iy = xr, yr
    elif yaw_deg < -NEAR_EYE_DEG:
        ix, iy = xl, yl
    else:
        ix, iy = (xr + xl) / 2, (yr + yl) / 2
    bs = face.obs.blendshapes
    return Reading(
        aperture_l=ap_l,
        aperture_r=ap_r,
        blink_l=float(bs[_BLINK_L]),
        blink_r=float(bs[_BLINK_R]),
        mouth_gap=max(uy - ly, 0.0),
        smile=float(bs[_SMILE[0]] + bs[_SMILE[1]]) / 2,
        # the landmarker's pose: yaw + when the face turns to the camera's left, which is
        # the subject's left; pitch + when the chin drops, so it is negated (+ up here)
        head_yaw=yaw_deg,
        head_pitch=-math.degrees(pitch),
        iris_x=ix,
        iris_y=iy,
    )


def iris_angle(offset: float) -> float:
    """Eye-in-head rotation in degrees for an iris offset in eye widths."""
    return math.degrees(math.asin(max(-1.0, min(1.0, IRIS_GAIN * offset))))
