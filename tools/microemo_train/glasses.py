"""Eyeglasses drawn on the face in a picture (``emotion-bench --camera glasses[=TINT]``,
``facs-bench --degrade glasses[=TINT]``): a cabin camera sees drivers in glasses and
sunglasses, and no development set holds them.

The face is found by the device's still landmarker; on it go two lenses (ellipses over the
eyes, 1.8 eye widths across and 1.3 high, along the line of the eyes), their dark rims, the
bridge over the nose and the temples out to the sides of the face. ``TINT`` is how much light
the lenses stop: 0 clear glasses (only the frames show), about 0.85 sunglasses, 1 opaque. A
picture in which no face is found is left as it is (the benchmark's clean run has no face
there either). What this leaves out: a real lens's reflections and refraction, a frame's
shadow, and glasses a face already wears.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from microemo.vision.landmarker import StillLandmarker

logger = logging.getLogger(__name__)

# (outer corner, inner corner, upper lid, lower lid) of each eye; the subject's right first
EYES: tuple[tuple[int, int, int, int], ...] = ((33, 133, 159, 145), (263, 362, 386, 374))
FACE_SIDES: tuple[int, int] = (234, 454)  # where the temples go
LENS_WIDTH, LENS_HEIGHT = 1.8, 1.3  # in eye widths (corner to corner)
RIM = 0.12  # rim thickness, in eye widths
FRAME_BGR = (24, 24, 24)


@cache
def _landmarker() -> StillLandmarker:
    from microemo.config import LandmarkerConfig
    from microemo.vision.landmarker import StillLandmarker

    return StillLandmarker(LandmarkerConfig())


def face_points(image: np.ndarray) -> np.ndarray | None:
    """The largest face's landmarks in ``image``'s pixels (x, y), or None."""
    from microemo.vision.landmarker import largest

    face = largest(
        _landmarker().detect(image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    )
    if face is None:
        return None
    h, w = image.shape[:2]
    return face.landmarks[:, :2] * np.array([w, h], np.float32)


def draw(image: np.ndarray, points: np.ndarray, tint: float, lens: float = 1.0) -> np.ndarray:
    """``image`` with glasses on the face whose landmarks (pixels) are ``points``; ``lens``
    scales the lenses (1: 1.8 x 1.3 eye widths)."""
    out = image.copy()
    lenses = []  # per eye: its middle, width, the angle of its line, the lens's half axes
    for outer, inner, upper, lower in EYES:
        axis = points[inner] - points[outer]
        eye = float(np.linalg.norm(axis))
        half = (LENS_WIDTH * lens * eye / 2, LENS_HEIGHT * lens * eye / 2)
        angle = math.degrees(math.atan2(float(axis[1]), float(axis[0])))
        lenses.append((points[[outer, inner, upper, lower]].mean(0), eye, angle, half))
    thick = max(1, round(RIM * float(np.mean([eye for _, eye, _, _ in lenses]))))
    colour: Sequence[float] | float = FRAME_BGR[0] if image.ndim == 2 else FRAME_BGR
    mask = np.zeros(image.shape[:2], np.uint8)
    for centre, _, angle, half in lenses:
        _ellipse(mask, centre, half, angle, 255, -1)
    if tint > 0:
        keep = 1.0 - tint * (mask.astype(np.float32) / 255.0)
        out = np.rint(out * (keep if image.ndim == 2 else keep[..., None])).astype(np.uint8)
    for (centre, _, angle, half), side in zip(lenses, FACE_SIDES):
        _ellipse(out, centre, half, angle, colour, thick)
        # the temple: from the lens's outer edge along the line of the eyes, as far out as
        # the side of the face
        along = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
        reach = float((points[side] - centre) @ along)
        _line(out, centre + math.copysign(half[0], reach) * along, centre + reach * along,
              colour, thick)  # fmt: skip
    # the bridge: between the lenses' inner edges, across the nose
    (c0, _, _, h0), (c1, _, _, h1) = lenses
    d = (c1 - c0) / max(float(np.linalg.norm(c1 - c0)), 1e-6)
    _line(out, c0 + d * h0[0], c1 - d * h1[0], colour, thick)
    return out


_SHIFT = 4  # cv2's fractional bits: sub-pixel geometry
_ONE = 1 << _SHIFT


def _ellipse(
    image: np.ndarray,
    centre: np.ndarray,
    half: tuple[float, float],
    angle: float,
    colour: Sequence[float] | float,
    thick: int,
) -> None:
    c = tuple(int(v) for v in np.rint(centre * _ONE))
    axes = (round(half[0] * _ONE), round(half[1] * _ONE))
    cv2.ellipse(image, c, axes, angle, 0, 360, colour, thick, cv2.LINE_AA, _SHIFT)


def _line(
    image: np.ndarray, a: np.ndarray, b: np.ndarray, colour: Sequence[float] | float, thick: int
) -> None:
    pa = tuple(int(v) for v in np.rint(a * _ONE))
    pb = tuple(int(v) for v in np.rint(b * _ONE))
    cv2.line(image, pa, pb, colour, thick, cv2.LINE_AA, _SHIFT)


def wear(image: np.ndarray, tint: float) -> np.ndarray:
    """``image`` with glasses of ``tint`` on its largest face (as it is when none is found)."""
    points = face_points(image)
    if points is None:
        logger.info("glasses: no face found in a %dx%d picture: left as it is", *image.shape[1::-1])
        return image
    return draw(image, points, tint)


def template_points(ids: tuple[int, ...], template: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Landmarks (478, 2) for ``draw`` on an aligned face crop: the template's points where it
    puts them (``vision.face_crop``: the eye corners and the face's sides among them), each
    eye's lids at the middle of its corners (the lenses need only the eyes' middle, width and
    line)."""
    points = np.zeros((478, 2), np.float32)
    for i, xy in zip(ids, template, strict=True):
        points[i] = xy
    for outer, inner, upper, lower in EYES:
        points[[upper, lower]] = points[[outer, inner]].mean(0)
    return points
