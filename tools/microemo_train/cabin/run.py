"""The device pipeline over generated drives and talking faces: frames drawn in memory (no
video file), the landmarker's observations recorded once per clip and colour (cached with
``--cache``), then everything after the landmarker replayed with the cabin settings asked
for. What comes back per clip: each frame's cabin state of the face and the cabin events,
built by the device's own ``EventBuilder``."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from microemo_train.cabin.plan import TALK_SEGMENT_S, Drive
from microemo_train.spotting.cabin_synth import DepthClip, render, truth
from microemo_train.spotting.synth import SourceClip

logger = logging.getLogger(__name__)

GENERATOR = 3  # bump when the same plan is drawn differently (invalidates --cache)
Recorded = list[tuple[float, int, list]]  # (t_ms, frame index, FaceObservations)


@dataclass
class Replay:
    """One clip through everything after the landmarker."""

    times: np.ndarray  # (frames,) ms
    states: list[dict[str, Any] | None]  # the face's cabin state per frame (None: no face)
    events: list[dict[str, Any]]  # cabin events (schema microemo.cabin/1)


def grey(image: np.ndarray) -> np.ndarray:
    """A grey copy, as a near-infrared camera gives it (three equal channels)."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def drive_frames(clip: DepthClip, d: Drive, fps: float) -> Iterator[np.ndarray]:
    for i in range(int(d.duration_ms * fps / 1000.0)):
        yield render(clip, i * 1000.0 / fps, d.acts)


def talk_frames(sources: list[SourceClip], seconds: float, fps: float) -> Iterator[np.ndarray]:
    """The clips joined: each played back and forth for ``TALK_SEGMENT_S``, in turn."""
    per = int(TALK_SEGMENT_S * fps)
    for i in range(int(seconds * fps)):
        src = sources[(i // per) % len(sources)]
        yield src.frames[src.source_index((i % per) * 1000.0 / fps)]


def drive_labels(clip: DepthClip, d: Drive, fps: float) -> dict[str, Any]:
    n = int(d.duration_ms * fps / 1000.0)
    return {"clip": d.name, "fps": fps, "n_frames": n, "acts": [asdict(a) for a in d.acts],
            **truth(clip, d.acts, fps, n)}  # fmt: skip


def record(frames: Iterator[np.ndarray], fps: float, config: Any) -> Recorded:
    """The device's measurements (``Pipeline.observe``) on every frame."""
    from microemo.pipeline import Pipeline
    from microemo.types import Frame

    with Pipeline(config) as pipe:
        return [(i * 1000.0 / fps, i, pipe.observe(Frame(img, i * 1000.0 / fps, i)))
                for i, img in enumerate(frames)]  # fmt: skip


def cached(key: dict[str, Any], cache: Path | None, make: Any) -> Recorded:
    """``make()``, kept in ``cache`` under a hash of ``key`` (what was drawn and how)."""
    if cache is None:
        return make()
    digest = hashlib.sha256(json.dumps(dict(key, gen=GENERATOR), sort_keys=True,
                                       default=str).encode()).hexdigest()[:16]  # fmt: skip
    path = cache / f"{key.get('name', 'clip')}-{digest}.pkl"
    if path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)
    out = make()
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(out, f)
    return out


def replay(recorded: Recorded, config: Any) -> Replay:
    """Everything after the landmarker (the device ``Pipeline``) over ``recorded``."""
    from microemo.pipeline import Pipeline
    from microemo.publish.events import CABIN_SCHEMA_ID, EventBuilder
    from microemo.publish.sequence import MemoryStore, SequenceAllocator

    pipe = Pipeline(config, landmarker=_NoLandmarker())
    sequence = SequenceAllocator(MemoryStore())
    build = EventBuilder(config.device.id, sequence).build
    steps, states, times = [], [], []
    for t_ms, index, faces in recorded:
        result = pipe.process_faces(faces, t_ms, index)
        steps += result.steps
        times.append(t_ms)
        states.append(next(iter(result.cabin.values()), None))
    events = [e for e in map(build, steps + pipe.finish()) if e["schema"] == CABIN_SCHEMA_ID]
    sequence.close()
    return Replay(np.array(times), states, events)


class _NoLandmarker:
    def detect(self, frame: Any) -> list:
        raise RuntimeError("replaying recorded landmarks: no frames expected")
