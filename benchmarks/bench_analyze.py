"""``microemo analyze`` against the landmarker alone, with one and two jobs.

Two workloads built from the six clips in tests/data:
  - many short inputs: the clips four times over (24 inputs, ~1500 frames);
  - one long video: the same frames in one file (MPEG-4, written once into a temp folder).
For each: the landmarker alone over the same frames (decoded beforehand, one landmarker,
a fresh stream per input as analyze starts one), then the whole ``microemo analyze``
process (start-up, decoding, CSV, events, pictures) with ``--jobs 1`` and ``--jobs 2``, and
``--jobs 2 --no-plot``. Printed as ratios measured in the same round; rounds are repeated
(``python benchmarks/bench_analyze.py ROUNDS``) and the spread printed, with the load average,
since this machine is shared.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from microemo.config import Config
from microemo.sources.files import open_file_source
from microemo.vision.landmarker import Landmarker

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "tests/data/crema_d/clips").glob("*.flv"))
COPIES = 4


def workloads(tmp: Path) -> dict[str, list[Path]]:
    short = tmp / "short"
    short.mkdir()
    inputs = []
    for k in range(COPIES):
        for clip in CLIPS:
            link = short / f"{clip.stem}_{k}{clip.suffix}"
            link.symlink_to(clip)
            inputs.append(link)
    long_video = tmp / "long.mp4"  # MPEG-4 part 2: decodes about as cheaply as the clips
    out = None
    for path in inputs:
        for frame in open_file_source(path):
            if out is None:
                h, w = frame.image.shape[:2]
                out = cv2.VideoWriter(str(long_video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
            out.write(frame.image)
    assert out is not None
    out.release()
    return {"24 short inputs": inputs, "one long video": [long_video]}


def landmarker_alone(inputs: list[Path]) -> tuple[float, int]:
    decoded = [list(open_file_source(p)) for p in inputs]
    with Landmarker(Config().landmarker) as lm:
        lm.detect(decoded[0][0])  # the graph is built on the first frame
        t0 = time.monotonic()
        for frames in decoded:
            lm.new_stream()
            for frame in frames:
                lm.detect(frame)
        return time.monotonic() - t0, sum(map(len, decoded))


def analyze(inputs: list[Path], out: Path, *args: str) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "microemo.cli",
            "analyze",
            *map(str, inputs),
            "--out",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"analyze failed: {proc.stderr[-2000:]}")
    return took


def one_round(name: str, inputs: list[Path], tmp: Path, r: int) -> dict[str, float]:
    load = os.getloadavg()[0]
    alone, frames = landmarker_alone(inputs)
    j1 = analyze(inputs, tmp / f"j1-{r}", "--jobs", "1")
    j2 = analyze(inputs, tmp / f"j2-{r}", "--jobs", "2")
    j2np = analyze(inputs, tmp / f"j2np-{r}", "--jobs", "2", "--no-plot")
    res = {
        "jobs1/alone": j1 / alone,
        "jobs1/jobs2": j1 / j2,
        "jobs1/jobs2 no plot": j1 / j2np,
    }
    print(
        f"  {name}: {frames} frames, load {load:.1f}->{os.getloadavg()[0]:.1f}: landmarker "
        f"alone {alone:.1f} s, analyze --jobs 1 {j1:.1f} s ({res['jobs1/alone']:.2f}x alone), "
        f"--jobs 2 {j2:.1f} s ({res['jobs1/jobs2']:.2f}x faster), --jobs 2 --no-plot "
        f"{j2np:.1f} s ({res['jobs1/jobs2 no plot']:.2f}x faster)",
        flush=True,
    )
    return res


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        work = workloads(tmp)
        got: dict[str, dict[str, list[float]]] = {n: {} for n in work}
        for r in range(rounds):
            print(f"round {r + 1} of {rounds}")
            for name, inputs in work.items():
                for k, v in one_round(name, inputs, tmp, r).items():
                    got[name].setdefault(k, []).append(v)
    print("spread over rounds (min / median / max):")
    for name, ratios in got.items():
        for k, v in ratios.items():
            print(f"  {name:<16} {k:<20} {min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
