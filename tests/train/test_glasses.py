"""``--camera glasses[=TINT]``: the faces read again wearing glasses or sunglasses (a cabin
camera's drivers), drawn where the landmarker finds the eyes, on the real CREMA-D actor."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path

from microemo_train.emotion_bench.cameras import Camera
from microemo_train.glasses import face_points, wear

pytestmark = pytest.mark.usefixtures("needs_asset")


@pytest.fixture(scope="module")
def smile() -> np.ndarray:
    cap = cv2.VideoCapture(str(clip_path("HAP")))
    for _ in range(41):
        ok, image = cap.read()
        assert ok
    cap.release()
    return image


def _grey(image: np.ndarray, point: np.ndarray, r: int = 2) -> float:
    x, y = np.rint(point).astype(int)
    return float(
        cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[y - r : y + r + 1, x - r : x + r + 1].mean()
    )


def test_sunglasses_cover_both_eyes_and_leave_the_mouth_alone(smile):
    points = face_points(smile)
    assert points is not None
    shaded = wear(smile, 0.85)
    for eye in ((33, 133), (263, 362)):  # each eye's middle: the lens stops 85 % of its light
        middle = points[list(eye)].mean(0)
        assert _grey(shaded, middle) < 0.3 * _grey(smile, middle)
    mouth = np.rint(points[[61, 291, 13, 14, 17]]).astype(int)
    x0, y0 = mouth.min(0) - 5
    x1, y1 = mouth.max(0) + 5
    assert np.array_equal(shaded[y0:y1, x0:x1], smile[y0:y1, x0:x1])
    # the copy is still a face: the landmarker finds it, the mouth where it was
    again = face_points(shaded)
    assert again is not None
    assert np.abs(again[[61, 291]] - points[[61, 291]]).max() < 0.03 * np.ptp(points[:, 0])


def test_clear_glasses_show_the_eyes_through_the_frames(smile):
    points = face_points(smile)
    clear = wear(smile, 0.0)
    middle = points[[33, 133]].mean(0)
    assert _grey(clear, middle) == pytest.approx(_grey(smile, middle), abs=1.0)
    changed = np.any(clear != smile, axis=2)
    width = np.ptp(points[:, 0])
    assert 0.005 < changed.mean() < 0.05, "rims, bridge and temples: a thin frame, not a mask"
    ys, xs = np.nonzero(changed)
    # the frames sit across the eyes, from one side of the face to the other
    assert np.ptp(xs) > 0.8 * width
    assert abs(np.median(ys) - points[[33, 263], 1].mean()) < 0.1 * width


def test_a_picture_with_no_face_is_left_as_it_is():
    wall = np.full((240, 320, 3), 128, np.uint8)
    assert np.array_equal(wear(wall, 0.85), wall)
    assert (
        Camera.parse("glasses").value == 0.0 and Camera.parse("glasses=0.85").name == "glasses-0.85"
    )


def test_a_smile_behind_sunglasses_still_reads_as_happiness(smile, tmp_path):
    """The user's question: what do sunglasses cost? The benchmark reads the copies with the
    sunglasses drawn and compares them face by face with the clean run."""
    data = tmp_path / "faces"
    (data / "happiness").mkdir(parents=True)
    cv2.imwrite(str(data / "happiness" / "smile.png"), smile)
    runs = {}
    for name, extra in (("clean", []), ("sun", ["--camera", "glasses=0.85"])):
        out = tmp_path / name
        args = [str(data), "--out", str(out), "--jobs", "1", "--json", str(out / "f.json")]
        if name == "sun":
            args += ["--against", str(tmp_path / "clean")]
        done = subprocess.run(
            [sys.executable, "-m", "microemo_train.cli", "emotion-bench", *args, *extra],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        runs[name] = json.loads((out / "f.json").read_text())
    (made,) = (tmp_path / "sun" / "camera-glasses-0.85").rglob("smile.png")
    copy = cv2.imread(str(made))
    assert copy is not None and not np.array_equal(copy, smile), "the copy wears them"
    for run in runs.values():
        assert run["figures"]["recall"] == {"happiness": 1.0}
    assert runs["sun"]["camera"] == "glasses=0.85"


def test_training_faces_wear_glasses_where_the_crop_template_puts_the_eyes(smile):
    """``appearance --glasses SHARE``: the network sees that share of its aligned training
    crops in glasses; they sit on the crop's eyes and leave the mouth as it was, and with no
    share the augmentation's draws are those of the networks trained before."""
    from microemo.vision.face_crop import CropSpec, aligned_crop
    from microemo_train.appearance.net import augment, wear_glasses

    h, w = smile.shape[:2]
    crop = aligned_crop(smile, face_points(smile) / np.array([w, h], np.float32), CropSpec())
    rng = np.random.default_rng(0)
    worn = [wear_glasses(crop, rng) for _ in range(40)]
    eyes, mouth = (slice(16, 21), slice(11, 37)), (slice(32, 44), slice(14, 34))
    tinted = [w for w in worn if w[eyes].mean() < 0.7 * crop[eyes].mean()]
    assert 10 <= len(tinted) <= 30, "about half of them sunglasses, the rest clear"
    for w in worn:
        assert w.shape == crop.shape and w.dtype == np.uint8
        assert np.array_equal(w[mouth], crop[mouth])
        assert (w[12:25] != crop[12:25]).any(), "the frames show, clear lenses or not"
    crops = np.stack([crop] * 6)
    same = augment(crops, np.random.default_rng(3), 10.0, 0.0)
    assert np.array_equal(same, augment(crops, np.random.default_rng(3), 10.0, 0.0, 0.0))
    assert not np.array_equal(same, augment(crops, np.random.default_rng(3), 10.0, 0.0, 1.0))
