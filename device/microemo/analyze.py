"""``microemo analyze INPUT... --out DIR``: recorded video in, per-frame AUs, episodes and a
picture out, one input at a time.

For each input: ``DIR/<name>.csv`` (OpenFace 2 columns, then emotions), ``DIR/<name>.jsonl``
(episode events) and ``DIR/<name>.png``. A bad input is reported by name and skipped; the
others are still written; the exit status is 1 if any input failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microemo.config import Config, load_config
from microemo.pipeline import Pipeline
from microemo.publish.events import EventBuilder
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.publish.writers import CsvWriter, write_jsonl
from microemo.sources.files import SourceError, VideoFileSource, open_file_source

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

    def line(self) -> str:
        if self.error and not self.frames:
            return f"FAILED {self.error}"
        text = (
            f"{self.name}: {self.frames} frames, face in {self.face_frames}, "
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
        from microemo.publish.plot import plot_analysis

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
    )
    if isinstance(source, VideoFileSource) and source.truncated:
        summary.error = (
            f"{path}: truncated: decoded {source.decoded} of the "
            f"{source.frame_count} frames its header lists"
        )
    return summary


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse recorded video, frame folders or images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--config", type=Path, help="TOML config (landmarker, au, spotting...)")
    p.add_argument("--fps", type=float, help="frame rate of frame folders (default 30)")
    p.add_argument("--bundle", type=Path, help="model bundle (default: the built-in model)")
    p.add_argument(
        "--rules-only",
        action="store_true",
        help="no CNN: the FACS prototypes decide the core emotion",
    )
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.set_defaults(func=run)


def _bundle(config: Config, path: Path | None, rules_only: bool) -> Any:
    """The model the device would run (``ModelStore.current``: installed, configured or
    built-in), or the bundle given with ``--bundle``."""
    from microemo.model.bundle import load_bundle
    from microemo.model.store import ModelStore

    if rules_only:
        return None
    if path is not None:
        m = config.model
        return load_bundle(path, m.public_keys, require_signature=m.require_signature)
    return ModelStore(config).current()


def run(args: argparse.Namespace) -> int:
    from microemo.daemon.cli import keep_training_libraries_out

    keep_training_libraries_out()
    try:
        config = load_config(args.config)
        bundle = _bundle(config, args.bundle, args.rules_only)
    except Exception as exc:  # a bad config or bundle: say so, analyse nothing
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with Pipeline(config, bundle=bundle) as pipeline:
        for path in args.inputs:
            try:
                summary = analyze_input(
                    path,
                    args.out,
                    pipeline,
                    fps=args.fps,
                    plot=not args.no_plot,
                    progress=sys.stderr.isatty(),
                )
            except SourceError as exc:
                summary = InputSummary(path.name, 0, 0, 0, 0, "", error=str(exc))
            except Exception as exc:  # one bad input must not lose the others
                logger.exception("%s failed", path)
                summary = InputSummary(path.name, 0, 0, 0, 0, "", error=f"{path}: {exc}")
            failed += summary.error is not None
            print(summary.line(), flush=True)
    return 1 if failed else 0
