"""``microemo bench``: what this board sustains, with 1 to N landmarker workers.

Passes over the same clip (looped up to ``--frames`` frames a pass):
  1. the landmarker alone, in this process, frames decoded beforehand: the yardstick. Its
     median time per frame is the "frame time" latencies are also given in;
  2. for each number of workers K (``--workers``, default 1 to the number of cores), the
     daemon's own loop (capture thread, slot, feeder, workers, everything after the
     landmarker, sinks) on three sources:
       flat out    the clip as fast as the loop takes it (nothing dropped): fps and its
                   ratio to the landmarker alone;
       real time   the clip at its own frame rate, as a camera of that rate;
       200 fps     the clip's frames 5 ms apart, as a 200-fps camera: what is dropped and
                   how long a result takes when the source outruns the board.
Reported per pass: frames per second, cores busy (CPU time of this process and its workers
over wall time: 1.0 = one core), frames dropped, capture->result latency p50/p95, memory
growth. Figures are printed, never asserted: speed depends on the machine and its load (the
load average is printed before and after).
"""

from __future__ import annotations

import argparse
import json
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
FAST_FPS = 200.0
SOURCES = ("flat out", "real time", f"{FAST_FPS:.0f} fps")


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


class Retimed:
    """A recorded source read as if filmed at ``fps``: frame i at i / fps seconds."""

    def __init__(self, src: Source, fps: float) -> None:
        self._src, self.fps, self.name = src, fps, src.name

    def read(self) -> Frame | None:
        frame = self._src.read()
        if frame is not None:
            frame.t_ms = frame.index * 1000.0 / self.fps
        return frame

    def close(self) -> None:
        self._src.close()


def _usage(pids: list[int] = []) -> tuple[float, float]:  # noqa: B006 - read only
    """(monotonic now, CPU seconds of this process and of ``pids`` so far)."""
    cpu = 0.0
    for p in [psutil.Process(), *(psutil.Process(pid) for pid in pids)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        cpu += t.user + t.system
    return time.monotonic(), cpu


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


def _opener(path: str, n: int, kind: str) -> Any:
    def opener() -> Source:
        if kind == SOURCES[2]:
            replay = ReplaySource(
                lambda: Retimed(open_file_source(path), FAST_FPS), realtime=True, loop=True
            )
        else:
            realtime = kind == SOURCES[1]
            replay = ReplaySource(lambda: open_file_source(path), realtime=realtime, loop=True)
        return Limited(replay, n)

    return opener


def daemon_pass(pipeline: Any, config: Config, path: str, n: int, kind: str) -> dict[str, Any]:
    """The daemon's loop over ``n`` frames of ``kind`` (one of ``SOURCES``)."""
    slot = FrameSlot(lossless=kind == SOURCES[0])
    cap = Capture(_opener(path, n, kind), slot, live=False)
    metrics = Metrics()
    sequence = SequenceAllocator(MemoryStore())  # bench numbers are thrown away
    loop = FrameLoop(
        pipeline,
        FanoutSink([]),
        slot,
        events=EventBuilder(config.device.id, sequence),
        budget_ms=config.daemon.budget_ms,
        metrics=metrics,
    )
    pids = pipeline.pool.pids() if pipeline.pool is not None else []
    rss0 = psutil.Process().memory_info().rss
    w0, c0 = _usage(pids)
    m0 = _usage()[1]
    cap.start()
    while loop.step(1.0):
        pass
    w1, c1 = _usage(pids)
    m1 = _usage()[1]
    loop.finish()
    sequence.close()
    cap.stop()
    pipeline.new_stream()
    lost = pipeline.pool.lost + pipeline.pool.dropped if pipeline.pool is not None else 0
    snap = metrics.snapshot(slot.put_count, slot.dropped + lost, cap.status())
    snap["fps"] = round(metrics.processed / (w1 - w0), 1)
    snap["cpu_cores"] = round((c1 - c0) / (w1 - w0), 2)
    snap["cpu_ms_per_frame_here"] = round((m1 - m0) * 1000.0 / max(metrics.processed, 1), 2)
    snap["source_fps"] = round(FAST_FPS if kind == SOURCES[2] else cap.fps, 2)
    snap["rss_growth_mb"] = round((psutil.Process().memory_info().rss - rss0) / 2**20, 1)
    return snap


def workers_passes(config: Config, path: str, n: int, k: int) -> dict[str, Any]:
    """The three passes with ``k`` workers, each with the pipeline the daemon would build
    for that source (``wiring.default_pipeline``)."""
    from microemo.daemon.wiring import default_pipeline, initial_bundle

    out = {}
    for kind in SOURCES:
        cfg = config.model_copy(
            update={
                "source": config.source.model_copy(
                    update={"type": "file", "path": path, "realtime": kind != SOURCES[0]}
                ),
                "landmarker": config.landmarker.model_copy(update={"workers": k}),
            }
        )
        pipeline: Any = default_pipeline(cfg, bundle=initial_bundle(cfg))
        try:
            first = open_file_source(path).read()
            if first is not None:
                pipeline.process(first)  # the first frame builds each graph: not its cost
                pipeline.new_stream()
            out[kind] = daemon_pass(pipeline, cfg, path, n, kind)
        finally:
            pipeline.close()
    return out


def report(res: dict[str, Any]) -> str:
    lm = res["landmarker"]
    ft = lm["ms"]["p50"] or 1.0
    out = [
        f"microemo bench: {res['source']} ({res['frames']} frames a pass, {res['cpu_count']} "
        f"cores, load {res['load'][0]} before, {res['load'][1]} after)",
        f"  landmarker alone  {lm['fps']:6.1f} fps  p50 {ft:.2f} ms  p95 "
        f"{lm['ms']['p95']:.2f} ms  cpu {lm['cpu_cores']:.2f} cores",
        "  K  source        fps  x alone  cores  dropped   landmarker   capture->result p50 / p95"
        " (in landmarker passes of that run)",
    ]
    for k, passes in res["workers"].items():
        for kind, s in passes.items():
            lat = s["frame_latency_ms"]
            own = s["stage_ms"].get("landmarker", {}).get("p50") or ft
            out.append(
                f"  {k:<2} {kind:<10} {s['fps']:6.1f}  {s['fps'] / lm['fps']:6.2f}x  "
                f"{s['cpu_cores']:5.2f}  {s['frames_dropped']:4d}/{s['frames_captured']:<4d} "
                f"{own:6.2f} ms   {lat['p50']:6.1f} / {lat['p95']:6.1f} ms = "
                f"{lat['p50'] / own:4.1f} / {lat['p95'] / own:4.1f}   "
                f"mem {s['rss_growth_mb']:+.0f} MB"
            )
        st = passes[SOURCES[0]]["stage_ms"]
        after = {k2: v["p50"] for k2, v in st.items() if k2 != "landmarker"}
        out.append(
            "     after the landmarker (flat out, p50 ms): "
            + ", ".join(f"{k2} {v:.2f}" for k2, v in after.items())
            + f"  = {sum(after.values()):.2f} ms; CPU of this process (capture, feeder, all "
            f"after the landmarker): {passes[SOURCES[0]]['cpu_ms_per_frame_here']:.2f} ms a frame"
        )
    return "\n".join(out)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure the daemon loop on a file with 1..N landmarker workers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("--frames", type=int, default=200, help="frames per pass (clip looped)")
    p.add_argument(
        "--workers", type=str, default="", help="worker counts to try, e.g. 1,2,4 (1..cores)"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def _counts(text: str) -> list[int]:
    try:
        ks = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        ks = [0]
    if any(k < 1 for k in ks):
        raise ConfigError(f"--workers {text}: worker counts of 1 or more, e.g. --workers 1,2,4")
    return ks


def run(args: argparse.Namespace) -> int:
    from microemo.vision.pool import worker_count

    keep_training_libraries_out()
    try:
        config, _ = load_from_args(args)
        ks = _counts(args.workers)
    except ConfigError as exc:
        print(f"microemo bench: {exc}", file=sys.stderr)
        return 2
    path = config.source.path if config.source.type in ("file", "frames") else ""
    path = path or str(SAMPLE)
    n = max(10, args.frames)
    ks = ks or list(range(1, worker_count(0) + 1))
    res: dict[str, Any] = {"source": path, "frames": n, "cpu_count": psutil.cpu_count()}
    load0 = round(psutil.getloadavg()[0], 2)
    res["landmarker"] = landmarker_alone(config, path, n)
    res["workers"] = {k: workers_passes(config, path, n, k) for k in ks}
    res["load"] = [load0, round(psutil.getloadavg()[0], 2)]
    print(json.dumps(res, indent=2) if args.json else report(res))
    return 0
