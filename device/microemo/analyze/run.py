"""One recorded input through the device pipeline: the per-frame CSV, the episode events
(JSONL, numbered from 1 per input) and the picture (``plot``)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microemo.pipeline import Pipeline
from microemo.publish.events import EventBuilder
from microemo.publish.local import CsvWriter, write_jsonl
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.sources.files import VideoFileSource, open_file_source

logger = logging.getLogger(__name__)


@dataclass
class InputSummary:
    name: str
    frames: int
    face_frames: int
    episodes: int
    micro: int
    dominant: str
    error: str | None = None
    faces: int = 0  # distinct face ids seen

    def line(self) -> str:
        if self.error and not self.frames:
            return f"FAILED {self.error}"
        text = (
            f"{self.name}: {self.frames} frames, {self.faces} faces, face in {self.face_frames}, "
            f"{self.episodes} episodes ({self.micro} micro), mostly {self.dominant}"
        )
        return f"FAILED {self.error} ({text})" if self.error else text


def analyze_input(
    path: Path,
    out_dir: Path,
    pipeline: Pipeline,
    *,
    fps: float | None = None,
    plot: bool = True,
    progress: bool = False,
) -> InputSummary:
    source = open_file_source(path, fps)
    pipeline.new_stream()
    sequence = SequenceAllocator(MemoryStore())  # seq from 1 per file
    builder = EventBuilder(pipeline.config.device.id, sequence)
    name = source.name
    csv = CsvWriter(out_dir / f"{name}.csv")
    events: list[dict[str, Any]] = []
    times: list[float] = []
    rows: list[np.ndarray] = []
    emotions: list[str] = []
    main_face: int | None = None
    face_ids: set[int] = set()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=source.frame_count or None, desc=name, unit="frame", leave=False)
    try:
        for frame in source:
            result = pipeline.process(frame)
            csv.write(result)
            events.extend(builder.build(step) for step in result.steps)
            times.append(frame.t_ms / 1000.0)
            face_ids.update(a.face_id for a in result.faces)
            if main_face is None and result.faces:
                main_face = result.faces[0].face_id
            au = next((a for a in result.faces if a.face_id == main_face), None)
            rows.append(au.intensity if au is not None else np.full(19, np.nan, np.float32))
            emotions.append(result.emotions.get(au.face_id, {}).get("core", "") if au else "")
            if bar is not None:
                bar.update(1)
        events.extend(builder.build(step) for step in pipeline.finish())
    finally:
        csv.close()
        source.close()
        sequence.close()
        if bar is not None:
            bar.close()
    write_jsonl(out_dir / f"{name}.jsonl", events)
    if plot and times:
        from microemo.analyze.plot import plot_analysis

        plot_analysis(
            out_dir / f"{name}.png",
            f"{name}: AU intensities and emotions",
            np.array(times),
            np.array(rows),
            emotions,
            events,
        )
    ends = [e for e in events if e["phase"] == "end"]
    seen = Counter(e for e in emotions if e)
    summary = InputSummary(
        name=name,
        frames=len(times),
        face_frames=sum(1 for e in emotions if e),
        episodes=len(ends),
        micro=sum(1 for e in ends if e["kind"] == "micro"),
        dominant=seen.most_common(1)[0][0] if seen else "no face",
        faces=len(face_ids),
    )
    if isinstance(source, VideoFileSource) and source.truncated:
        summary.error = (
            f"{path}: truncated: decoded {source.decoded} of the "
            f"{source.frame_count} frames its header lists"
        )
    return summary
