"""Shared fixtures and helpers: the real CREMA-D clips, recorded landmarks, one real-MediaPipe
pass over the clips that several tests read (the landmarker is the costly part), a fake
clock and ``wait_for``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests import mosquitto

from microemo.types import FaceObservation

DATA = Path(__file__).parent / "data"
CLIPS = DATA / "crema_d" / "clips"
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def clip_path(emotion: str) -> Path:
    return CLIPS / f"1001_DFA_{emotion}_XX.flv"


def clip_frame(emotion: str, index: int = 0) -> np.ndarray:
    """Frame ``index`` of the actor's clip (BGR)."""
    import cv2

    cap = cv2.VideoCapture(str(clip_path(emotion)))
    try:
        for _ in range(index + 1):
            ok, image = cap.read()
            assert ok, f"{clip_path(emotion)} has no frame {index}"
    finally:
        cap.release()
    return image


class FakeClock:
    """A monotonic clock that moves only when told (budgets and timeouts without sleeping)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def wait_for(cond: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``cond`` until it is true; fail the test if that takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def pytest_report_header(config: pytest.Config) -> str | None:
    return mosquitto.install_hint()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Mosquitto every broker test skips, with the same one-line reason."""
    hint = mosquitto.install_hint()
    if hint is None:
        return
    skip = pytest.mark.skip(reason=hint)
    for item in items:
        uses = set(getattr(item, "fixturenames", ())) & mosquitto.BROKER_FIXTURES
        if "broker" in item.keywords or uses:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def needs_asset() -> None:
    """Skips a test when the landmarker asset was not fetched (``make setup`` fetches it)."""
    from microemo.assets import AssetError, find_asset

    try:
        find_asset()
    except AssetError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def clip() -> Path:
    """The happy clip (1001_DFA_HAP_XX.flv), the one ``make run`` plays."""
    path = clip_path("HAP")
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="session")
def recorded_faces() -> dict[str, list[FaceObservation]]:
    d = np.load(DATA / "recorded" / "crema_hap_neu_faces.npz")
    out: dict[str, list[FaceObservation]] = {"HAP": [], "NEU": []}
    for lm, bs, pose, size, clip in zip(
        d["landmarks"], d["blendshapes"], d["pose"], d["image_size"], d["clip"]
    ):
        out[str(clip)].append(FaceObservation(lm, bs, pose, (int(size[0]), int(size[1]))))
    return out


@dataclass
class ClipRun:
    results: list[Any] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def au_series(self, au: int) -> np.ndarray:
        return np.array([f.faces[0].au(au) for f in self.results if f.faces])


@pytest.fixture(scope="session")
def clip_runs() -> dict[str, ClipRun]:
    """Every clip through the real pipeline once (about 1 s of landmarker per clip)."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.publish.events import EventBuilder
    from microemo.publish.sequence import MemoryStore, SequenceAllocator
    from microemo.sources.files import open_file_source

    runs: dict[str, ClipRun] = {}
    events = EventBuilder(Config().device.id, SequenceAllocator(MemoryStore()))
    with Pipeline(Config()) as pipeline:
        for emo in EMOTIONS:
            pipeline.new_stream()
            run = ClipRun()
            with open_file_source(clip_path(emo)) as source:
                for frame in source:
                    r = pipeline.process(frame)
                    run.results.append(r)
                    run.events.extend(map(events.build, r.steps))
            run.events.extend(map(events.build, pipeline.finish()))
            runs[emo] = run
    return runs
