"""Optical flow at the landmarks: the small, fast movements the landmarker smooths away.

MediaPipe's mesh is regularised: it follows a brow that is lowered by 3 % of the face width
about halfway, a nose wing or an upper lid that moves by 2 % hardly at all, because it
predicts a plausible face rather than tracking texture. A micro-expression is exactly such a
small, brief movement. So, for a few points per face (brows, upper lids, nose wings),
pyramidal Lucas-Kanade follows the image texture from the previous
frame to this one, seeded at the previous frame's landmarks.

Two stages, as everywhere in the pipeline:

- ``FlowMeter`` (measurement, before tracking): for each face of this frame, the pixel
  displacement of ``FLOW_POINTS`` since the previous frame, stored on
  ``FaceObservation.flow``. Faces are paired with the previous frame's by nearest nose bridge.
  Only a padded box around the faces is converted to grey and searched, so the cost follows
  the face size (about 0.3 ms per face at 480x360 on this 2-core x86 box), not the frame size.
- ``FlowAU`` (per face id, after tracking): displacements relative to the nose bridge (head
  translation out), in the face's own axes and face widths (scale and roll out), integrated
  with a leak (``flow_tau_ms``), so the state is "how far each point has moved in the last
  second or so"; directed and mapped to AU motion channels on the 0-5 scale
  (``flow_full`` face widths = 5). A held expression fades from these channels; the AU
  intensities keep it. The spotter uses both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from microemo.types import AU_INDEX, AU_NAMES, FLOW_AUS, FaceObservation
from microemo.vision.mouth import MOUTH_AUS, MOUTH_POINTS, Articulation, mesh_signals, mouth_step

_R_FACE, _L_FACE = 234, 454
_BRIDGE = (168, 6, 197)  # reference: moves with the head, not with expressions

# name -> (right, left) landmark ids (subject's right is image-left)
_PAIRS: dict[str, tuple[int, int]] = {
    "brow_inner": (107, 336),
    "brow_inner2": (55, 285),
    "brow_outer": (70, 300),
    "brow_outer2": (105, 334),
    "lid_upper": (159, 386),
    "nose_ala": (129, 358),
    "nose_ala2": (98, 327),
}
_UPPER = [i for pair in _PAIRS.values() for i in pair]
# brows, lids, nose wings; the mouth's points (vision.mouth); the bridge as reference
FLOW_POINTS: np.ndarray = np.array(_UPPER + list(MOUTH_POINTS) + list(_BRIDGE))
_N_MOVING = len(_UPPER)  # the rows _AU_MOTION reads
_MOUTH = slice(_N_MOVING, _N_MOVING + len(MOUTH_POINTS))
_INDEX = {int(p): k for k, p in enumerate(FLOW_POINTS)}


def _ids(*names: str) -> list[int]:
    return [_INDEX[i] for n in names for i in _PAIRS[n]]


# AU -> list of (point rows, axis "up"/"out", sign): the AU's motion is the mean directed
# displacement of its points ("out" is away from the face's midline). Upper face only: speech
# moves the lips, mouth corners and chin by 5-10 % of the face width several times a second,
# so there flow has no more to say than the landmarks (measured on the CREMA-D clips: a
# 3 %-wide mouth-corner warp against speech is 1-1.5 sigma either way), while brows, lids and
# nose wings stay still in speech and flow sees 40-80 % of a warp the mesh barely follows.
_AU_MOTION: dict[str, list[tuple[list[int], str, float]]] = {
    "AU01": [(_ids("brow_inner", "brow_inner2"), "up", 1.0)],
    "AU02": [(_ids("brow_outer", "brow_outer2"), "up", 1.0)],
    "AU04": [(_ids("brow_inner", "brow_inner2"), "up", -1.0), (_ids("brow_inner"), "out", -1.0)],
    "AU05": [(_ids("lid_upper"), "up", 1.0)],
    "AU09": [(_ids("nose_ala", "nose_ala2"), "up", 1.0)],
}
assert (*_AU_MOTION, *MOUTH_AUS) == FLOW_AUS, "types.FLOW_AUS names the AUs flow measures"
_LK_WIN = (15, 15)
_LK_LEVELS = 2
_LK_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)


def _lk(a: np.ndarray, b: np.ndarray, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p1, ok, _ = cv2.calcOpticalFlowPyrLK(
        a, b, p0, p0.copy(), winSize=_LK_WIN, maxLevel=_LK_LEVELS, criteria=_LK_STOP
    )
    return np.asarray(p1), np.asarray(ok)


@dataclass
class _Prev:
    grey: np.ndarray
    origin: tuple[int, int]  # top-left of the grey box in the frame
    faces: list[np.ndarray]  # pixel positions of FLOW_POINTS per face


class FlowMeter:
    """Stage: (frame image, this frame's faces) -> ``obs.flow`` set on each face."""

    def __init__(self, pad: float = 0.25) -> None:
        self.pad = pad
        self._prev: _Prev | None = None

    def reset(self) -> None:
        self._prev = None

    def measure(self, image: np.ndarray, faces: list[FaceObservation]) -> None:
        if not faces:
            self._prev = None
            return
        h, w = image.shape[:2]
        pts = [f.landmarks[FLOW_POINTS, :2] * np.array([w, h], np.float32) for f in faces]
        allp = np.concatenate(pts + (self._prev.faces if self._prev else []))
        lo, hi = allp.min(0), allp.max(0)
        size = float((hi - lo).sum()) / 2
        x0, y0 = np.maximum(lo - self.pad * size, 0).astype(int)
        x1, y1 = np.minimum(hi + self.pad * size, [w, h]).astype(int)
        if x1 - x0 < 32 or y1 - y0 < 32:  # faces (almost) outside the picture
            self._prev = None
            return
        crop = image[y0:y1, x0:x1]
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        prev, self._prev = self._prev, _Prev(grey, (x0, y0), pts)
        if prev is None:
            return
        for face, now in zip(faces, pts, strict=True):
            old = _nearest(prev.faces, now)
            if old is None:
                continue
            flow = _track(prev, grey, (x0, y0), old)
            # measured on the full-resolution frame; stored in pixels of the face's
            # image_size (the landmarker's input), the units FlowAU measures face widths in
            scale = face.image_size[0] / w
            face.flow = flow if flow is None or scale == 1.0 else flow * np.float32(scale)


def _nearest(candidates: list[np.ndarray], now: np.ndarray) -> np.ndarray | None:
    """The previous frame's face whose nose bridge is closest, if within half a face width."""
    if not candidates:
        return None
    here = now[-len(_BRIDGE) :].mean(0)
    width = float(np.linalg.norm(now[_INDEX[70]] - now[_INDEX[300]])) or 1.0
    d = [float(np.linalg.norm(c[-len(_BRIDGE) :].mean(0) - here)) for c in candidates]
    k = int(np.argmin(d))
    return candidates[k] if d[k] < 0.5 * width else None


def _track(
    prev: _Prev, grey: np.ndarray, origin: tuple[int, int], old: np.ndarray
) -> np.ndarray | None:
    """Displacement (pixels) of each point from the previous frame to this one, searched in
    the part of the picture both grey boxes cover (the box follows the faces)."""
    (ax, ay), (bx, by) = prev.origin, origin
    x0, y0 = max(ax, bx), max(ay, by)
    x1 = min(ax + prev.grey.shape[1], bx + grey.shape[1])
    y1 = min(ay + prev.grey.shape[0], by + grey.shape[0])
    if x1 - x0 < 32 or y1 - y0 < 32:
        return None
    a = prev.grey[y0 - ay : y1 - ay, x0 - ax : x1 - ax]
    b = grey[y0 - by : y1 - by, x0 - bx : x1 - bx]
    p0 = (old - np.array([x0, y0], np.float32)).astype(np.float32).reshape(-1, 1, 2)
    p1, ok = _lk(a, b, p0)
    d = (p1 - p0).reshape(-1, 2)
    d[ok.ravel() == 0] = np.nan
    return d.astype(np.float32)


class FlowAU:
    """Stage: per face id, ``obs.flow`` -> (len(AU_NAMES),) AU motion on the 0-5 scale."""

    def __init__(self, tau_ms: float, full: float, mouth_model_ms: float = 20_000.0) -> None:
        self.tau_ms = tau_ms
        self.full = full
        self.mouth_model_ms = mouth_model_ms
        self._state: dict[int, tuple[float, np.ndarray]] = {}  # id -> (t_ms, (n, 2) leaky sum)
        self._mouth: dict[int, Articulation] = {}  # id -> this face's articulation model

    def forget(self, face_id: int) -> None:
        self._state.pop(face_id, None)
        self._mouth.pop(face_id, None)

    def __call__(self, face_id: int, obs: FaceObservation, t_ms: float) -> np.ndarray:
        last = self._state.get(face_id)
        acc = last[1] if last is not None else np.zeros((_N_MOVING, 2), np.float32)
        if last is not None:
            acc = acc * np.float32(math.exp(-max(t_ms - last[0], 0.0) / self.tau_ms))
        step = _face_axes_step(obs)
        if step is not None:
            acc = acc + step
        self._state[face_id] = (t_ms, acc)
        mouth = self._mouth.get(face_id)
        if mouth is None:
            mouth = self._mouth[face_id] = Articulation(self.tau_ms, self.mouth_model_ms, self.full)
        d = obs.flow
        mstep = None if d is None else mouth_step(d[_MOUTH], obs.landmarks, obs.image_size)
        motion = _au_motion(acc, self.full)
        motion += mouth(mstep, mesh_signals(obs.landmarks, obs.image_size), t_ms)
        return motion


# landmark rows _face_axes_step reads: the cheeks, the bridge, the moving points
_AXES_ROWS = np.array([_L_FACE, _R_FACE, _BRIDGE[0], *FLOW_POINTS[:_N_MOVING]])


def _face_axes_step(obs: FaceObservation) -> np.ndarray | None:
    """This frame's displacements relative to the nose bridge, as (out, up) in face widths."""
    d = obs.flow
    if d is None or np.isnan(d[-len(_BRIDGE) :]).any():
        return None
    w, h = obs.image_size
    lm = obs.landmarks[_AXES_ROWS, :2] * np.array([w, h], np.float32)
    u = lm[0] - lm[1]
    fw = float(np.linalg.norm(u))
    if fw < 1.0:
        return None
    u = u / fw
    up = np.array([u[1], -u[0]], np.float32)  # image y grows downwards
    rel = np.nan_to_num(d[:_N_MOVING] - d[-len(_BRIDGE) :].mean(0), nan=0.0)
    side = np.sign((lm[3:] - lm[2]) @ u)  # +1 on the subject's left half
    out = side * (rel @ u)
    return (np.stack([out, rel @ up], 1) / fw).astype(np.float32)


_AXIS = {"out": 0, "up": 1}


def _motion_matrix() -> np.ndarray:
    """``_AU_MOTION`` as one matrix over the leaky sum (row-major: point k's "out" at 2k,
    "up" at 2k + 1): an AU's motion is the mean of its terms, each the signed mean of its
    points along one axis, so all AUs come out of one product."""
    m = np.zeros((len(AU_NAMES), _N_MOVING, 2))
    for au, terms in _AU_MOTION.items():
        for rows, axis, sign in terms:
            for r in rows:
                m[AU_INDEX[int(au[2:])], r, _AXIS[axis]] += sign / len(rows) / len(terms)
    return m.reshape(len(AU_NAMES), -1)


_MOTION = _motion_matrix()


def _au_motion(acc: np.ndarray, full: float) -> np.ndarray:
    m = np.maximum(_MOTION @ acc.ravel().astype(np.float64), 0.0)
    return np.minimum(5.0 * m / full, 5.0).astype(np.float32)
