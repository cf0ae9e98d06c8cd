"""The aligned grey face crop an appearance model reads: the face as the camera saw it, cut
out with the landmarks, upright and at one scale.

A similarity transform (rotation, uniform scale, shift: no shear, so a face keeps its shape)
maps a few rigid landmarks (eye corners, nose bridge and tip, the face's sides, the forehead:
points an expression barely moves) onto a template, fitted in the least-squares sense. The
crop is then the template's square, in grey. The template of the shipped model is the
average FER2013 face (48 px, eyes 16 px apart, level at y = 18.2), so a camera face is
framed as the faces the model learnt from; a model records its own template in its
manifest (``CropSpec``), and the device cuts what that model was trained on.

A model may read the face through more than one view (``CropView``): the template moved by
a pixel or two, or scaled about its centre, so a landmark fix that is a little off does not
decide the reading alone. The views share the fitted transform (a similarity of the
template is a similarity of the fit), so each costs one more cut (``warpAffine`` of the
region it covers).

Cost: one 2x2 SVD and one ``warpAffine`` of a small region a view (a face far larger than the
crop is first shrunk by area averaging, as a camera of that resolution would have seen it,
so detail does not alias). About 0.05 ms a face here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# eye corners (33, 133 | 362, 263), nose bridge and tip (168, 6, 1, 4), the face's sides at
# the cheeks (234, 454), the forehead (10): what an expression moves least
CROP_POINTS: tuple[int, ...] = (33, 133, 362, 263, 168, 6, 1, 4, 234, 454, 10)
# where they sit in the 48 px crop: the FER2013 faces' Procrustes mean, made symmetric
CROP_TEMPLATE: tuple[tuple[float, float], ...] = (
    (12.60, 18.24),
    (19.40, 18.76),
    (28.60, 18.76),
    (35.40, 18.24),
    (24.00, 17.69),
    (24.00, 19.87),
    (24.00, 28.46),
    (24.00, 26.98),
    (6.43, 21.46),
    (41.57, 21.46),
    (24.00, 5.67),
)
_SHRINK_BELOW = 0.7  # a warp that shrinks more than this is preceded by area averaging


@dataclass(frozen=True)
class CropSpec:
    """What a model's crop is: its side in pixels and where the template points go."""

    size: int = 48
    points: tuple[int, ...] = CROP_POINTS
    template: tuple[tuple[float, float], ...] = CROP_TEMPLATE

    def __post_init__(self) -> None:
        if len(self.points) != len(self.template) or len(self.points) < 2:
            raise ValueError(
                f"crop spec: {len(self.points)} points but {len(self.template)} template "
                "positions (they pair up, at least 2)"
            )

    @property
    def target(self) -> np.ndarray:
        return np.asarray(self.template, np.float64)


@dataclass(frozen=True)
class CropView:
    """One look at the face: the template moved by ``dx``, ``dy`` crop pixels and scaled by
    ``scale`` about its centre (``CropView()`` is the template itself)."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0

    def apply(self, m: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """``m`` (frame -> crop) followed by this view's move in the crop."""
        out = m * self.scale
        out[:, 2] += (1.0 - self.scale) * centre + (self.dx, self.dy)
        return out


CENTRED = (CropView(),)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform taking ``src`` points nearest to ``dst`` (Umeyama 1991,
    no reflection)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.array([1.0, 1.0 if np.linalg.det(u @ vt) > 0 else -1.0])
    rot = u @ np.diag(d) @ vt
    scale = float((sv * d).sum() / max((a**2).sum(), 1e-12))
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - m[:, :2] @ ms
    return m


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def aligned_crop(image: np.ndarray, landmarks: np.ndarray, spec: CropSpec) -> np.ndarray:
    """The face's ``spec.size`` square grey crop (uint8). ``image``: the frame (BGR or grey)
    the landmarks were found in, at any resolution; ``landmarks``: (478, >=2) with x, y in
    0-1 of the frame's width and height. Outside the frame the edge pixels are repeated."""
    return aligned_crops(image, landmarks, spec)[0]


def aligned_crops(
    image: np.ndarray,
    landmarks: np.ndarray,
    spec: CropSpec,
    views: tuple[CropView, ...] = CENTRED,
) -> np.ndarray:
    """The face's crops through ``views``: (len(views), size, size) uint8, each cut as
    ``aligned_crop`` cuts one with the view's template (the fit is shared)."""
    h, w = image.shape[:2]
    src = landmarks[list(spec.points), :2].astype(np.float64) * (w, h)
    fit = similarity(src, spec.target)
    centre = spec.target.mean(axis=0)
    return np.stack([_cut(image, v.apply(fit, centre), spec.size) for v in views])


def _cut(image: np.ndarray, m: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` px square ``m`` (frame -> crop) takes from ``image``."""
    h, w = image.shape[:2]
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    # the part of the frame the crop covers (its corners mapped back), with a margin
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [n, 0, 1], [0, n, 1], [n, n, 1]], np.float64) @ inv.T
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)) - 2, 0).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    x1, y1 = min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:  # the face lies outside the frame: nothing to cut
        return np.zeros((n, n), np.uint8)
    roi = _grey(image[y0:y1, x0:x1])
    fx = fy = 1.0
    if scale < _SHRINK_BELOW:  # average the face down first, as a smaller camera would
        f = scale / _SHRINK_BELOW
        size = (max(2, round(roi.shape[1] * f)), max(2, round(roi.shape[0] * f)))
        roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
        fx, fy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    # crop = m @ frame point, frame point = roi point / (fx, fy) + (x0, y0)
    m_roi = np.empty((2, 3))
    m_roi[:, :2] = m[:, :2] / (fx, fy)
    m_roi[:, 2] = m[:, :2] @ np.array([x0, y0], np.float64) + m[:, 2]
    return cv2.warpAffine(
        roi, m_roi, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
