"""A picture whose face fills it: the landmarker's detector misses it, the second look finds it.

Made from a real CREMA-D smile: the frame cut to the middle 60 % of the face (a tight
passport-style crop, as many face data sets and photo crops are), a picture in which the
whole-frame pass finds no face."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.analyze.analyze_kit import clip_frames, run_analyze

from microemo.config import LandmarkerConfig
from microemo.types import Frame

pytestmark = pytest.mark.usefixtures("needs_asset")

CUT = 0.6  # of the face's landmark box, around its centre


@functools.cache
def smile() -> tuple[np.ndarray, np.ndarray]:
    """The actor's smile (HAP, frame 40) and the landmarks its whole-frame pass finds, in its
    pixels (x, y); the pictures below are cut from it (read-only: each cut copies)."""
    frame = clip_frames("HAP", 41)[40]
    (face,) = _upright_pass(frame)
    return frame, face.landmarks[:, :2] * [frame.shape[1], frame.shape[0]]


def _upright_pass(image: np.ndarray) -> list:
    """The faces the landmarker's whole-frame pass finds, with no second look."""
    from microemo.vision.landmarker import StillLandmarker

    lm = StillLandmarker(LandmarkerConfig(small_faces=False, still_second_look=0))
    try:
        return lm.detect(image)
    finally:
        lm.close()


def tight_smile() -> tuple[np.ndarray, np.ndarray]:
    """The cut picture, and the whole frame's landmarks in its pixels (x, y)."""
    frame, xy = smile()
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    half = CUT * max(x1 - x0, y1 - y0) / 2
    left, top = int((x0 + x1) / 2 - half), int((y0 + y1) / 2 - half)
    picture = frame[top : top + int(2 * half), left : left + int(2 * half)].copy()
    assert _upright_pass(picture) == [], "the whole-frame pass finds this face: no test"
    return picture, xy - [left, top]


def analyze_still(picture: np.ndarray, out: Path, *args: str | Path) -> tuple[dict, list[dict]]:
    """``microemo analyze`` on ``picture`` saved as a PNG in ``out``: its index row and the
    rows of its CSV (none when no face was found)."""
    out.mkdir(parents=True, exist_ok=True)
    still = out / "still.png"
    assert cv2.imwrite(str(still), picture)
    done = run_analyze(still, *args, "--out", out / "analyze", "--no-plot")
    assert done.returncode == 0, done.stderr
    (row,) = csv.DictReader((out / "analyze" / "analyze-index.csv").open())
    table = out / "analyze" / "still.csv"
    return row, list(csv.DictReader(table.open())) if table.is_file() else []


def test_a_face_filling_the_picture_is_found_and_read(tmp_path: Path):
    picture, _ = tight_smile()
    row, (frame,) = analyze_still(picture, tmp_path / "on")
    assert row["faces"] == "1", row
    assert row["dominant"] == "happiness", row
    assert float(frame["AU12_r"]) >= 2.0, f"the smile reads AU12 {frame['AU12_r']}"

    off = tmp_path / "off.toml"
    off.write_text("[landmarker]\nstill_second_look = 0\n")
    row, _ = analyze_still(picture, tmp_path / "off", "--config", off)
    assert row["faces"] == "0" and row["dominant"] == "no face", row


def test_the_second_look_maps_the_face_back_and_is_for_pictures_only():
    """Its landmarks land where the whole frame's landmarks put the face in the picture; a
    camera or video frame with no face is not looked at twice (that is the common case on a
    device, and would double the landmarker's cost while nobody is there)."""
    from microemo.vision.landmarker import Landmarker

    picture, want = tight_smile()
    with Landmarker(LandmarkerConfig(small_faces=False)) as lm:
        assert lm.detect(Frame(picture, 0.0, 0)) == []
        lm.new_stream()
        (face,) = lm.detect(Frame(picture, 0.0, 0, still=True))
    h, w = picture.shape[:2]
    assert face.image_size == (w, h)
    got = face.landmarks[:, :2] * [w, h]
    off = np.median(np.linalg.norm(got - want, axis=1)) / w
    assert off < 0.05, f"second-look landmarks {off:.3f} picture widths from the face"


TILT = -65.0  # degrees, counter-clockwise: a head lying on its side in the picture


def tilted_smile() -> tuple[np.ndarray, np.ndarray]:
    """The cut picture turned ``TILT`` degrees, and where its landmarks went."""
    picture, xy = tight_smile()
    h, w = picture.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), TILT, 1.0)
    tilted = cv2.warpAffine(picture, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return tilted, xy @ turn[:, :2].T + turn[:, 2]


def test_a_tilted_face_is_found_by_turning_the_picture_and_read(tmp_path: Path):
    from microemo.vision.landmarker import StillLandmarker

    tilted, want = tilted_smile()
    h, w = tilted.shape[:2]
    cfg = LandmarkerConfig(small_faces=False)
    upright = StillLandmarker(
        cfg.model_copy(update={"still_tilts_deg": [], "still_mirror_look": False})
    )
    turning = StillLandmarker(cfg)
    try:
        assert upright.detect(tilted) == [], "both looks find this face: no test"
        (face,) = turning.detect(tilted)
        (level,) = turning.detect(tight_smile()[0])
    finally:
        upright.close()
        turning.close()
    assert face.image_size == (w, h)
    off = np.median(np.linalg.norm(face.landmarks[:, :2] * [w, h] - want, axis=1)) / w
    assert off < 0.05, f"landmarks found turned are {off:.3f} picture widths from the face"
    # the head pose is the picture's: rolled by the tilt against the same face upright
    rel = face.pose[:3, :3] @ level.pose[:3, :3].T
    roll = float(np.degrees(np.arctan2(rel[1, 0], rel[0, 0])))
    assert abs(roll - TILT) < 10, f"pose rolled {roll:.1f} deg, the picture {TILT}"

    row, _ = analyze_still(tilted, tmp_path)
    assert row["faces"] == "1" and row["dominant"] == "happiness", row


def half_smile() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smile cut by the picture's right edge through the middle of the face (the left 45 %
    of it shows), the whole frame's landmarks in its pixels, and which of them show."""
    frame, xy = smile()
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    top, bottom = int(y0 - 0.2 * (y1 - y0)), int(y1 + 0.2 * (y1 - y0))
    left, right = int(x0 - 0.4 * (x1 - x0)), int(x1 - 0.55 * (x1 - x0))
    return frame[top:bottom, left:right].copy(), xy - [left, top], xy[:, 0] < right


def test_a_face_only_its_mirror_image_shows_is_found_on_its_own_sides(tmp_path: Path):
    """The detector is not symmetric: half a smiling face at the picture's edge is missed by
    every upright and turned look and found in the mirror image. Put back, the landmarks that
    show sit where the whole frame put them (a corner swapped with its other side would be
    half a face away), and the picture reads as a smile."""
    from microemo.vision.geometry import CHEEK_L, CHEEK_R
    from microemo.vision.landmarker import StillLandmarker

    picture, want, shows = half_smile()
    cfg = LandmarkerConfig(small_faces=False)
    unmirrored = StillLandmarker(cfg.model_copy(update={"still_mirror_look": False}))
    mirroring = StillLandmarker(cfg)
    try:
        assert unmirrored.detect(picture) == [], "a look without the mirror finds it: no test"
        (face,) = mirroring.detect(picture)
    finally:
        unmirrored.close()
        mirroring.close()
    h, w = picture.shape[:2]
    width = np.linalg.norm(want[CHEEK_L] - want[CHEEK_R])
    off = np.linalg.norm(face.landmarks[:, :2] * [w, h] - want, axis=1) / width
    assert off[shows].mean() < 0.05, f"landmarks that show {off[shows].mean():.3f} widths off"
    for i in (61, 33):  # the mouth corner and the eye corner on the side that shows
        assert shows[i] and off[i] < 0.03, f"landmark {i} is {off[i]:.3f} face widths off"

    row, (frame,) = analyze_still(picture, tmp_path)
    assert row["faces"] == "1" and row["dominant"] == "happiness", row
    assert float(frame["AU12_r"]) >= 2.0, f"the smile reads AU12 {frame['AU12_r']}"
