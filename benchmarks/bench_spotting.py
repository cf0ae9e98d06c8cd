"""What the spotter costs a face a frame (``Spotter.update``), with episodes per face region
and on top of held ones (``spotting.overlap``, the default) against one episode per face
(``overlap = false``, the spotter as it was), on recorded real AU series (the device
pipeline on CREMA-D talking faces: tests/data/spotting_au_series.npz) with flow channels,
and the same series with brief bumps in the brows and the mouth so that episodes are open.

Medians of the same run and their ratio (the machine is shared and noisy: compare ratios).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from microemo.config import SpottingConfig
from microemo.emotion.spotting import Spotter
from microemo.types import AU_INDEX, AU_NAMES, AUFrame

SERIES = Path(__file__).resolve().parents[1] / "tests" / "data" / "spotting_au_series.npz"


def frames(bumps: bool) -> list[AUFrame]:
    d = np.load(SERIES)
    out = []
    rng = np.random.default_rng(0)
    for name in ("NEU", "ANG"):
        t, x = d[f"{name}_t_ms"], d[f"{name}_intensity"].astype(np.float32)
        if bumps:  # a 300-ms rise every 1.3 s, brows and mouth in turn
            for k, on in enumerate(np.arange(1500.0, t[-1] - 500.0, 1300.0)):
                au = AU_INDEX[1] if k % 2 else AU_INDEX[12]
                x[:, au] += (3.0 * ((t > on) & (t < on + 300.0))).astype(np.float32)
        for i in range(len(t)):
            face = SimpleNamespace(pose_r_rad=d[f"{name}_pose_r_rad"][i])
            au = AUFrame(0, float(t[i]), x[i], x[i] > 1, np.zeros(0), face, True)
            au.motion = np.abs(rng.normal(0, 0.3, len(AU_NAMES))).astype(np.float32)
            out.append(au)
    return out


def per_frame_us(series: list[AUFrame], overlap: bool, repeats: int) -> list[float]:
    costs = []
    for _ in range(repeats):
        sp = Spotter(SpottingConfig(overlap=overlap))
        for au in series:
            t0 = time.perf_counter()
            sp.update(au)
            costs.append((time.perf_counter() - t0) * 1e6)
    return costs


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print("Spotter.update, one face, microseconds a frame (median):")
    for bumps in (False, True):
        series = frames(bumps)
        on = statistics.median(per_frame_us(series, True, repeats))
        off = statistics.median(per_frame_us(series, False, repeats))
        what = "with episodes" if bumps else "talking, no episode"
        print(f"  {what:20} overlap {on:6.1f}  one per face {off:6.1f}  ratio {on / off:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
