"""What the status page costs the daemon: frames per second with it off, on with nobody
looking, and on with a page open (its live stream, the camera preview at 2 pictures a
second) and Prometheus scraping /metrics every second. Interleaved rounds on one machine
whose load comes and goes (as in bench_cores.py); each round gives its own ratios.

    python benchmarks/bench_status.py [ROUNDS] [FRAMES]

Each pass is the real daemon (``daemon.service.Daemon``: capture thread, feeder, landmarker
workers, everything after them, the status server when on) over the sample clip replayed
flat out (nothing dropped), timed over FRAMES frames after a warm-up. The pipeline is built
once and shared by the passes. Printed: fps, its ratio to the pass with the page off in the
same round; the frame loop thread's own CPU time per frame (what the page may add to the
critical path: the tap on every frame, the snapshot every ``status.interval_s``); and the
CPU time per frame of the rest of the daemon's process (capture, feeder, the status server's
threads; the landmarker workers are other processes). On a shared machine the frame rate
swings with others' load; the CPU times are steadier.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

import numpy as np
import psutil

from microemo.config import Config, load_config
from microemo.daemon.bench import SAMPLE
from microemo.daemon.cli import keep_training_libraries_out
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon
from microemo.daemon.wiring import default_pipeline, initial_bundle

WARM = 20
HANDOVER: list[str] = []  # the tap's and the snapshot's own cost, from each "on" pass
MODES = ("off", "on", "on+page")


def handover_costs(daemon: Daemon, result: Any) -> str:
    """The frame loop's own share, timed on its own (CPU time of this thread): the tap on
    every frame, and every ``status.interval_s`` the daemon's figures (``snapshot()``) and
    the board's ``publish``."""
    from microemo.daemon.status.board import StatusBoard
    from microemo.types import Frame

    board = StatusBoard(preview_fps=2.0)
    frame = Frame(np.zeros((480, 640, 3), np.uint8), 0.0, 0)
    t0 = time.thread_time()
    for _ in range(100_000):
        board.tap(frame, result)
    tap_us = (time.thread_time() - t0) * 1e6 / 100_000
    t0 = time.thread_time()
    for _ in range(200):
        snap = daemon.snapshot()
    snapshot_us = (time.thread_time() - t0) * 1e6 / 200
    t0 = time.thread_time()
    for _ in range(200):
        board.publish(snap, daemon.metrics)
    publish_us = (time.thread_time() - t0) * 1e6 / 200
    return (
        f"tap {tap_us:.2f} us a frame; every status.interval_s the daemon's figures "
        f"{snapshot_us:.0f} us + publish {publish_us:.0f} us"
    )


class Kept:
    """The shared pipeline; the daemon's ``close`` at the end of a pass leaves it running."""

    def __init__(self, pipeline: Any) -> None:
        self._p = pipeline

    def __getattr__(self, name: str) -> Any:
        return getattr(self._p, name)

    def close(self) -> None:
        while not self._p.idle:  # the frames still with the workers (the pass stopped mid-clip)
            self._p.collect(0.5)
        self._p.new_stream()


class Page:
    """A browser's load on the server: the live stream read as it comes, the preview every
    half second, and a Prometheus scrape every second."""

    def __init__(self, url: str) -> None:
        self.url, self.stop, self.bytes = url, threading.Event(), 0
        self._threads = [
            threading.Thread(target=self._stream, daemon=True),
            threading.Thread(target=self._poll, args=("/preview.jpg", 0.5), daemon=True),
            threading.Thread(target=self._poll, args=("/metrics", 1.0), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _stream(self) -> None:
        with urllib.request.urlopen(self.url + "/events", timeout=30) as r:
            while not self.stop.is_set():
                self.bytes += len(r.readline())

    def _poll(self, path: str, every_s: float) -> None:
        while not self.stop.wait(every_s):
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                self.bytes += len(r.read())

    def close(self) -> None:
        self.stop.set()


def one_pass(config: Config, pipeline: Kept, mode: str, n: int, port: int) -> dict[str, float]:
    cfg = config.model_copy(
        update={"status": config.status.model_copy(update={"enabled": mode != "off"})}
    )
    daemon = Daemon(cfg, notifier=Notifier({}), pipeline_factory=lambda c, **kw: pipeline)
    daemon.start()
    runner = threading.Thread(target=daemon.run)
    runner.start()
    page = None
    try:
        while daemon.metrics.processed < WARM:
            time.sleep(0.005)
        if mode == "on+page":
            page = Page(f"http://127.0.0.1:{port}")
        me = psutil.Process()
        assert runner.ident is not None
        loop_clock = time.pthread_getcpuclockid(runner.ident)
        t0, f0, c0 = time.monotonic(), daemon.metrics.processed, sum(me.cpu_times()[:2])
        l0 = time.clock_gettime(loop_clock)
        while daemon.metrics.processed < f0 + n:
            time.sleep(0.005)
        t1, f1, c1 = time.monotonic(), daemon.metrics.processed, sum(me.cpu_times()[:2])
        l1 = time.clock_gettime(loop_clock)
    finally:
        if page is not None:
            page.close()
        board = daemon.status.board if daemon.status is not None else None
        daemon.request_stop("pass over")
        runner.join()
    latest = board.latest() if board is not None else None
    if mode == "on" and latest is not None:  # (the figures read once the loop stopped)
        HANDOVER.append(handover_costs(daemon, latest[1]))
    frames = f1 - f0
    return {
        "fps": frames / (t1 - t0),
        "loop_ms": (l1 - l0) * 1000.0 / frames,
        "rest_ms": ((c1 - c0) - (l1 - l0)) * 1000.0 / frames,
    }


def main() -> int:
    keep_training_libraries_out()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    port = 19180 + os.getpid() % 1000
    state = tempfile.mkdtemp(prefix="bench-status-")
    config = load_config(
        "firmware_config/desktop.toml",
        {
            "source.type": "file",
            "source.path": str(SAMPLE),
            "source.realtime": False,
            "source.loop": True,
            "device.state_dir": state,
            "output.jsonl": "",
            "status.port": port,
            "status.preview": True,
        },
    )
    pipeline = Kept(default_pipeline(config, bundle=initial_bundle(config)))
    load0 = os.getloadavg()[0]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    try:
        for r in range(rounds):
            order = MODES[r % 3 :] + MODES[: r % 3]  # each mode first in turn: no order bias
            got = {m: one_pass(config, pipeline, m, n, port) for m in order}
            for m in MODES:
                results[m].append(got[m])
            print(
                f"round {r + 1}: "
                + "  ".join(
                    f"{m} {got[m]['fps']:.1f} fps ({got[m]['fps'] / got['off']['fps']:.2f}x), "
                    f"loop {got[m]['loop_ms']:.3f} + rest {got[m]['rest_ms']:.3f} ms CPU/frame"
                    for m in MODES
                ),
                flush=True,
            )
    finally:
        pipeline._p.close()
    print(
        f"status bench: {SAMPLE.name} flat out, {n} frames a pass, {rounds} rounds, "
        f"{psutil.cpu_count()} cores, load {load0:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(f"  hand-over on the frame loop thread (timed alone): {HANDOVER[-1]}")
    for m in MODES:
        ratios = [g["fps"] / o["fps"] for g, o in zip(results[m], results["off"])]
        fps = [g["fps"] for g in results[m]]
        loop = [g["loop_ms"] / o["loop_ms"] for g, o in zip(results[m], results["off"])]
        rest = [g["rest_ms"] - o["rest_ms"] for g, o in zip(results[m], results["off"])]
        print(
            f"  {m:<8} {statistics.median(fps):6.1f} fps, ratio to off "
            f"{statistics.median(ratios):.3f} (rounds {min(ratios):.2f}-{max(ratios):.2f}); "
            f"frame loop CPU/frame {statistics.median(loop):.3f}x off "
            f"({min(loop):.3f}-{max(loop):.3f}); rest of the process "
            f"{statistics.median(rest):+.3f} ms CPU/frame ({min(rest):+.3f} to {max(rest):+.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
