"""Helpers of the daemon tests: a fake clock, a fake pipeline with the Pipeline interface,
and the path of a real clip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microemo.types import Frame, FrameResult

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "tests" / "data" / "crema_d" / "clips" / "1001_DFA_HAP_XX.flv"


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class FakePipeline:
    """The Pipeline interface; each frame costs ``cost_s`` (on the fake clock when given, else
    really sleeping) and every ``event_every``-th frame emits an event."""

    def __init__(self, cost_s: float, clock: FakeClock | None = None, event_every: int = 10):
        self.cost_s = cost_s
        self.clock = clock
        self.event_every = event_every
        self.seen: list[Frame] = []
        self.finished_at: float | None = None
        self.model_info: dict[str, Any] = {"name": "fake", "version": "0", "sha256": None}

    def process(self, frame: Frame) -> FrameResult:
        import time

        if self.clock is not None:
            self.clock.advance(self.cost_s)
        else:
            time.sleep(self.cost_s)
        self.seen.append(frame)
        events = []
        if len(self.seen) % self.event_every == 0:
            events.append({"id": f"e{len(self.seen)}", "phase": "start", "t_ms": frame.t_ms})
        return FrameResult(
            frame_index=frame.index,
            t_ms=frame.t_ms,
            events=events,
            stage_ms={"landmarker": self.cost_s * 1000.0},
        )

    def finish(self, t_ms: float | None = None) -> list[dict[str, Any]]:
        self.finished_at = t_ms
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
