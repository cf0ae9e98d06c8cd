"""Per-frame cost of the landmarker and of everything after it, on the real clips.

Prints both medians and their ratio, measured in the same run (this machine is shared and
noisy: compare ratios, not absolute figures). Also the cost per window of the default CNN.
"after landmarker" includes the appearance model at its configured rate
(``model.appearance_hz``); ``bench_appearance.py`` times it per face.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from microemo.config import Config
from microemo.pipeline import Pipeline
from microemo.sources.files import open_file_source

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "tests/data/crema_d/clips").glob("*.flv"))


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    frames = [f for clip in CLIPS for f in open_file_source(clip)]
    bundle = None
    default = ROOT / "models" / "default"
    if (default / "manifest.json").exists():
        from microemo.model.bundle import load_bundle

        bundle = load_bundle(default, require_signature=False)
    land: list[float] = []
    post: list[float] = []
    stages: dict[str, list[float]] = {}
    with Pipeline(Config(), bundle=bundle) as pipe:
        recorded = []
        for frame in frames:  # warm-up and a recording of the landmarker's output
            recorded.append((pipe.landmarker.detect(frame), frame))
        for r in range(repeats):
            pipe.new_stream()
            for frame in frames:
                t0 = time.perf_counter()
                pipe.landmarker.detect(frame)
                land.append((time.perf_counter() - t0) * 1000)
            pipe.new_stream()
            for i, (faces, frame) in enumerate(recorded):
                t0 = time.perf_counter()
                if pipe.flow is not None:  # optical flow at the landmarks, as process() does
                    pipe.flow.measure(frame.image, faces)
                t1 = time.perf_counter()
                res = pipe.process_faces(faces, frame.t_ms + r * 1e5, i, frame.image)
                post.append((time.perf_counter() - t0) * 1000)
                stages.setdefault("flow", []).append((t1 - t0) * 1000)
                for k, v in res.stage_ms.items():
                    stages.setdefault(k, []).append(v)
    lm, pp = statistics.median(land), statistics.median(post)
    print(f"frames: {len(frames)} x {repeats}, model: {pipe.model_info['name']}")
    print(f"landmarker          median {lm:7.3f} ms  p95 {np.percentile(land, 95):7.3f} ms")
    print(f"after landmarker    median {pp:7.3f} ms  p95 {np.percentile(post, 95):7.3f} ms")
    for k, v in stages.items():
        print(f"  {k:<17} median {statistics.median(v):7.3f} ms  p95 {np.percentile(v, 95):7.3f}")
    print(
        f"ratio after/landmarker: {pp / lm:.3f}  -> pipeline runs at "
        f"{100 * lm / (lm + pp):.1f}% of the landmarker's own rate"
    )
    if bundle is not None:
        from microemo.model.runner import CnnClassifier
        from microemo.vision.features import FRAME_FEATURES

        cnn = CnnClassifier(bundle)
        w = (
            np.random.default_rng(0)
            .random((bundle.manifest.window_frames, len(FRAME_FEATURES)))
            .astype(np.float32)
        )
        for _ in range(50):
            cnn.predict(w)
        t0 = time.perf_counter()
        n = 2000
        for _ in range(n):
            cnn.predict(w)
        per = (time.perf_counter() - t0) * 1000 / n
        size = sum(p.stat().st_size for p in default.iterdir())
        print(f"CNN per window      {per:7.3f} ms  bundle {size / 1024:.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
