"""A generic FACS manifest (``--adapter manifest``): one CSV row per coded face.

Columns (names matched without case or spaces): ``path,subject,aus`` and optionally
``neutral``, ``label`` (or ``emotion``) and ``frame``. Paths are relative to the CSV.

- ``path``: an image (shown ``--apex-frames`` times), a frame folder or a video (read up to
  the coded frame, subsampled as ``--every``/``--max-frames`` say).
- ``aus``: the AUs at the coded frame (``codes.parse_aus``: ``1+2+4``, ``1:3+12:E``, ``0``).
- ``neutral``: a neutral reference of the same face shown first (an image, shown
  ``--neutral-frames`` times, a frame folder or a video), as CK+'s neutral -> apex.
- ``label``: the emotion label, if any.
- ``frame``: which frame of a folder or video is coded (a video's index from 0, a frame
  file's name, or the number in it); default: the last one.
- any other column (``origin``, ``glasses``...): kept with the item (``FacsItem.meta``, as
  ``by:<column>``), so ``facs-bench --by COLUMN`` reads the figures per group.

Rows with a neutral reference and rows without are scored as two sets (``neutral-apex`` and
``apex``). An AU that no row of the manifest mentions is taken as not coded by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from microemo.types import AU_IDS
from microemo_train.facs.codes import emotion_label, parse_aus
from microemo_train.facs.files import (
    Problems,
    Sampling,
    folder_frames,
    frame_number,
    is_video,
    read_table,
    video_info,
)
from microemo_train.facs.items import FacsDataError, FacsItem, Frame, VideoFrame

REQUIRED = ("path", "subject", "aus")
KNOWN = (*REQUIRED, "neutral", "label", "emotion", "frame")
BY = "by:"  # FacsItem.meta key prefix of the other columns (``facs-bench --by``)


@dataclass(frozen=True)
class Shown:
    """Frames of one reference (neutral or coded), their rate, and how they were picked."""

    frames: tuple[Frame, ...]
    fps: float | None  # None: stills, take the manifest's rate
    stride: int = 1


def _stream(
    path: Path, frame: str, repeat: int, sampling: Sampling, where: str, end: bool
) -> Shown:
    """An image repeated, or a folder's / video's frames up to ``frame`` (``end``: the last
    one when not given), every stride-th counted back from it."""
    if path.is_file() and not is_video(path):
        return Shown((path,) * repeat, None)
    if path.is_dir():
        files = folder_frames(path)
        if not files:
            raise FacsDataError(f"{where}: {path} holds no images")
        last = _pick(files, frame, where) if frame else len(files) - 1
        picked, stride = _back_from(last, sampling)
        return Shown(tuple(files[i] for i in picked), None, stride)
    n, fps = video_info(path)
    if n <= 0:
        raise FacsDataError(f"{where}: {path}: OpenCV cannot read this video")
    last = _frame_index(frame, n, where) if frame and end else n - 1
    picked, stride = _back_from(last, sampling)
    return Shown(tuple(VideoFrame(path, i) for i in picked), fps or None, stride)


def _back_from(last: int, sampling: Sampling) -> tuple[list[int], int]:
    """Indices ``0..last`` every stride-th, ending on ``last``."""
    stride = sampling.stride(last + 1)
    picked = list(range(last, -1, -stride))[::-1]
    if sampling.max_frames > 0:
        picked = picked[-sampling.max_frames :]
    return picked, stride


def _pick(files: list[Path], frame: str, where: str) -> int:
    for i, p in enumerate(files):
        if frame in (p.name, p.stem) or (frame.isdigit() and frame_number(p) == int(frame)):
            return i
    raise FacsDataError(f"{where}: frame {frame!r} is not in {files[0].parent}")


def _frame_index(frame: str, n: int, where: str) -> int:
    if not frame.isdigit() or int(frame) >= n:
        raise FacsDataError(f"{where}: frame {frame!r} is not a frame index below {n}")
    return int(frame)


def load(
    path: Path,
    mode: str,
    neutral_frames: int,
    apex_frames: int,
    sampling: Sampling,
    problems: Problems,
    fps: float = 30.0,
) -> dict[str, list[FacsItem]]:
    if path.is_dir():
        raise FacsDataError(f"{path}: a folder; --adapter manifest reads a CSV file")
    _, rows = read_table(path, REQUIRED)
    errors: list[str] = []
    parsed = []
    for n, row in enumerate(rows, start=2):
        where = f"{path.name}:{n}"
        try:
            aus = parse_aus(row["aus"])
            label = emotion_label(row["label"]) if row.get("label") else None
            if not label and row.get("emotion"):
                label = emotion_label(row["emotion"])
        except ValueError as exc:
            errors.append(f"line {n}: {exc}")
            continue
        if not row["subject"] or not row["path"]:
            errors.append(f"line {n}: {'subject' if row['path'] else 'path'} is empty")
            continue
        files = [(row["path"], "path")] + (
            [(row["neutral"], "neutral")] if row.get("neutral") else []
        )
        gone = [
            f"line {n}: {kind} {text}" for text, kind in files if not (path.parent / text).exists()
        ]
        for g in gone:
            problems.missing(g, item=False)
        if gone:
            problems.items_left_out += 1
            continue
        parsed.append((n, where, row, aus, label))
    if errors:
        raise FacsDataError(f"{path}: {'; '.join(errors)}")
    coded = frozenset(au for *_, aus, _ in parsed for au in aus) & frozenset(AU_IDS)
    sets: dict[str, list[FacsItem]] = {"neutral-apex": [], "apex": []}
    keys: set[str] = set()
    for n, where, row, aus, label in parsed:
        item = _item(path.parent, row, aus, label, coded, where, neutral_frames, apex_frames,
                     sampling, fps, keys, n)  # fmt: skip
        sets["neutral-apex" if item.neutral else "apex"].append(item)
    wanted = ("neutral-apex", "apex") if mode == "both" else (mode,)
    return {m: sets[m] for m in wanted if sets[m]}


def _item(
    base: Path,
    row: dict[str, str],
    aus: dict[int, float],
    label: str | None,
    coded: frozenset[int],
    where: str,
    neutral_frames: int,
    apex_frames: int,
    sampling: Sampling,
    fps: float,
    keys: set[str],
    n: int,
) -> FacsItem:
    face = _stream(base / row["path"], row.get("frame", ""), apex_frames, sampling, where, True)
    ref = Shown((), None)
    if row.get("neutral"):
        ref = _stream(base / row["neutral"], "", neutral_frames, sampling, where, False)
    rate = face.fps or fps
    stride = max(face.stride, ref.stride)
    frames = ref.frames + face.frames
    key = row["path"] + (f"#{row['frame']}" if row.get("frame") else "")
    key = key if key not in keys else f"{key} (line {n})"
    keys.add(key)
    return FacsItem(
        key,
        row["subject"],
        frames,
        {len(frames) - 1: aus},
        coded or None,
        neutral=tuple(range(len(ref.frames))),
        label=label,
        fps=rate / stride,
        meta={"stride": str(stride), **{BY + k: v for k, v in row.items() if k not in KNOWN}},
    )
