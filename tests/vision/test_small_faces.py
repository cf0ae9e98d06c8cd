"""Small faces (``landmarker.small_faces``): every face in a group picture, real MediaPipe.

The pictures are composites of the CREMA-D actor at one to three metres (tests/data/group,
README there); each comes with the boxes of the faces pasted into it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import DATA, clip_path

from microemo.config import Config, LandmarkerConfig, TrackerConfig
from microemo.types import FaceObservation, Frame

GROUP = DATA / "group"


pytestmark = pytest.mark.usefixtures("needs_asset")


def _picture(name: str) -> tuple[np.ndarray, list[dict]]:
    img = cv2.imread(str(GROUP / f"{name}.jpg"))
    return img, json.loads((GROUP / f"{name}.json").read_text())["faces"]


def _boxes(faces: list[FaceObservation], w: int, h: int) -> list[tuple[float, float, float]]:
    from microemo.vision.crops import face_box

    return [face_box(f, w, h) for f in faces]


def _match(found: list[tuple[float, float, float]], truth: list[dict]) -> list[int]:
    """For each true face, how many found faces sit on it (centre within a third of its
    width, width within 25 %)."""
    counts = []
    for t in truth:
        x, y, w, h = t["box"]
        cx, cy = x + w / 2, y + h / 2
        counts.append(
            sum(
                1
                for fx, fy, fw in found
                if np.hypot(fx - cx, fy - cy) < w / 3 and abs(fw / w - 1) < 0.25
            )
        )
    return counts


def _landmarker(**kw):
    from microemo.vision.landmarker import Landmarker

    return Landmarker(LandmarkerConfig(**kw))


@pytest.mark.parametrize("name", ["group5", "group6_far"])
def test_every_face_of_a_group_picture_is_found_once(name):
    img, truth = _picture(name)
    h, w = img.shape[:2]
    with _landmarker(num_faces=8, small_faces=False) as lm:
        whole_only = lm.detect(Frame(img, 0.0, 0))
    # the picture really is beyond the whole-frame detector (issue 12: 2 faces of 5)
    assert len(whole_only) < len(truth) - 2
    with _landmarker(num_faces=8) as lm:
        faces = lm.detect(Frame(img, 0.0, 0))
    assert _match(_boxes(faces, w, h), truth) == [1] * len(truth)
    assert len(faces) == len(truth)  # 5 and 6: nothing else taken for a face
    smallest = min(t["box"][2] for t in truth)
    assert smallest <= 42  # the smallest face found is about 40 px cheek to cheek


def test_num_faces_still_caps_the_faces_reported():
    img, _ = _picture("group6_far")
    with _landmarker(num_faces=3) as lm:
        assert len(lm.detect(Frame(img, 0.0, 0))) == 3


def test_a_single_large_face_comes_out_as_before():
    """The common case: one near face. With the small-face search on and room for more
    faces (so searches do run), exactly one face per frame, with the same landmarks."""
    from microemo.sources.files import open_file_source

    frames = list(open_file_source(clip_path("HAP")))[:40]
    with _landmarker(num_faces=2, small_faces=False) as lm:
        before = [lm.detect(f) for f in frames]
    with _landmarker(num_faces=2, search_interval_ms=200) as lm:
        after = [lm.detect(f) for f in frames]
        assert lm.small is not None and lm.small.search.tiles_run > 0
    assert all(len(a) == 1 for a in after) and all(len(b) == 1 for b in before)
    diff = max(float(np.abs(a[0].landmarks - b[0].landmarks).max()) for a, b in zip(after, before))
    assert diff < 1e-6
    assert all(a[0].image_size == b[0].image_size for a, b in zip(after, before))


def _pan_zoom(img: np.ndarray, n: int) -> list[Frame]:
    """A camera slowly zooming in (to 1.15x) and panning right over the picture."""
    h, w = img.shape[:2]
    frames = []
    for i in range(n):
        z = 1 + 0.15 * i / (n - 1)
        cw, ch = w / z, h / z
        x0, y0 = (w - cw) * (0.3 + 0.5 * i / (n - 1)), (h - ch) * 0.4
        m = np.array([[z, 0, -x0 * z], [0, z, -y0 * z]], np.float32)
        frames.append(Frame(cv2.warpAffine(img, m, (w, h)), i * 1000 / 30, i))
    return frames


def test_faces_found_in_crops_keep_their_ids_over_a_moving_camera():
    from microemo.vision.tracker import FaceTracker

    img, truth = _picture("group5")
    tracker = FaceTracker(TrackerConfig())
    ids_per_frame = []
    with _landmarker(num_faces=8) as lm:
        for frame in _pan_zoom(img, 30):
            tracked, gone = tracker.update(lm.detect(frame), frame.t_ms)
            assert not gone
            ids_per_frame.append(sorted(t.face_id for t in tracked))
    assert all(ids == list(range(len(truth))) for ids in ids_per_frame), ids_per_frame


def test_a_face_landmarked_in_a_crop_agrees_with_the_whole_frame():
    """The near face of group5, once from the whole frame and once from its own crop: the
    same landmarks (mapped back) and the same head pose."""
    from microemo.vision.crops import CropLandmarker, CropWindow, face_box
    from microemo.vision.geometry import pose_from_matrix

    img, _ = _picture("group5")
    h, w = img.shape[:2]
    with _landmarker(num_faces=1, small_faces=False, max_width=w) as lm:
        whole = lm.detect(Frame(img, 0.0, 0))[0]
        crops = CropLandmarker(str(lm.model_path), lm.config)
    cx, cy, fw = face_box(whole, w, h)
    win = CropWindow.around(cx, cy, fw)
    in_crop = crops.detect(img, win)[0]
    crops.close()
    pts = win.to_frame(in_crop.landmarks, w, h)
    err_px = np.linalg.norm((pts[:, :2] - whole.landmarks[:, :2]) * [w, h], axis=1)
    assert np.median(err_px) < 0.03 * fw
    t0, r0 = pose_from_matrix(whole.pose)
    t1, r1 = pose_from_matrix(win.pose_to_frame(in_crop.pose, w, h))
    assert np.degrees(np.abs(r1 - r0)).max() < 5.0
    assert np.abs(t1 - t0).max() < 0.1 * abs(t0[2])


def test_aus_of_a_small_face_are_finite_and_its_pose_sane():
    from microemo.pipeline import Pipeline

    img, truth = _picture("group5")
    cfg = Config()
    cfg.landmarker.num_faces = 8
    with Pipeline(cfg) as pipe:
        for i in range(5):
            result = pipe.process(Frame(img, i * 33.0, i))
    faces = sorted(result.faces, key=lambda a: a.face.face_width_px)
    assert len(faces) == len(truth)
    small, near = faces[0], faces[-1]
    assert small.face.face_width_px < 30  # 40 px in the frame, 26 px at the landmarker's 640
    assert np.isfinite(small.intensity).all() and np.isfinite(small.features).all()
    assert np.abs(np.degrees(small.face.pose_r_rad)).max() < 25
    # a face a quarter the size is about four times further away
    ratio = small.face.pose_t_mm[2] / near.face.pose_t_mm[2]
    assert 2.5 < ratio < 5.0


def test_analyze_reports_every_face_of_a_group_picture(tmp_path: Path):
    config = tmp_path / "group.toml"
    config.write_text("[landmarker]\nnum_faces = 8\n")
    out = tmp_path / "out"
    args = ["analyze", str(GROUP / "group5.jpg"), "--config", str(config), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "microemo.cli", *args, "--rules-only"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "group5: 1 frames, 5 faces" in proc.stdout
    rows = (out / "group5.csv").read_text().splitlines()[1:]
    assert sorted(int(r.split(",")[1]) for r in rows) == [0, 1, 2, 3, 4]
