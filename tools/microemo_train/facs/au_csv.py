"""Per-frame AU codes (``--adapter au-csv``): DISFA, BP4D, or one CSV per video or folder.

Layouts (``--layout``; ``auto`` tells them apart by their folders):

- ``disfa``: ``Videos_LeftCamera/LeftVideoSN001_comp.avi`` (``--camera right``:
  ``Videos_RightCamera/RightVideoSN001_Comp.avi``) and ``ActionUnit_Labels/SN001/SN001_au1.txt``
  with lines ``frame,intensity`` (frames from 1, intensity 0-5). Subject = ``SN001``.
- ``bp4d``: frame folders ``F001/T1/2440.jpg`` (anywhere under the root, e.g.
  ``Sequences/F001/T1``) and ``AUCoding/AU_OCC/F001_T1.csv`` (``Frame,1,2,4,...``; 0 absent, 1
  present, 9 not coded), with intensities from ``F001_T1_AU06.csv`` files (``frame,0-5``, 9 not
  coded) where the root has them. Subject = ``F001``; 25 fps unless ``--fps``.
- ``generic``: ``NAME.csv`` beside the video ``NAME.mp4`` (any video type) or the frame folder
  ``NAME/``; columns ``frame,AU01,AU02,...`` (``AU1``, ``au 1``, ``1`` as well) and optionally
  ``subject`` (else the part of NAME before the first ``_``). ``frame`` is a video's frame
  index (from ``--frame-base``, default 0) or the number in a frame file's name. Values are
  intensities 0-5 or presence 0/1 (intensities when any value is above 1); empty or 9: not
  coded at that frame.

An AU counts as a negative only where the data set codes it (DISFA: its 12 AUs; BP4D and
generic: the AU columns). Long videos are read on a subsample (``files.Sampling``).
"""

from __future__ import annotations

from pathlib import Path

from microemo_train.facs import disfa_bp4d
from microemo_train.facs.files import (
    Problems,
    Sampling,
    folder_frames,
    frame_number,
    is_video,
    video_info,
)
from microemo_train.facs.items import FacsDataError, FacsItem, Frame, VideoFrame
from microemo_train.facs.per_frame import coded_aus, first_dir, make_item, read_codes

LAYOUTS = ("auto", "disfa", "bp4d", "generic")


def detect(root: Path) -> str:
    if root.is_dir() and first_dir(root, "ActionUnit_Labels") is not None:
        return "disfa"
    if root.is_dir() and first_dir(root, "AU_OCC") is not None:
        return "bp4d"
    return "generic"


# -- one CSV per video or frame folder --------------------------------------------------------


def _media(csv_path: Path) -> Path | None:
    folder = csv_path.with_suffix("")
    if folder.is_dir():
        return folder
    stem = csv_path.stem.lower()
    return next(
        (p for p in sorted(csv_path.parent.iterdir()) if p.stem.lower() == stem and is_video(p)),
        None,
    )


def generic(
    root: Path, sampling: Sampling, problems: Problems, fps: float, frame_base: int
) -> list[FacsItem]:
    paths = [root] if root.is_file() else sorted(root.rglob("*.csv"))
    if not paths:
        raise FacsDataError(f"{root}: no CSV files (NAME.csv with frame,AU01,... beside NAME.mp4)")
    tables = {p: read_codes(p) for p in paths}
    intensity = any(v > 1 for c, _ in tables.values() for vs in c.values() for v in vs.values())
    items = []
    for path, (coding, subject) in tables.items():
        media = _media(path)
        if media is None:
            problems.missing(
                f"{path.with_suffix('')}[.mp4|.avi|/]", f"the frames {path.name} codes"
            )
            continue
        subject = subject or path.stem.split("_")[0]
        item = _generic_item(
            root, path, media, subject, coding, sampling, fps, frame_base, intensity
        )
        if item is None:
            problems.missing(f"{media}: none of the coded frames", f"frames of {path.name}")
            continue
        items.append(item)
    return items


def _generic_item(
    root: Path,
    path: Path,
    media: Path,
    subject: str,
    coding: dict[int, dict[int, float]],
    sampling: Sampling,
    fps: float,
    frame_base: int,
    intensity: bool,
) -> FacsItem | None:
    frames: dict[int, Frame]
    if media.is_dir():
        files = folder_frames(media)
        numbers = [frame_number(p) for p in files]
        if all(n is not None for n in numbers):
            frames = {int(n): p for n, p in zip(numbers, files) if n is not None}
        else:
            frames = {k + frame_base: p for k, p in enumerate(files)}
        rate = fps
    else:
        n, rate = video_info(media)
        frames = {f: VideoFrame(media, f - frame_base) for f in coding if 0 <= f - frame_base < n}
    wanted, stride = sampling.pick(sorted(f for f in coding if f in frames))
    if not wanted:
        return None
    key = str(path.relative_to(root).with_suffix("")) if root.is_dir() else path.stem
    return make_item(
        key,
        subject,
        [frames[f] for f in wanted],
        {k: coding[f] for k, f in enumerate(wanted)},
        coded_aus(coding),
        (rate or fps) / stride,
        {"frames": str(len(coding)), "stride": str(stride)},
        intensity=intensity,
    )


def load(
    root: Path,
    layout: str,
    sampling: Sampling,
    problems: Problems,
    fps: float | None = None,
    frame_base: int = 0,
    camera: str = "left",
) -> tuple[str, list[FacsItem]]:
    """(the layout read, its items)."""
    if layout not in LAYOUTS:
        raise FacsDataError(f"--layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    layout = detect(root) if layout == "auto" else layout
    if layout == "disfa":
        if first_dir(root, "ActionUnit_Labels") is None:
            raise FacsDataError(f"{root}: no ActionUnit_Labels/ folder (the DISFA layout)")
        return layout, disfa_bp4d.disfa(root, sampling, problems, camera)
    if layout == "bp4d":
        if first_dir(root, "AU_OCC") is None:
            raise FacsDataError(f"{root}: no AU_OCC/ folder (BP4D's AUCoding/AU_OCC)")
        return layout, disfa_bp4d.bp4d(root, sampling, problems, fps or 25.0)
    return layout, generic(root, sampling, problems, fps or 30.0, frame_base)
