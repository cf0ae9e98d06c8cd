"""A face found in a mirror image is put back on its own sides: read in the CREMA-D actor's
mirrored frames and put back, it is the face read in the frames themselves."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.conftest import clip_frame

from microemo.config import LandmarkerConfig
from microemo.types import BLENDSHAPE_NAMES, FaceObservation
from microemo.vision.crops import CHEEK_L, CHEEK_R
from microemo.vision.mirror import MIDLINE, MIRROR, unmirror

MOUTH_CORNERS = (61, 291)
OUTER_EYE_CORNERS = (33, 263)


def test_the_map_swaps_sides_and_is_its_own_inverse():
    assert (MIRROR[MIRROR] == np.arange(len(MIRROR))).all()
    assert (MIRROR[list(MIDLINE)] == list(MIDLINE)).all()
    assert MIRROR[MOUTH_CORNERS[0]] == MOUTH_CORNERS[1]
    assert MIRROR[OUTER_EYE_CORNERS[0]] == OUTER_EYE_CORNERS[1]
    assert MIRROR[CHEEK_L] == CHEEK_R
    assert MIRROR[468] == 473  # the irises' centres


@pytest.fixture(scope="module")
def read():
    """One face in a picture, as the landmarker's whole-frame pass reads it."""
    from microemo.vision.landmarker import StillLandmarker

    lm = StillLandmarker(LandmarkerConfig(small_faces=False, still_second_look=0))

    def one_face(image: np.ndarray) -> FaceObservation:
        (face,) = lm.detect(image)
        return face

    yield one_face
    lm.close()


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    r = a[:3, :3].T @ b[:3, :3]
    r /= np.cbrt(np.linalg.det(r))  # the pose carries the face's scale
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


@pytest.mark.usefixtures("needs_asset")
@pytest.mark.parametrize(("emotion", "index"), [("HAP", 40), ("ANG", 20), ("DIS", 60)])
def test_a_face_read_in_the_mirror_image_is_the_face_read_upright(read, emotion: str, index: int):
    frame = clip_frame(emotion, index)
    upright = read(frame)
    back = unmirror(read(cv2.flip(frame, 1)))
    w, h = frame.shape[1], frame.shape[0]

    def pixels(face: FaceObservation) -> np.ndarray:
        return face.landmarks[:, :2] * [w, h]

    width = np.linalg.norm(pixels(upright)[CHEEK_L] - pixels(upright)[CHEEK_R])
    apart = np.linalg.norm(pixels(back) - pixels(upright), axis=1) / width
    assert apart.mean() < 0.02, f"landmarks {apart.mean():.3f} face widths apart on average"
    for i in (*MOUTH_CORNERS, *OUTER_EYE_CORNERS):
        assert apart[i] < 0.03, f"landmark {i} is {apart[i]:.3f} face widths from its place"
    # put back on the wrong sides, the corners would be a mouth's width away
    swapped = pixels(back)[list(MOUTH_CORNERS[::-1])] - pixels(upright)[list(MOUTH_CORNERS)]
    assert (np.linalg.norm(swapped, axis=1) / width > 0.2).all()

    gap = np.abs(back.blendshapes - upright.blendshapes)
    assert gap.mean() < 0.03, f"blendshapes {gap.mean():.3f} apart on average"

    assert _angle_deg(back.pose, upright.pose) < 2.0
    assert np.abs(back.pose[:3, 3] - upright.pose[:3, 3]).max() < 1.5  # cm


@pytest.mark.usefixtures("needs_asset")
def test_a_lopsided_smile_keeps_its_side(read):
    """The DIS actor's smile is higher on his left (mouthSmileLeft 0.75, Right 0.57): read in
    the mirror image and put back, it is still his left that smiles more."""
    left, right = (
        BLENDSHAPE_NAMES.index("mouthSmileLeft"),
        BLENDSHAPE_NAMES.index("mouthSmileRight"),
    )
    frame = clip_frame("DIS", 60)
    upright = read(frame).blendshapes
    assert upright[left] - upright[right] > 0.1, "the smile is not lopsided: no test"
    mirrored = read(cv2.flip(frame, 1))
    assert mirrored.blendshapes[right] - mirrored.blendshapes[left] > 0.1, (
        "the mirror image smiles on the other side"
    )
    back = unmirror(mirrored).blendshapes
    assert back[left] - back[right] > 0.1
    assert abs(back[left] - upright[left]) < 0.1 and abs(back[right] - upright[right]) < 0.1
