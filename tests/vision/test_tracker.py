"""Face ids stay with faces: across frames, when faces swap order, and after a short absence."""

from __future__ import annotations

import numpy as np

from microemo.config import TrackerConfig
from microemo.types import FaceObservation
from microemo.vision.tracker import FaceTracker


def _shift(obs: FaceObservation, dx: float) -> FaceObservation:
    lm = obs.landmarks.copy()
    lm[:, 0] += dx
    return FaceObservation(lm, obs.blendshapes, obs.pose, obs.image_size)


def test_two_faces_keep_their_ids_whatever_the_detection_order(recorded_faces):
    tracker = FaceTracker(TrackerConfig())
    frames = recorded_faces["HAP"]
    left0, right0 = _shift(frames[0], -0.3), _shift(frames[0], 0.3)
    tracked, _ = tracker.update([left0, right0], 0)
    ids = {round(float(t.obs.landmarks[:, 0].mean()), 1): t.face_id for t in tracked}
    for i, obs in enumerate(frames[1:], start=1):
        faces = [_shift(obs, 0.3), _shift(obs, -0.3)]  # order flipped
        if i % 2:
            faces.reverse()
        tracked, gone = tracker.update(faces, i * 33.0)
        assert not gone
        for t in tracked:
            key = round(float(t.obs.landmarks[:, 0].mean()), 1)
            assert ids[key] == t.face_id


def test_face_that_leaves_briefly_gets_its_id_back(recorded_faces):
    tracker = FaceTracker(TrackerConfig(max_lost_ms=3000))
    obs = recorded_faces["NEU"]
    t = 0.0
    for o in obs[:5]:
        tracked, _ = tracker.update([o], t)
        t += 33
    first = tracked[0].face_id
    for _ in range(30):  # one second without a face
        _, gone = tracker.update([], t)
        assert not gone
        t += 33
    tracked, _ = tracker.update([_shift(obs[5], 0.15)], t)  # back, a little to the side
    assert tracked[0].face_id == first


def test_face_gone_past_the_limit_is_reported_once_and_renumbered(recorded_faces):
    tracker = FaceTracker(TrackerConfig(max_lost_ms=500))
    obs = recorded_faces["NEU"][0]
    tracked, _ = tracker.update([obs], 0)
    reported = []
    for k in range(1, 40):
        _, gone = tracker.update([], k * 33.0)
        reported += gone
    assert reported == [tracked[0].face_id]
    again, _ = tracker.update([obs], 2000)
    assert again[0].face_id != tracked[0].face_id
    assert np.isfinite(again[0].confidence)


def test_a_face_unseen_while_no_frame_comes_expires_on_the_clock(recorded_faces):
    """A camera outage: no frame at all, yet time passes; the face is gone after
    max_lost_ms as if it had left, and comes back as a new face."""
    tracker = FaceTracker(TrackerConfig(max_lost_ms=1500))
    obs = recorded_faces["HAP"][0]
    tracked, _ = tracker.update([obs], 1000.0)
    assert tracker.expire(2400.0) == []
    assert tracker.expire(2600.0) == [tracked[0].face_id]
    assert tracker.expire(9000.0) == []  # reported once
    again, gone = tracker.update([obs], 9000.0)
    assert gone == [] and again[0].face_id != tracked[0].face_id
