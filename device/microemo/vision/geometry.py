"""Head-pose canonicalization, face-width normalization and the geometric signals.

Landmarks are lifted to a right-handed, y-up frame in pixels, centred on rigid points,
rotated back to frontal with the landmarker's own head-pose matrix, and divided by the face
width (the distance between the two cheek landmarks 234 and 454, as the seed method does).
A smile then measures the same whether the head turns or leans toward the camera.
Everything here is a handful of vectorised numpy calls: it runs on every frame.
"""

from __future__ import annotations

import math

import numpy as np

from microemo.types import FaceObservation, NormalizedFace, TrackedFace

CHEEK_R, CHEEK_L = 234, 454
RIGID = np.array([33, 133, 362, 263, 6, 168, 1, 4, 234, 454, 10, 152])
EYE_LINE = np.array([33, 133, 362, 263])

# name -> (kind, indices...). "dy": mean y of A minus mean y of B; "dx": |mean x A - mean x B|;
# "dz": mean z of A minus mean z of B; "gap": mean over pairs of |y_a - y_b|.
_SIGNALS: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {
    "g_brow_inner_h": ("dy", (107, 66, 336, 296), (133, 362)),
    "g_brow_outer_h": ("dy", (70, 105, 300, 334), (33, 263)),
    "g_brow_gap": ("dx", (107, 55), (336, 285)),
    "g_eye_open": ("gap", (159, 386), (145, 374)),
    "g_lower_lid_h": ("dy", (145, 374), (33, 133, 362, 263)),
    "g_cheek_h": ("dy", (50, 280), (1,)),
    "g_nose_ala_h": ("dy", (129, 358), (133, 362)),
    "g_upper_lip_gap": ("dy", (2,), (0,)),
    "g_mouth_corner_h": ("dy", (61, 291), (13, 14)),
    "g_mouth_width": ("dx", (61,), (291,)),
    "g_lip_thickness": ("gap", (0, 14), (13, 17)),
    "g_lips_apart": ("dy", (13,), (14,)),
    "g_jaw_drop": ("dy", (1,), (152,)),
    "g_chin_lip": ("dy", (17,), (152,)),
    "g_corner_depth": ("dz", (61, 291), (13, 14)),
    "g_mouth_asym": ("dy", (61,), (291,)),
}
GEOMETRY_NAMES: tuple[str, ...] = tuple(_SIGNALS)


def _compile() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Turn the table into two averaging matrices (A, B over 478 points) and an axis/kind
    code per signal, so all signals come out of two matrix products."""
    n = len(_SIGNALS)
    wa = np.zeros((n, 478), np.float32)
    wb = np.zeros((n, 478), np.float32)
    axis = np.zeros(n, np.int64)
    absolute = np.zeros(n, bool)
    for i, (kind, a, b) in enumerate(_SIGNALS.values()):
        if kind == "gap":  # pairwise |a_k - b_k| averaged: sign is fixed (upper above lower)
            wa[i, list(a)] += 1.0 / len(a)
            wb[i, list(b)] += 1.0 / len(b)
            axis[i] = 1
        else:
            wa[i, list(a)] += 1.0 / len(a)
            wb[i, list(b)] += 1.0 / len(b)
            axis[i] = {"dy": 1, "dx": 0, "dz": 2}[kind]
            absolute[i] = kind == "dx"
    return wa, wb, axis, absolute


_WA, _WB, _AXIS, _ABS = _compile()
_ROWS = np.arange(len(GEOMETRY_NAMES))
# only the few dozen points the signals use: the products skip the other ~440 rows of zeros
_USED = np.flatnonzero(_WA.any(0) | _WB.any(0))
_WAB = np.concatenate([_WA[:, _USED], -_WB[:, _USED]])  # (2n, used): A rows then -B rows
_N = len(GEOMETRY_NAMES)
_SCALE = np.array([1.0, -1.0, -1.0], np.float32)  # x right, y up, z towards the camera


def frontalize(obs: FaceObservation) -> tuple[np.ndarray, float]:
    """Landmarks in a frontal, unit-face-width frame; and the face width in pixels."""
    w, h = obs.image_size
    pts = obs.landmarks * (_SCALE * np.array([w, h, w], np.float32))
    width_px = float(np.linalg.norm(pts[CHEEK_L, :2] - pts[CHEEK_R, :2]))
    pts -= pts[RIGID].mean(axis=0)
    pts = pts @ obs.pose[:3, :3]  # rotate back: row vectors times R == R^T applied
    width = float(np.linalg.norm(pts[CHEEK_L] - pts[CHEEK_R]))
    return pts / max(width, 1e-6), width_px


def geometry_signals(points: np.ndarray) -> np.ndarray:
    """The geometric signals of ``GEOMETRY_NAMES`` from frontal unit-width points."""
    ab = _WAB @ points[_USED]  # (2n, 3): the A means, then minus the B means
    d = (ab[:_N] + ab[_N:])[_ROWS, _AXIS]
    return np.where(_ABS, np.abs(d), d).astype(np.float32)


def pose_from_matrix(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenFace-style pose: translation in mm (x right, y down, z away from the camera) and
    rotation (pitch, yaw, roll) in radians."""
    r = m[:3, :3]
    t = m[:3, 3] * 10.0  # cm -> mm
    pitch = math.atan2(r[2, 1], r[2, 2])
    yaw = math.atan2(-r[2, 0], math.hypot(r[2, 1], r[2, 2]))
    roll = math.atan2(r[1, 0], r[0, 0])
    return (
        np.array([t[0], -t[1], -t[2]], np.float32),
        np.array([pitch, yaw, roll], np.float32),
    )


class Normalizer:
    """Stage: TrackedFace -> NormalizedFace."""

    def __call__(self, face: TrackedFace) -> NormalizedFace:
        points, width_px = frontalize(face.obs)
        t_mm, r_rad = pose_from_matrix(face.obs.pose)
        return NormalizedFace(
            face_id=face.face_id,
            obs=face.obs,
            points=points,
            geometry=geometry_signals(points),
            pose_t_mm=t_mm,
            pose_r_rad=r_rad,
            face_width_px=width_px,
        )
