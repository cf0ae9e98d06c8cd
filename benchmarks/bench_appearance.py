"""What the appearance model adds per face: the aligned crop, the int8 CNN, the fusion with
the AU prototypes, each timed on real faces (the CREMA-D clips), against the landmarker in
the same run; and per frame at the configured reading rate. ``bench_appearance.py [N]
[FOLDER]`` times another model folder (e.g. one with more views of the crop).

The boards are slower per core than this machine: the figures are projected to a Pi 4 with
the factor DESIGN.md's budgets and docs/cores.md use (a Pi 5 is 2-3x slower a core than this
machine, a Pi 4 about twice a Pi 5: x5 here, a projection, not a measurement).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from microemo.config import Config, LandmarkerConfig
from microemo.emotion.classify import EmotionClassifier
from microemo.emotion.rules import core_scores
from microemo.model.appearance import load_appearance
from microemo.sources.files import open_file_source
from microemo.vision.landmarker import StillLandmarker

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "tests/data/crema_d/clips").glob("*.flv"))
PI4 = 5.0


def _median_ms(fn, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    model = load_appearance(sys.argv[2] if len(sys.argv) > 2 else "builtin")  # or a folder
    assert model is not None
    frames = [f.image for clip in CLIPS for f in list(open_file_source(clip))[::10]]
    lm = StillLandmarker(LandmarkerConfig(small_faces=False))
    faces = []
    land = []
    for image in frames:
        t0 = time.perf_counter()
        found = lm.detect(image)
        land.append((time.perf_counter() - t0) * 1000)
        faces += [(image, f.landmarks) for f in found]
    classifier = EmotionClassifier(None, model)
    fusion = classifier._fusion
    assert fusion is not None
    crops = [model.crop(im, lmk) for im, lmk in faces]
    k = iter(range(10**9))

    def pick():
        return faces[next(k) % len(faces)]

    crop = _median_ms(lambda: model.crop(*pick()), n)
    cnn = _median_ms(lambda: model.log_probs(crops[next(k) % len(crops)]), n)
    intensity = np.full(19, 0.8, np.float32)
    logp = model.log_probs(crops[0])
    fuse = _median_ms(lambda: fusion(logp, core_scores(intensity), 0.3), n)
    total = crop[0] + cnn[0] + fuse[0]
    landmarker = statistics.median(land)
    hz = Config().model.appearance_hz
    per_frame = total * min(1.0, hz / 30.0) if hz > 0 else total
    passes = len(model.views) + sum(model.flips)
    print(
        f"faces: {len(faces)} from {len(frames)} frames, model {model.manifest.name} "
        f"{model.manifest.version} ({model.runtime}): {len(model.views)} views of the crop, "
        f"{passes} CNN passes a reading"
    )
    for name, (med, p95) in (("crop", crop), ("int8 CNN", cnn), ("fusion", fuse)):
        print(f"  {name:<9} median {med:6.3f} ms  p95 {p95:6.3f} ms")
    print(
        f"per reading {total:.3f} ms a face = {total / landmarker:.3f} x the landmarker "
        f"({landmarker:.2f} ms a frame here, same run)"
    )
    print(
        f"at 30 fps and {hz:g} readings a second: {per_frame:.3f} ms a face a frame; "
        f"projected to a Pi 4 (x{PI4:g}): {per_frame * PI4:.2f} ms a face a frame, "
        f"{total * PI4:.2f} ms a reading"
    )
    lm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
