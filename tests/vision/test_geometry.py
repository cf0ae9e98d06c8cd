"""Normalization: AU geometry must not change when the head turns or moves closer."""

from __future__ import annotations

import math

import numpy as np

from microemo.config import AUConfig, TrackerConfig
from microemo.types import FaceObservation, TrackedFace
from microemo.vision.au import AUEstimator
from microemo.vision.geometry import GEOMETRY_NAMES, Normalizer, frontalize, geometry_signals


def _rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array(
        [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], np.float32
    )


def _turn(obs: FaceObservation, deg: float, scale: float = 1.0) -> FaceObservation:
    """The same face turned by ``deg`` of yaw about its centre and scaled (moved closer),
    in the landmarker's conventions (image y down, z away from the camera)."""
    w, h = obs.image_size
    lm = obs.landmarks
    pts = np.stack([lm[:, 0] * w, -lm[:, 1] * h, -lm[:, 2] * w], axis=1)
    c = pts.mean(axis=0)
    r = _rot_y(deg)
    turned = (pts - c) @ r.T * scale + c
    out = np.stack([turned[:, 0] / w, -turned[:, 1] / h, -turned[:, 2] / w], axis=1)
    pose = obs.pose.copy()
    pose[:3, :3] = r @ obs.pose[:3, :3]
    return FaceObservation(out.astype(np.float32), obs.blendshapes, pose, obs.image_size)


def test_geometry_is_invariant_to_head_turn_and_distance(recorded_faces):
    for obs in recorded_faces["HAP"][:5]:
        base = geometry_signals(frontalize(obs)[0])
        for deg, scale in ((25, 1.0), (-30, 1.0), (0, 1.6), (20, 0.7)):
            moved = geometry_signals(frontalize(_turn(obs, deg, scale))[0])
            err = np.abs(moved - base).max()
            assert err < 2e-3, f"yaw {deg} scale {scale}: max change {err:.4f}"


def test_without_pose_correction_a_turn_would_change_geometry(recorded_faces):
    # guards the test above against passing trivially
    obs = recorded_faces["HAP"][0]
    turned = _turn(obs, 30)
    unrotated = FaceObservation(turned.landmarks, obs.blendshapes, obs.pose, obs.image_size)
    base = geometry_signals(frontalize(obs)[0])
    assert np.abs(geometry_signals(frontalize(unrotated)[0]) - base).max() > 0.01


def test_face_width_is_unit_and_pose_is_reported(recorded_faces):
    obs = recorded_faces["NEU"][0]
    norm = Normalizer()(TrackedFace(0, obs, 1.0))
    assert abs(np.linalg.norm(norm.points[454] - norm.points[234]) - 1.0) < 1e-5
    assert 200 < norm.pose_t_mm[2] < 2000  # a face at arm's length, in millimetres
    assert np.all(np.abs(norm.pose_r_rad) < 0.6)
    assert norm.geometry.shape == (len(GEOMETRY_NAMES),)


def test_au_estimates_survive_a_head_turn(recorded_faces):
    def run(frames: list[FaceObservation]) -> np.ndarray:
        est = AUEstimator(AUConfig())
        norm = Normalizer()
        return np.array(
            [est(norm(TrackedFace(0, o, 1.0)), i * 33.3).intensity for i, o in enumerate(frames)]
        )

    frames = recorded_faces["NEU"] + recorded_faces["HAP"]
    straight = run(frames)
    turned = run([_turn(o, 20, 1.3) for o in frames])
    assert np.abs(straight - turned).max() < 0.3


def test_tracker_config_defaults_are_sane():
    assert TrackerConfig().max_lost_ms > 1000
