"""What the mouth's channels add to the per-frame cost after the landmarker, on the real
clips: optical flow at all ``FLOW_POINTS`` against the same flow at the brow, lid and nose
points only (as before the mouth was followed), and the per-face articulation model
(``vision.mouth``: mouth_step, mesh_signals, Articulation) beside the whole ``FlowAU``.

Medians of the same run and their ratios (the machine is shared and noisy: compare ratios).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from microemo.config import Config
from microemo.sources.files import open_file_source
from microemo.vision import flow as flow_mod
from microemo.vision.landmarker import Landmarker
from microemo.vision.mouth import Articulation, mesh_signals, mouth_step

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "tests/data/crema_d/clips").glob("*.flv"))
UPPER_ONLY = np.r_[flow_mod.FLOW_POINTS[: flow_mod._N_MOVING], flow_mod.FLOW_POINTS[-3:]]


def _timed(fn: Callable[..., object], *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1000.0


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    frames = [f for clip in CLIPS for f in open_file_source(clip)]
    with Landmarker(Config().landmarker) as lm:
        faces = [lm.detect(f) for f in frames]
    cost: dict[str, list[float]] = {"flow all": [], "flow upper": [], "FlowAU": [], "mouth": []}
    for _ in range(repeats):
        for points, key in ((flow_mod.FLOW_POINTS, "flow all"), (UPPER_ONLY, "flow upper")):
            saved = flow_mod.FLOW_POINTS
            flow_mod.FLOW_POINTS = points  # the meter reads the module's point list
            meter = flow_mod.FlowMeter()
            for frame, fs in zip(frames, faces, strict=True):
                cost[key].append(_timed(meter.measure, frame.image, fs))
            flow_mod.FLOW_POINTS = saved
        meter, fau = flow_mod.FlowMeter(), flow_mod.FlowAU(1000.0, 0.02)
        art = Articulation(1000.0, 20_000.0, 0.02)
        for frame, fs in zip(frames, faces, strict=True):
            meter.measure(frame.image, fs)
            for obs in fs[:1]:
                cost["FlowAU"].append(_timed(fau, 0, obs, frame.t_ms))
                t0 = time.perf_counter()
                d = obs.flow
                step = (
                    None
                    if d is None
                    else mouth_step(d[flow_mod._MOUTH], obs.landmarks, obs.image_size)
                )
                art(step, mesh_signals(obs.landmarks, obs.image_size), frame.t_ms)
                cost["mouth"].append((time.perf_counter() - t0) * 1000.0)
    med = {k: statistics.median(v) for k, v in cost.items()}
    print(f"{len(frames)} frames x {repeats}, one face, 480x360; medians in ms")
    for k, v in med.items():
        print(f"  {k:11s} {v:.3f}")
    print(f"  flow all / flow upper: {med['flow all'] / med['flow upper']:.2f}")
    added = med["flow all"] - med["flow upper"] + med["mouth"]
    print(f"  added by the mouth (flow points + model): {added:.3f} ms a frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
