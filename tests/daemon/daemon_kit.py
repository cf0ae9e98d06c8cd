"""Helpers of the daemon tests: a fake pipeline with the Pipeline interface, a sink that
keeps what it gets, an event builder, and the repository's root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.conftest import FakeClock

from microemo.publish.events import EventBuilder
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.types import Classification, EpisodeStep, Frame, FrameResult

REPO = Path(__file__).resolve().parents[2]


def builder(device_id: str = "test") -> EventBuilder:
    """The frame loop's event builder, numbering from 1 in memory."""
    return EventBuilder(device_id, SequenceAllocator(MemoryStore()))


def start_step(episode_id: str, t_ms: float) -> EpisodeStep:
    """The ``start`` of an episode on face 0, classified by the rules."""
    cls = Classification(core="neutral", core_source="rules", core_score=1.0)
    return EpisodeStep("start", episode_id, 0, t_ms, t_ms, None, None, cls, {}, {})


class FakePipeline:
    """The Pipeline interface; each frame costs ``cost_s`` (on the fake clock when given, else
    really sleeping) and every ``event_every``-th frame starts an episode (one event)."""

    def __init__(self, cost_s: float, clock: FakeClock | None = None, event_every: int = 10):
        self.cost_s = cost_s
        self.clock = clock
        self.event_every = event_every
        self.seen: list[Frame] = []
        self.finished_at: float | None = None
        self.model_info: dict[str, Any] = {"name": "fake", "version": "0", "sha256": None}
        self.appearance_info: dict[str, Any] | None = None

    def process(self, frame: Frame) -> FrameResult:
        import time

        if self.clock is not None:
            self.clock.advance(self.cost_s)
        else:
            time.sleep(self.cost_s)
        self.seen.append(frame)
        steps = []
        if len(self.seen) % self.event_every == 0:
            steps.append(start_step(f"e{len(self.seen)}", frame.t_ms))
        return FrameResult(
            frame_index=frame.index,
            t_ms=frame.t_ms,
            steps=steps,
            stage_ms={"landmarker": self.cost_s * 1000.0},
        )

    def finish(self, t_ms: float | None = None) -> list[EpisodeStep]:
        self.finished_at = t_ms
        return []

    def expire(self, t_ms: float) -> list[EpisodeStep]:
        return []

    def swap_model(self, bundle: Any) -> None:
        return None

    def close(self) -> None:
        return None


class ListSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.states: list[tuple[int, Any]] = []
        self.closed = False

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def face_state(self, face_id: int, state: Any) -> None:
        self.states.append((face_id, state))

    def stats(self, stats: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        self.closed = True


class EpisodePipeline(FakePipeline):
    """Episodes that open and end: every ``every`` frames a ``start`` and, half-way to the
    next, its ``end`` (the frame loop numbers them); ``finish`` ends the one still open."""

    def __init__(self, every: int = 10) -> None:
        super().__init__(0.001, event_every=10**9)
        self.every = every
        self.open: tuple[str, float] | None = None

    def process(self, frame: Frame) -> FrameResult:
        result = super().process(frame)
        n = len(self.seen)
        if n % self.every == 1:
            self.open = (f"fake-{os.getpid()}-{n:06d}", frame.t_ms)  # unique across runs
            result.steps.append(self._step("start", frame.t_ms))
        elif n % self.every == self.every // 2 + 1 and self.open is not None:
            result.steps.append(self._step("end", frame.t_ms))
            self.open = None
        return result

    def finish(self, t_ms: float | None = None) -> list[EpisodeStep]:
        super().finish(t_ms)
        if self.open is None:
            return []
        step, self.open = self._step("end", t_ms or self.open[1]), None
        return [step]

    def _step(self, phase: str, t_ms: float) -> EpisodeStep:
        assert self.open is not None
        episode, onset = self.open
        cls = Classification(core="happiness", core_source="rules", core_score=0.9,
                             micro="excited", micro_state="Happy", micro_rule="AU12+AU26",
                             scores={"happiness": 0.9})  # fmt: skip
        model = {"name": "facs-rules", "version": "builtin", "sha256": None}
        return EpisodeStep(phase, episode, 0, t_ms, onset, onset, t_ms if phase == "end" else None,
                           cls, {"AU12": 3.0}, model)  # fmt: skip
