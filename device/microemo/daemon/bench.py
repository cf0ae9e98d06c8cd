"""``microemo bench``: the daemon's own loop on a file, as fast as it can and in real time.

Passes over the same frames (the clip looped up to ``--frames``):
  1. the landmarker alone (frames decoded beforehand): the ceiling for everything else;
  2. the daemon loop as fast as it can (capture thread, one slot that waits instead of
     dropping, pipeline, sinks): fps, per-stage latency, CPU and the ratio to pass 1;
  3. the daemon loop in real time at the file's frame rate (newest-wins slot): drops and
     capture-to-result latency as a camera of that rate would see them;
  4. the same with the source twice as fast as pass 2 managed (``2 x --frames`` frames):
     latency must stay bounded and memory flat while half the frames are dropped.
CPU is process CPU time over wall time (1.0 = one core busy); peak memory is ru_maxrss.
Figures are printed, never asserted: speed depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from microemo.config import Config, ConfigError
from microemo.daemon.cli import add_common, keep_training_libraries_out, load_from_args
from microemo.daemon.loop import FrameLoop
from microemo.daemon.metrics import Latency, Metrics
from microemo.publish.events import EventBuilder
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.publish.sink import FanoutSink
from microemo.sources.base import Source
from microemo.sources.capture import Capture, FrameSlot
from microemo.sources.files import open_file_source
from microemo.sources.replay import ReplaySource
from microemo.types import Frame

SAMPLE = Path(__file__).resolve().parents[3] / "tests/data/crema_d/clips/1001_DFA_HAP_XX.flv"


class Limited:
    """A source cut after ``n`` frames."""

    def __init__(self, src: Source, n: int) -> None:
        self._src, self._left = src, n
        self.name, self.fps = src.name, src.fps

    def read(self) -> Frame | None:
        if self._left <= 0:
            return None
        self._left -= 1
        return self._src.read()

    def close(self) -> None:
        self._src.close()


def _usage() -> tuple[float, float]:
    t = psutil.Process().cpu_times()
    return time.monotonic(), t.user + t.system


def landmarker_alone(config: Config, path: str, n: int) -> dict[str, Any]:
    from microemo.vision.landmarker import Landmarker

    src = ReplaySource(lambda: open_file_source(path), realtime=False, loop=True)
    frames = [f for f in iter(Limited(src, n).read, None)]
    lat = Latency(window=n)
    with Landmarker(config.landmarker) as lm:
        lm.detect(frames[0])  # first call builds the graph; not what a frame costs
        w0, c0 = _usage()
        for frame in frames[1:]:
            t0 = time.monotonic()
            lm.detect(frame)
            lat.add((time.monotonic() - t0) * 1000.0)
        w1, c1 = _usage()
    return {
        "fps": round((len(frames) - 1) / (w1 - w0), 1),
        "ms": lat.summary(),
        "cpu_cores": round((c1 - c0) / (w1 - w0), 2),
    }


def daemon_pass(
    config: Config, path: str, n: int, realtime: bool, speed: float = 1.0
) -> dict[str, Any]:
    from microemo.daemon.wiring import initial_bundle
    from microemo.pipeline import Pipeline

    pipeline = Pipeline(config, bundle=initial_bundle(config))
    first = open_file_source(path).read()
    if first is not None:
        pipeline.process(first)  # first call builds MediaPipe's graph: not a frame's cost
        pipeline.new_stream()
    slot = FrameSlot(lossless=not realtime)

    def opener() -> Source:
        replay = ReplaySource(
            lambda: open_file_source(path), realtime=realtime, loop=True, speed=speed
        )
        return Limited(replay, n)

    cap = Capture(opener, slot, live=False)
    metrics = Metrics()
    sequence = SequenceAllocator(MemoryStore())  # bench numbers are thrown away
    events = EventBuilder(config.device.id, sequence)
    loop = FrameLoop(
        pipeline,
        FanoutSink([]),
        slot,
        events=events,
        budget_ms=config.daemon.budget_ms,
        metrics=metrics,
    )
    rss0 = psutil.Process().memory_info().rss
    w0, c0 = _usage()
    cap.start()
    while loop.step(1.0):
        pass
    loop.finish()
    sequence.close()
    w1, c1 = _usage()
    cap.stop()
    pipeline.close()
    snap = metrics.snapshot(slot.put_count, slot.dropped, cap.status())
    snap["fps"] = round(metrics.processed / (w1 - w0), 1)
    snap["cpu_cores"] = round((c1 - c0) / (w1 - w0), 2)
    snap["source_fps"] = round(cap.fps * speed, 2)
    snap["rss_growth_mb"] = round((psutil.Process().memory_info().rss - rss0) / 2**20, 1)
    return snap


def _stage_lines(snap: dict[str, Any]) -> list[str]:
    rows = [(name, s) for name, s in snap["stage_ms"].items()]
    rows.append(("whole frame", snap["frame_ms"]))
    rows.append(("capture->result", snap["frame_latency_ms"]))
    return [
        f"    {name:<16} p50 {s['p50']:7.2f}  p95 {s['p95']:7.2f}  max {s['max']:7.2f} ms"
        for name, s in rows
    ]


def report(res: dict[str, Any]) -> str:
    lm, fast, rt, ov = res["landmarker"], res["fast"], res["realtime"], res["overload"]
    out = [
        f"microemo bench: {res['source']} ({res['frames']} frames, "
        f"{res['cpu_count']} cores, load {res['load']})",
        f"  landmarker alone     {lm['fps']:6.1f} fps  p50 {lm['ms']['p50']:.2f} ms  "
        f"p95 {lm['ms']['p95']:.2f} ms  cpu {lm['cpu_cores']:.2f} cores",
        f"  daemon, flat out     {fast['fps']:6.1f} fps  = {res['ratio']:.0%} of the landmarker "
        f"alone  cpu {fast['cpu_cores']:.2f} cores  dropped {fast['frames_dropped']}",
        f"    landmarker p50 / whole frame p50 = {res['ratio_in_pass']:.0%} (same pass)",
        *_stage_lines(fast),
        f"  daemon, real time    {rt['fps']:6.1f} fps of {rt['source_fps']:.2f}  dropped "
        f"{rt['frames_dropped']}/{rt['frames_captured']}  over budget {rt['over_budget']}  "
        f"cpu {rt['cpu_cores']:.2f} cores",
        *_stage_lines(rt),
        f"  source 2x too fast   {ov['fps']:6.1f} fps of {ov['source_fps']:.1f}  dropped "
        f"{ov['frames_dropped']}/{ov['frames_captured']}  capture->result p95 "
        f"{ov['frame_latency_ms']['p95']:.1f} ms max {ov['frame_latency_ms']['max']:.1f} ms  "
        f"memory {ov['rss_growth_mb']:+.1f} MB over the pass",
        f"  peak memory          {res['peak_rss_mb']:.0f} MB",
    ]
    return "\n".join(out)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure the daemon loop on a file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("--frames", type=int, default=200, help="frames per pass (clip looped)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    keep_training_libraries_out()
    try:
        config, _ = load_from_args(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    path = config.source.path if config.source.type in ("file", "frames") else ""
    path = path or str(SAMPLE)
    n = max(10, args.frames)
    res: dict[str, Any] = {
        "source": path,
        "frames": n,
        "cpu_count": psutil.cpu_count(),
        "load": round(psutil.getloadavg()[0], 2),
    }
    res["landmarker"] = landmarker_alone(config, path, n)
    res["fast"] = daemon_pass(config, path, n, realtime=False)
    res["realtime"] = daemon_pass(config, path, n, realtime=True)
    res["ratio"] = round(res["fast"]["fps"] / res["landmarker"]["fps"], 3)
    # the same ratio within one pass: immune to load that changed between passes
    fast = res["fast"]
    res["ratio_in_pass"] = round(
        fast["stage_ms"]["landmarker"]["p50"] / max(fast["frame_ms"]["p50"], 1e-9), 3
    )
    src_fps = res["realtime"]["source_fps"] or 30.0
    res["overload"] = daemon_pass(config, path, 2 * n, True, 2 * res["fast"]["fps"] / src_fps)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(res, indent=2) if args.json else report(res))
    return 0
