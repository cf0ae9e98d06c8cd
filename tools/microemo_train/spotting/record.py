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

from microemo_train.spotting.synth import SourceClip, join_clips, render_frame, write_clip
from microemo_train.spotting.why import Probe

logger = logging.getLogger(__name__)

GENERATOR = 4  # bump when synth renders the same plan differently (invalidates --cache)
Recorded = list[tuple[float, int, list]]  # (t_ms, frame index, FaceObservations)


def landmarks(path: Path, fps: float | None = None, config: Any = None) -> Recorded:
    """The device's measurements (``Pipeline.observe``: landmarker, optical flow) on every
    frame of a clip."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source

    with Pipeline(config or Config()) as pipe, open_file_source(path, fps=fps) as src:
        return [(f.t_ms, f.index, pipe.observe(f)) for f in src]


def spot_recorded(recorded: Recorded, config: Any = None, probe: Probe | None = None) -> list[dict]:
    """Everything after the landmarker (the device ``Pipeline``) over recorded
    observations; return the ``end`` events. ``probe``: shown the first face and what the
    spotter saw of it after every frame (``why``; ``spot-eval --channels``)."""
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
        result = pipe.process_faces(faces, t_ms, index)
        steps += result.steps
        if probe is not None and result.faces:
            probe.see(result.faces[0], pipe.spotter)
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
    """A source clip loaded (landmarker over every frame) only if a clip must be made; a
    list of paths is those clips joined one after another (``synth.join_clips``)."""

    def __init__(self, path: Path | list[Path]) -> None:
        self.paths = path if isinstance(path, list) else [path]
        self.path = self.paths[0]
        self._clip: SourceClip | None = None

    def key(self) -> list:
        """What identifies the source(s) in the cache key."""
        return [x for p in self.paths for x in (p.name, p.stat().st_size)]

    def get(self) -> SourceClip:
        if self._clip is None:
            clips = [SourceClip.load(p) for p in self.paths]
            self._clip = clips[0] if len(clips) == 1 else join_clips(clips)
        return self._clip


def _flow_key(config: Any) -> list:
    """What the recorded optical flow depends on: on/off and the points it follows."""
    from microemo.vision.flow import FLOW_POINTS

    return [config.spotting.flow, FLOW_POINTS.tolist()]


def generate(
    src: LazySource, path: Path, pl: dict, config: Any, cache: Path | None
) -> tuple[dict, Recorded]:
    """Make one clip and record its landmarks, or take them from the cache. The cache is
    keyed without the optical flow: when flow follows other points, it is measured again on
    the clip's frames rendered afresh (lossless, so the same pixels) with the cached
    landmarks, which takes a tenth of the landmarker's time."""
    key = hashlib.sha256(
        json.dumps(
            [GENERATOR, pl["name"], *src.key()]
            + [pl["fps"], pl["duration_ms"]]
            + [asdict(e) for e in pl["episodes"]]
            + [config.landmarker.model_dump(mode="json")],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    hit = cache / f"{path.stem}-{key}.pkl" if cache else None
    if hit is not None and hit.exists():
        with hit.open("rb") as f:  # our own cache file, written below
            labels, recorded, flow_key = pickle.load(f)
        if flow_key == _flow_key(config):
            return labels, recorded
        remeasure_flow(src.get(), labels, recorded, pl["episodes"], config)
    else:
        clip = src.get()
        duration = pl["duration_ms"] or len(clip.frames) * 1000.0 / clip.fps  # None: the join's
        labels = write_clip(clip, path, pl["fps"], duration, pl["episodes"])
        recorded = landmarks(path, config=config)
    if hit is not None:
        hit.parent.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump((labels, recorded, _flow_key(config)), f)
        tmp.replace(hit)
    return labels, recorded


def remeasure_flow(
    src: SourceClip, labels: dict, recorded: Recorded, episodes: list, config: Any
) -> None:
    """The device's optical flow (``Pipeline.observe`` after the landmarker) on the clip's
    frames rendered again, with the recorded landmarks."""
    from microemo.vision.flow import FlowMeter

    meter = FlowMeter() if config.spotting.flow else None
    for _, index, faces in recorded:
        for face in faces:
            face.flow = None
        if meter is not None:
            meter.measure(render_frame(src, index * 1000.0 / labels["fps"], episodes), faces)
