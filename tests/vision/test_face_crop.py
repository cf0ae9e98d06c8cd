"""The aligned face crop the appearance model reads, on a real face: the same face gives the
same crop whether the head leans, the camera is farther away, or the picture is grey; and the
still landmarker reads a picture exactly as a video's first frame is read."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path

from microemo.config import LandmarkerConfig
from microemo.types import Frame
from microemo.vision.face_crop import CropSpec, CropView, aligned_crop, aligned_crops, similarity

pytestmark = pytest.mark.usefixtures("needs_asset")


@pytest.fixture(scope="module")
def still():
    from microemo.vision.landmarker import StillLandmarker

    cap = cv2.VideoCapture(str(clip_path("NEU")))
    frame = cap.read()[1]
    cap.release()
    lm = StillLandmarker(LandmarkerConfig(small_faces=False))
    yield frame, lm
    lm.close()


def _crop(image: np.ndarray, lm) -> np.ndarray:
    faces = lm.detect(image)
    assert len(faces) == 1, "the actor's face is found"
    return aligned_crop(image, faces[0].landmarks, CropSpec())


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_a_leaning_head_gives_the_upright_crop(still):
    frame, lm = still
    upright = _crop(frame, lm)
    h, w = frame.shape[:2]
    for angle in (-20, 15):
        tilted = cv2.warpAffine(
            frame,
            cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0),
            (w, h),
            borderMode=cv2.BORDER_REPLICATE,
        )
        crop = _crop(tilted, lm)
        assert _corr(crop, upright) > 0.9, f"a head leaning {angle} deg is cut upright"
    # and the crop is not the same whatever the face: another actor's frame half-shifted
    # out of the face differs
    assert _corr(np.roll(upright, 12, axis=1), upright) < 0.8


def test_a_face_farther_away_or_grey_gives_the_same_crop(still):
    frame, lm = still
    near = _crop(frame, lm)
    far = cv2.resize(frame, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert _corr(_crop(far, lm), near) > 0.95
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert _corr(_crop(grey, lm), near) > 0.98


def test_the_eyes_land_where_the_template_puts_them(still):
    frame, lm = still
    face = lm.detect(frame)[0]
    spec = CropSpec()
    h, w = frame.shape[:2]
    src = face.landmarks[list(spec.points), :2] * (w, h)
    m = similarity(src, spec.target)
    mapped = src @ m[:, :2].T + m[:, 2]
    eyes = [0, 1, 2, 3]  # the eye corners
    assert np.abs(mapped[eyes] - spec.target[eyes]).max() < 1.5


def test_a_view_is_the_crop_of_the_template_moved(still):
    """A view moves the template (a model reads the face through several); cutting through
    it is cutting with the moved template, pixel for pixel, whether the face is shrunk first
    (a full camera frame) or not; the template's own view is the crop the model learnt."""
    frame, lm = still
    face = lm.detect(frame)[0]
    spec = CropSpec()
    centre = spec.target.mean(axis=0)
    views = (CropView(), CropView(0.0, -1.5), CropView(1.0, 0.5, 1.06))
    for image in (cv2.resize(frame, None, fx=0.3, fy=0.3), frame):
        crops = aligned_crops(image, face.landmarks, spec, views)
        assert crops.shape == (3, 48, 48)
        assert np.array_equal(crops[0], aligned_crop(image, face.landmarks, spec))
        for view, crop in zip(views[1:], crops[1:], strict=True):
            moved = (spec.target - centre) * view.scale + centre + (view.dx, view.dy)
            alone = aligned_crop(image, face.landmarks, CropSpec(template=tuple(map(tuple, moved))))
            assert np.abs(crop.astype(int) - alone).max() <= 1  # rounding of the fit
            assert np.abs(crop.astype(int) - crops[0]).mean() > 1.0  # it did move


def test_a_face_outside_the_frame_gives_an_empty_crop_not_an_error():
    image = np.full((120, 160, 3), 128, np.uint8)
    landmarks = np.full((478, 3), 3.0, np.float32)  # far right and below the picture
    landmarks[:, :2] += np.random.default_rng(0).normal(0, 0.05, (478, 2))
    crop = aligned_crop(image, landmarks, CropSpec())
    assert crop.shape == (48, 48) and crop.dtype == np.uint8


def test_a_still_reads_as_the_first_frame_of_a_video(still):
    """The training tool landmarks stills in IMAGE mode; the device reads a picture as the
    first frame of a stream. They must be the same observation."""
    from microemo.vision.landmarker import Landmarker

    frame, lm = still
    with Landmarker(LandmarkerConfig(small_faces=False)) as video:
        first = video.detect(Frame(frame, 0.0, 0))[0]
    alone = lm.detect(frame)[0]
    np.testing.assert_allclose(alone.landmarks, first.landmarks, atol=1e-6)
    np.testing.assert_allclose(alone.blendshapes, first.blendshapes, atol=1e-6)
