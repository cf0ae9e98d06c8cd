"""Optical flow at the landmarks (vision/flow.py) on a real face: inner brows raised by one pixel
in the image reads as AU1 motion, a still face as none, and head movement is taken out."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path

from microemo.assets import find_asset
from microemo.types import AU_INDEX, FaceObservation, Frame
from microemo.vision.flow import FLOW_POINTS, FlowAU, FlowMeter


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, FaceObservation]:
    try:
        find_asset("face_landmarker.task")
    except Exception as exc:  # pragma: no cover - set-up problem, not a test result
        pytest.skip(f"landmarker model missing: {exc}")
    from microemo.config import LandmarkerConfig
    from microemo.vision.landmarker import Landmarker

    cap = cv2.VideoCapture(str(clip_path("NEU")))
    ok, image = cap.read()
    cap.release()
    assert ok
    with Landmarker(LandmarkerConfig()) as lm:
        faces = lm.detect(Frame(image, 0.0, 0))
    assert len(faces) == 1
    return image, faces[0]


def _pixels(obs: FaceObservation, ids: list[int]) -> np.ndarray:
    w, h = obs.image_size
    return obs.landmarks[ids, :2] * np.array([w, h], np.float32)


def _motion(image_a: np.ndarray, image_b: np.ndarray, obs: FaceObservation) -> np.ndarray:
    meter, to_au = FlowMeter(), FlowAU(tau_ms=1000.0, full=0.02)
    a, b = copy.copy(obs), copy.copy(obs)
    meter.measure(image_a, [a])
    to_au(0, a, 0.0)
    meter.measure(image_b, [b])
    assert b.flow is not None and b.flow.shape == (len(FLOW_POINTS), 2)
    return to_au(0, b, 33.0)


def _raise_inner_brows(image: np.ndarray, obs: FaceObservation) -> np.ndarray:
    """The image with each inner brow (and only it) moved 1 px up."""
    raised = image.copy()
    mid = _pixels(obs, [168])[0]  # the nose bridge (the reference) must stay where it is
    for side in ([107, 55, 66, 65], [336, 285, 296, 295]):  # each inner brow on its own
        brow = _pixels(obs, side)
        x0, y0 = (brow.min(0) - 6).astype(int)
        x1, y1 = (brow.max(0) + 6).astype(int)
        if x0 < mid[0] < x1:  # keep the box off the midline
            x0, x1 = (x0, int(mid[0]) - 5) if brow[:, 0].mean() < mid[0] else (int(mid[0]) + 6, x1)
        y1 = min(y1, int(mid[1]) - 5)
        raised[y0 - 1 : y1 - 1, x0:x1] = image[y0:y1, x0:x1]  # 1 px up
    return raised


def test_inner_brows_raised_one_pixel_are_au1_motion(
    face: tuple[np.ndarray, FaceObservation],
) -> None:
    image, obs = face
    m = _motion(image, _raise_inner_brows(image, obs), obs)
    fw = float(np.linalg.norm(np.subtract(*_pixels(obs, [454, 234]))))
    expected = 5.0 * (1.0 / fw) / 0.02
    assert m[AU_INDEX[1]] == pytest.approx(expected, rel=0.35)
    assert m[AU_INDEX[4]] == 0.0  # up is not down
    assert m[AU_INDEX[9]] < 0.2 * expected  # the nose did not move


def test_a_frame_wider_than_the_landmarker_reads_the_same_motion(
    face: tuple[np.ndarray, FaceObservation],
) -> None:
    """A 960x720 camera frame: the landmarker sees it at 640x480 (its image_size), flow runs
    on the full frame. The same brow raise must read as the same motion in face widths."""
    image, obs = face
    native = _motion(image, _raise_inner_brows(image, obs), obs)[AU_INDEX[1]]
    h, w = image.shape[:2]
    big = [cv2.resize(im, (2 * w, 2 * h)) for im in (image, _raise_inner_brows(image, obs))]
    seen = copy.copy(obs)
    seen.image_size = (640, 480)  # what Landmarker.detect reports for a 960x720 frame
    wide = _motion(big[0], big[1], seen)[AU_INDEX[1]]
    assert native > 0.5 and wide == pytest.approx(native, rel=0.15)


def test_still_face_and_head_shift_give_no_motion(
    face: tuple[np.ndarray, FaceObservation],
) -> None:
    image, obs = face
    assert np.abs(_motion(image, image, obs)).max() < 0.05
    # the whole head 3 px to the right and 2 px up: the bridge moves with it
    shifted = np.roll(image, (-2, 3), axis=(0, 1))
    assert np.abs(_motion(image, shifted, obs)).max() < 0.3


def _side_by_side(image: np.ndarray, obs: FaceObservation) -> tuple[np.ndarray, list]:
    """The same face twice, side by side, as two observations of one wider frame."""
    h, w = image.shape[:2]
    faces = []
    for k in (0, 1):
        lm = obs.landmarks.copy()
        lm[:, 0] = (lm[:, 0] * w + k * w) / (2 * w)
        faces.append(FaceObservation(lm, obs.blendshapes, obs.pose, (2 * w, h)))
    return np.hstack([image, image]), faces


def test_each_face_gets_its_own_motion(face: tuple[np.ndarray, FaceObservation]) -> None:
    image, obs = face
    before, faces = _side_by_side(image, obs)
    after = before.copy()
    w = image.shape[1]
    brow = _pixels(obs, [107, 55, 66, 65, 336, 285, 296, 295])
    mid = _pixels(obs, [168])[0]
    x0, y0 = (brow.min(0) - 6).astype(int)
    x1 = int(brow.max(0)[0]) + 6
    y1 = int(mid[1]) - 5
    # the second face (right half) frowns: brows 1 px down; the first does nothing
    after[y0 + 1 : y1 + 1, w + x0 : w + x1] = before[y0:y1, w + x0 : w + x1]

    meter, to_au = FlowMeter(), FlowAU(tau_ms=1000.0, full=0.02)
    first = [copy.copy(f) for f in faces]
    meter.measure(before, first)
    # the list comes in the other order on the next frame: pairing is by position
    second = [copy.copy(f) for f in reversed(faces)]
    meter.measure(after, second)
    still, frowning = second[1], second[0]
    assert still.flow is not None and frowning.flow is not None
    m_still = to_au(0, still, 33.0)
    m_frown = to_au(1, frowning, 33.0)
    assert m_frown[AU_INDEX[4]] > 0.5  # brows down (AU4 also averages in brows together)
    assert m_frown[AU_INDEX[1]] == 0.0
    assert np.abs(m_still).max() < 0.1


def test_a_face_that_just_appeared_has_no_flow(face: tuple[np.ndarray, FaceObservation]) -> None:
    image, obs = face
    meter = FlowMeter()
    meter.measure(image, [])  # nobody there
    new = copy.copy(obs)
    meter.measure(image, [new])
    assert new.flow is None
    m = FlowAU(tau_ms=1000.0, full=0.02)(0, new, 0.0)
    assert not m.any()


def test_a_face_mostly_outside_the_picture_is_skipped(
    face: tuple[np.ndarray, FaceObservation],
) -> None:
    """The landmarker reports points past the border for a face leaving the frame; the frame
    loop must not fail on it."""
    image, obs = face
    gone = copy.copy(obs)
    gone.landmarks = obs.landmarks.copy()
    gone.landmarks[:, 0] += 1.5  # the whole mesh right of the picture
    meter = FlowMeter()
    meter.measure(image, [copy.copy(obs)])
    meter.measure(image, [gone])
    meter.measure(image, [gone])
    assert gone.flow is None
