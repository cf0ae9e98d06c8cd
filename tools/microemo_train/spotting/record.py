"""The device pipeline over generated clips: the landmarker's observations recorded once
per clip (and cached, ``--cache``), then everything after the landmarker replayed for each
spotting setting. Events are built by the device's own ``EventBuilder``."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from microemo_train.spotting.synth import SourceClip, write_clip

logger = logging.getLogger(__name__)

GENERATOR = 3  # bump when synth renders the same plan differently (invalidates --cache)
Recorded = list[tuple[float, int, list]]  # (t_ms, frame index, FaceObservations)


def landmarks(path: Path, fps: float | None = None, config: Any = None) -> Recorded:
    """The device's measurements (``Pipeline.observe``: landmarker, optical flow) on every
    frame of a clip."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source

    with Pipeline(config or Config()) as pipe, open_file_source(path, fps=fps) as src:
        return [(f.t_ms, f.index, pipe.observe(f)) for f in src]


def spot_recorded(recorded: Recorded, config: Any = None) -> list[dict]:
    """Everything after the landmarker (the device ``Pipeline``) over recorded
    observations; return the ``end`` events."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.publish.events import EventBuilder
    from microemo.publish.sequence import MemoryStore, SequenceAllocator

    config = (config or Config()).model_copy(deep=True)
    config.output.jsonl = ""
    pipe = Pipeline(config, landmarker=_NoLandmarker())
    sequence = SequenceAllocator(MemoryStore())
    events = EventBuilder(config.device.id, sequence)
    steps = []
    for t_ms, index, faces in recorded:
        steps += pipe.process_faces(faces, t_ms, index).steps
    ends = [e for e in map(events.build, steps + pipe.finish()) if e["phase"] == "end"]
    sequence.close()
    return ends


class _NoLandmarker:
    def detect(self, frame: Any) -> list:
        raise RuntimeError("replaying recorded landmarks: no frames expected")


def spot_clip(path: Path, fps: float | None = None, config: Any = None) -> list[dict]:
    """Run the device pipeline over one clip; return its ``end`` events."""
    return spot_recorded(landmarks(path, fps, config), config)


def au_series(path: Path) -> dict[str, np.ndarray]:
    """The device pipeline's AU series of the first face: t_ms, intensity, pose, ready."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source

    pipe = Pipeline(Config())
    t, x, r, ok = [], [], [], []
    try:
        with open_file_source(path) as src:
            for frame in src:
                for au in pipe.process(frame).faces[:1]:
                    t.append(au.t_ms)
                    x.append(au.intensity)
                    r.append(au.face.pose_r_rad)
                    ok.append(au.baseline_ready)
    finally:
        pipe.close()
    return {
        "t_ms": np.array(t),
        "intensity": np.array(x, np.float32),
        "pose_r_rad": np.array(r, np.float32),
        "baseline_ready": np.array(ok),
    }


class LazySource:
    """A source clip loaded (landmarker over every frame) only if a clip must be made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._clip: SourceClip | None = None

    def get(self) -> SourceClip:
        if self._clip is None:
            self._clip = SourceClip.load(self.path)
        return self._clip


def generate(
    src: LazySource, path: Path, pl: dict, config: Any, cache: Path | None
) -> tuple[dict, Recorded]:
    """Make one clip and record its landmarks, or take both from the cache."""
    key = hashlib.sha256(
        json.dumps(
            [GENERATOR, pl["name"], src.path.name, src.path.stat().st_size]
            + [pl["fps"], pl["duration_ms"]]
            + [asdict(e) for e in pl["episodes"]]
            + [config.landmarker.model_dump(mode="json"), config.spotting.flow],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    hit = cache / f"{path.stem}-{key}.pkl" if cache else None
    if hit is not None and hit.exists():
        with hit.open("rb") as f:  # our own cache file, written below
            labels, recorded = pickle.load(f)
        return labels, recorded
    labels = write_clip(src.get(), path, pl["fps"], pl["duration_ms"], pl["episodes"])
    recorded = landmarks(path, config=config)
    if hit is not None:
        hit.parent.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump((labels, recorded), f)
        tmp.replace(hit)
    return labels, recorded
