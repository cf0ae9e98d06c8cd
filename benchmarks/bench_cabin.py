"""Cost of the cabin stage per face (eyes, blinks, PERCLOS, yawns, attention; the aim is at
most 0.2 ms a face here), beside the whole of what follows the landmarker, on the real clips'
recorded landmarks. The clips are landmarked once; the stages after are timed over
``repeats`` passes, with every cabin event kind on (the most work), in one run, so the
ratio holds on this shared, noisy machine."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from microemo.cabin.stage import CabinStage
from microemo.config import Config
from microemo.pipeline import Pipeline
from microemo.sources.files import open_file_source

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "tests/data/crema_d/clips").glob("*.flv"))


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    config = Config()
    config.cabin.events = ["blink", "microsleep", "yawn", "distraction"]
    frames = [f for clip in CLIPS for f in open_file_source(clip)]
    with Pipeline(config) as pipe:
        recorded = [(pipe.landmarker.detect(f), f) for f in frames]
        after: list[float] = []
        cabin: list[float] = []
        alone: list[float] = []
        for r in range(repeats):
            pipe.new_stream()
            for i, (faces, frame) in enumerate(recorded):
                t0 = time.perf_counter()
                res = pipe.process_faces(faces, frame.t_ms + r * 1e5, i)
                after.append((time.perf_counter() - t0) * 1000)
                cabin.append(res.stage_ms["cabin"] / max(len(res.faces), 1))
            stage = CabinStage(config.cabin, "bench")  # the stage alone, on the same faces
            for i, (_, frame) in enumerate(recorded):
                aus = pipe.process_faces(recorded[i][0], frame.t_ms + (r + 0.5) * 1e5, i).faces
                t0 = time.perf_counter()
                stage.update(aus, frame.t_ms)
                alone.append((time.perf_counter() - t0) * 1000 / max(len(aus), 1))
    c, a, s = statistics.median(cabin), statistics.median(after), statistics.median(alone)
    print(f"frames: {len(frames)} x {repeats}, one face each")
    print(f"cabin stage a face  median {c:6.3f} ms  p95 {np.percentile(cabin, 95):6.3f} ms "
          f"(alone: median {s:6.3f} ms, p95 {np.percentile(alone, 95):6.3f} ms)")  # fmt: skip
    print(f"after landmarker    median {a:6.3f} ms  p95 {np.percentile(after, 95):6.3f} ms")
    print(f"cabin / after       {c / a:6.1%}   (aim: cabin <= 0.2 ms a face)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
