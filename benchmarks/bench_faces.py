"""Per-frame cost of the landmarker with and without the small-face search, in one run.

Cases (``Landmarker.detect`` only, frames decoded beforehand, each case on its own fresh
landmarker after one warm-up frame):
  near face: the six CREMA-D clips (one face about 94 px wide in 480x360), the common case;
  two near faces: two clips side by side (960x360), num_faces = 2;
  group5 / group6_far: a camera panning and zooming over the group pictures (1000x667,
  30 fps, 2 s), num_faces = 8;
  tight pictures: every 10th CREMA-D frame cut to the middle 60 % of the face (about 70 px),
  each a single picture (``Frame.still``, a new stream each) in which the whole-frame pass
  finds no face, with and without ``still_second_look``;
  tilted tight pictures: the same turned 65 degrees (a head lying on its side), which neither
  look finds upright, with and without the turned looks (``still_tilts_deg``);
  face blacked out: every 10th clip frame with a black box over the face, a picture in which
  every look is tried (the most a picture costs): upright only, with the turned looks, and
  with the mirrored look after them (``still_mirror_look``); the faces column counts what the
  looks made of the black box.
Figures are ratios to "near face, small faces off" measured in the same run (this machine
is shared and noisy), with the mean (search frames included), the median, p95, and how many
search tiles and crop landmarker passes a frame cost on average.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from microemo.config import LandmarkerConfig
from microemo.sources.files import open_file_source
from microemo.types import Frame
from microemo.vision.landmarker import Landmarker

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "tests/data/crema_d/clips").glob("*.flv"))
GROUP = ROOT / "tests/data/group"


def _clips() -> list[Frame]:
    frames: list[Frame] = []
    for clip in CLIPS:
        for f in open_file_source(clip):
            frames.append(Frame(f.image, len(frames) * 1000 / 30, len(frames)))
    return frames


def _two_faces(frames: list[Frame]) -> list[Frame]:
    half = len(frames) // 2
    return [
        Frame(np.hstack([a.image, b.image[:, ::-1]]), a.t_ms, a.index)
        for a, b in zip(frames[:half], frames[half : 2 * half])
    ]


def _pan_zoom(name: str, n: int = 60) -> list[Frame]:
    img = cv2.imread(str(GROUP / f"{name}.jpg"))
    h, w = img.shape[:2]
    out = []
    for i in range(n):
        z = 1 + 0.15 * i / (n - 1)
        x0, y0 = (w - w / z) * (0.3 + 0.5 * i / (n - 1)), (h - h / z) * 0.4
        m = np.array([[z, 0, -x0 * z], [0, z, -y0 * z]], np.float32)
        out.append(Frame(cv2.warpAffine(img, m, (w, h)), i * 1000 / 30, i))
    return out


def _face_boxes(frames: list[Frame]) -> list[tuple[Frame, np.ndarray, np.ndarray]]:
    """Every 10th frame with a face found, and the face's landmark box (top-left and
    bottom-right corners, frame pixels)."""
    out = []
    with Landmarker(LandmarkerConfig(small_faces=False)) as lm:
        for f in frames[::10]:
            lm.new_stream()
            found = lm.detect(f)
            if found:
                h, w = f.image.shape[:2]
                xy = found[0].landmarks[:, :2] * [w, h]
                out.append((f, xy.min(0), xy.max(0)))
    return out


def _tight(frames: list[Frame]) -> list[Frame]:
    out = []
    for f, (x0, y0), (x1, y1) in _face_boxes(frames):
        half = 0.3 * max(x1 - x0, y1 - y0)
        left, top = int((x0 + x1) / 2 - half), int((y0 + y1) / 2 - half)
        cut = f.image[top : top + int(2 * half), left : left + int(2 * half)].copy()
        out.append(Frame(cut, 0.0, 0, still=True))
    return out


def _tilted(frames: list[Frame], angle: float = -65.0) -> list[Frame]:
    out = []
    for f in frames:
        h, w = f.image.shape[:2]
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(f.image, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
        out.append(Frame(img, 0.0, 0, still=True))
    return out


def _faceless(frames: list[Frame]) -> list[Frame]:
    out = []
    for f, low, high in _face_boxes(frames):
        margin = 0.2 * (high - low)  # brows to chin, ear to ear, and some
        (x0, y0), (x1, y1) = low - margin, high + margin
        img = f.image.copy()
        img[max(int(y0), 0) : int(y1), max(int(x0), 0) : int(x1)] = 0
        out.append(Frame(img, 0.0, 0, still=True))
    return out


def _run(frames: list[Frame], repeats: int, **cfg: Any) -> dict[str, float]:
    ms: list[float] = []
    faces = 0
    with Landmarker(LandmarkerConfig(**cfg)) as lm:
        lm.detect(frames[0])  # builds the graphs: not what a frame costs
        lm.new_stream()
        for _ in range(repeats):
            for frame in frames:
                t0 = time.perf_counter()
                faces += len(lm.detect(frame))
                ms.append((time.perf_counter() - t0) * 1000)
                if frame.still:  # each picture is an input of its own
                    lm.new_stream()
            lm.new_stream()
        small = lm.small
        tiles = small.search.tiles_run if small else 0
        crops = small.crops_run if small else 0
    n = len(ms)
    return {
        "mean": statistics.fmean(ms),
        "median": statistics.median(ms),
        "p95": float(np.percentile(ms, 95)),
        "faces": faces / n,
        "tiles": tiles / n,
        "crops": crops / n,
    }


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    near = _clips()
    cases = [
        ("near face, small faces off", near, {"num_faces": 2, "small_faces": False}),
        ("near face, small faces on", near, {"num_faces": 2}),
        ("near face, on, num_faces 8", near, {"num_faces": 8}),
        ("two near faces, off", _two_faces(near), {"num_faces": 2, "small_faces": False}),
        ("two near faces, on", _two_faces(near), {"num_faces": 2}),
    ]
    for name in ("group5", "group6_far"):
        frames = _pan_zoom(name)
        cases.append((f"{name}, small faces off", frames, {"num_faces": 8, "small_faces": False}))
        cases.append((f"{name}, small faces on", frames, {"num_faces": 8}))
    tight = _tight(near)
    cases.append(("tight pictures, no 2nd look", tight, {"still_second_look": 0}))
    cases.append(("tight pictures, 2nd look", tight, {}))
    tilted = _tilted(tight)
    upright = {"still_tilts_deg": [], "still_mirror_look": False}
    cases.append(("tilted tight, no turned looks", tilted, upright))
    cases.append(("tilted tight, turned looks", tilted, {}))
    faceless = _faceless(near)
    cases.append(("face blacked out, upright", faceless, upright))
    cases.append(("face blacked out, turned", faceless, {"still_mirror_look": False}))
    cases.append(("face blacked out, + mirror", faceless, {}))
    results = {label: _run(frames, repeats, **cfg) for label, frames, cfg in cases}
    base = results[cases[0][0]]["mean"]
    print(f"landmarker per frame; ratios to 'near face, small faces off' ({base:.2f} ms mean)")
    cols = (("faces", 5), ("mean", 6), ("median", 6), ("p95", 6), ("tiles", 5), ("crops", 5))
    print(f"{'case':<30} " + " ".join(f"{c:>{w}}" for c, w in cols))
    for label, r in results.items():
        print(
            f"{label:<30} {r['faces']:5.2f} {r['mean'] / base:6.2f} {r['median'] / base:6.2f} "
            f"{r['p95'] / base:6.2f} {r['tiles']:5.2f} {r['crops']:5.2f}"
        )
    if "--json" in sys.argv:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
