"""The daemon with 1 and 2 landmarker workers against one landmarker alone, interleaved.

This machine is shared: load from other work comes and goes over seconds, so passes run one
after another measure different machines. Here the passes alternate in short rounds (the
landmarker alone over N pre-decoded frames, then the daemon's loop flat out with K = 1 and
K = 2 over N frames of the same clip, then the daemon's loop on a 200-fps source with
K = 2), each round gives its ratios, and the rounds' spread is printed with the load:

    python benchmarks/bench_cores.py [ROUNDS] [FRAMES]

The daemon passes are ``microemo bench``'s own (``daemon.bench.daemon_pass``), with the
pipelines the daemon builds (``daemon.wiring.default_pipeline``), kept across rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

from microemo.config import Config, load_config
from microemo.daemon.bench import SAMPLE, SOURCES, Limited, daemon_pass
from microemo.daemon.cli import keep_training_libraries_out
from microemo.daemon.wiring import default_pipeline, initial_bundle
from microemo.sources.files import open_file_source
from microemo.sources.replay import ReplaySource


def pipeline_for(config: Config, workers: int, lossless: bool) -> Any:
    cfg = config.model_copy(
        update={
            "source": config.source.model_copy(
                update={"type": "file", "path": str(SAMPLE), "realtime": not lossless}
            ),
            "landmarker": config.landmarker.model_copy(update={"workers": workers}),
        }
    )
    pipeline = default_pipeline(cfg, bundle=initial_bundle(cfg))
    first = open_file_source(SAMPLE).read()
    assert first is not None
    pipeline.process(first)  # every worker's graph built
    pipeline.new_stream()
    return cfg, pipeline


def main() -> int:
    keep_training_libraries_out()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    from microemo.vision.landmarker import Landmarker

    config = load_config("firmware_config/desktop.toml")
    src = ReplaySource(lambda: open_file_source(SAMPLE), realtime=False, loop=True)
    frames = list(iter(Limited(src, n).read, None))
    passes = {
        "K=1 flat out": pipeline_for(config, 1, True),
        "K=2 flat out": pipeline_for(config, 2, True),
        "K=2 200 fps": pipeline_for(config, 2, False),
    }
    got: dict[str, list[float]] = {}
    with Landmarker(config.landmarker) as alone:
        alone.detect(frames[0])
        for r in range(rounds):
            load = os.getloadavg()[0]
            t0 = time.monotonic()
            for frame in frames:
                alone.detect(frame)
            fps_alone = n / (time.monotonic() - t0)
            ft = 1000.0 / fps_alone  # one landmarker pass, alone, this round
            line = [f"round {r + 1}: load {load:.1f}, alone {fps_alone:.0f} fps"]
            for name, (cfg, pipeline) in passes.items():
                kind = SOURCES[2] if "200" in name else SOURCES[0]
                s = daemon_pass(pipeline, cfg, str(SAMPLE), n, kind)
                ratio, p95 = s["fps"] / fps_alone, s["frame_latency_ms"]["p95"] / ft
                got.setdefault(f"{name} x alone", []).append(ratio)
                got.setdefault(f"{name} p95 in frame times", []).append(p95)
                line.append(f"{name} {ratio:.2f}x (p95 {p95:.1f} ft, {s['cpu_cores']:.2f} cores)")
            print(" | ".join(line), flush=True)
    for _, pipeline in passes.values():
        pipeline.close()
    print("spread over rounds (min / median / max):")
    for key, v in got.items():
        print(f"  {key:<28} {min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
