"""``microemo analyze --jobs N``: every core at work on recorded inputs.

N landmarker workers (``vision.pool``) are shared out among lanes; a lane analyses one input
at a time (``run.analyze_one``) with its own pipeline (tracker, AUs, spotter, CSV) and its
own workers:

- as many inputs as N or more: N lanes of one worker. Each input is read by one VIDEO-mode
  landmarker from its first frame to its last, as with ``--jobs 1``: identical output.
- fewer inputs than N (one long video): the workers are dealt out to the lanes, and an
  input's frames go round-robin to its lane's workers. Each worker then follows a face from
  its own previous frame, its lane's worker count back: with one face and ``num_faces``
  above one MediaPipe detects anew on every frame and nothing changes, otherwise the AU rows
  move a little (docs/cores.md has the figures).

Even with ``--jobs 1`` the landmarker runs in a worker process, so decoding, everything after
the landmarker and writing the CSV overlap it. The pictures are drawn by one more process,
never by a lane. Each input's line is printed (and its index row written) once its picture
is written, in the order the inputs were given.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from microemo.analyze.index import OutputIndex
from microemo.analyze.naming import OutputPlan
from microemo.analyze.progress import InputBar, Progress
from microemo.analyze.run import AnalyzeOptions, InputSummary, analyze_one
from microemo.config import Config
from microemo.pipeline import Pipeline

logger = logging.getLogger(__name__)

STALL_S = 120.0  # a worker stuck this long on one frame is replaced (its frame dealt again)


def lane_workers(jobs: int, inputs: int) -> list[int]:
    """Workers per lane: min(jobs, inputs) lanes sharing ``jobs`` workers."""
    lanes = max(1, min(jobs, inputs))
    return [jobs // lanes + (1 if i < jobs % lanes else 0) for i in range(lanes)]


def start_lanes(config: Config, bundle: Any, jobs: int, inputs: int) -> list[Pipeline]:
    """A pipeline per lane, every lane's workers starting at once. If one cannot start, the
    others are closed and its error raised."""

    def lane(workers: int) -> Pipeline:
        return Pipeline(
            config, bundle=bundle, workers=workers, depth=2, resubmit=True, stall_s=STALL_S
        )

    shares = lane_workers(jobs, inputs)
    with ThreadPoolExecutor(len(shares)) as ex:
        futures = [ex.submit(lane, w) for w in shares]
    pipelines = [f.result() for f in futures if f.exception() is None]
    failures = [f.exception() for f in futures if f.exception() is not None]
    if failures:
        for p in pipelines:
            p.close()
        raise failures[0]  # type: ignore[misc]
    return pipelines


class Plotter:
    """Draws the pictures in a process of its own (about 0.2 s of CPU each, matplotlib);
    ``taken(png)`` is the drawing of that picture. Not niced: the run ends only once every
    picture is written, and on a busy machine a niced process waits longest."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        self._drawing: dict[Path, Future[None]] = {}
        self._lock = threading.Lock()

    def __call__(self, png: Path, *args: Any, **kwargs: Any) -> None:
        from microemo.analyze.plot import plot_analysis

        future = self._pool.submit(plot_analysis, png, *args, **kwargs)
        with self._lock:
            self._drawing[png] = future

    def taken(self, png: Path) -> Future[None] | None:
        with self._lock:
            return self._drawing.pop(png, None)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class _Locked:
    """``Progress`` from several lanes: one call at a time (it expects one thread)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.lock = threading.RLock()

    def start(self, name: str, total: int | None) -> InputBar:
        with self.lock:
            return _LockedBar(self._progress.start(name, total), self.lock)

    def done(self, line: str) -> None:
        with self.lock:
            self._progress.done(line)

    def close(self) -> None:
        with self.lock:
            self._progress.close()


class _LockedBar:
    def __init__(self, bar: InputBar, lock: threading.RLock) -> None:
        self._bar, self._lock = bar, lock

    def advance(self, frames: int = 1) -> None:
        with self._lock:
            self._bar.advance(frames)

    def close(self) -> None:
        with self._lock:
            self._bar.close()


def run_parallel(
    plans: list[OutputPlan],
    pipelines: list[Pipeline],
    options: AnalyzeOptions,
    index: OutputIndex,
    progress: Progress,
) -> int:
    """Every input through the lanes (one pipeline each); lines printed and index rows
    written in input order as inputs finish, pictures included. The number that failed."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(plans)):
        todo.put(i)
    plotter = Plotter() if options.plot else None
    if plotter is not None:
        options = replace(options, draw=plotter)
    shown = _Locked(progress)
    finished: dict[int, InputSummary] = {}
    state = {"next": 0, "failed": 0}

    def finish(i: int, summary: InputSummary) -> None:
        with shown.lock:
            finished[i] = summary
            while state["next"] in finished:
                k = state["next"]
                index.record(plans[k], finished[k])
                state["failed"] += finished[k].error is not None
                shown.done(finished.pop(k).line())
                state["next"] += 1

    def lane(pipeline: Pipeline) -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            summary = analyze_one(plans[i], pipeline, options, shown)
            _after_picture(plotter, plans[i], summary, functools.partial(finish, i))

    threads = [threading.Thread(target=lane, args=(p,), name="analyze-lane") for p in pipelines]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if plotter is not None:
            plotter.close()  # every picture written, every line printed
    return state["failed"]


def _after_picture(
    plotter: Plotter | None,
    plan: OutputPlan,
    summary: InputSummary,
    finish: Callable[[InputSummary], None],
) -> None:
    """``finish(summary)`` once the input's picture is written (at once if there is none);
    a picture that could not be drawn fails the input, with the reason."""
    drawing = plotter.taken(plan.png) if plotter is not None else None
    if drawing is None:
        finish(summary)
        return

    def drawn(future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            summary.written = [p for p in summary.written if p != plan.png]
            if summary.error is None:
                summary.error = f"{plan.input}: the picture {plan.png} was not written: {exc}"
        finish(summary)

    drawing.add_done_callback(drawn)
