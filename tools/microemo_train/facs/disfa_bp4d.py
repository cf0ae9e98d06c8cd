"""The DISFA and BP4D layouts of ``--adapter au-csv`` (see ``au_csv.py``)."""

from __future__ import annotations

import re
from pathlib import Path

from microemo_train.facs.files import (
    Problems,
    Sampling,
    folder_frames,
    frame_number,
    is_video,
    video_info,
)
from microemo_train.facs.items import FacsDataError, FacsItem, Frame, VideoFrame
from microemo_train.facs.per_frame import (
    coded_aus,
    first_dir,
    known,
    make_item,
    read_codes,
    read_pairs,
)

# -- DISFA ------------------------------------------------------------------------------------

DISFA_AUS = frozenset({1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26})


def disfa(root: Path, sampling: Sampling, problems: Problems, camera: str) -> list[FacsItem]:
    labels = first_dir(root, "ActionUnit_Labels")
    assert labels is not None
    side = camera.capitalize()
    videos = first_dir(root, f"Videos_{side}Camera") or first_dir(root, f"Video_{side}Camera")
    if videos is None:
        raise FacsDataError(
            f"{root}: no Videos_{side}Camera/ folder beside {labels.name}/ "
            f"(--camera {'right' if camera == 'left' else 'left'} reads the other camera)"
        )
    found = {p.stem.lower(): p for p in videos.iterdir() if is_video(p)}
    items = []
    for folder in sorted(p for p in labels.iterdir() if p.is_dir()):
        subject = folder.name
        video = found.get(f"{side}video{subject}_comp".lower())
        if video is None:
            problems.missing(str(videos / f"{side}Video{subject}_comp.avi"), f"video of {subject}")
            continue
        per_au: dict[int, dict[int, float]] = {}
        for au in sorted(DISFA_AUS):
            path = folder / f"{subject}_au{au}.txt"
            if path.is_file():
                per_au[au] = read_pairs(path)
            else:
                problems.missing(str(path), f"AU{au} of {subject} left uncoded", item=False)
        frames, fps = video_info(video)
        coding = _by_frame(per_au, base=1, limit=frames)
        item = _stream(subject, subject, video, coding, frozenset(per_au), fps, sampling)
        if item is not None:
            items.append(item)
    return items


def _by_frame(
    per_au: dict[int, dict[int, float]], base: int, limit: int
) -> dict[int, dict[int, float]]:
    """AU -> frame -> value as frame index (from 0) -> AU -> value, within a video's frames."""
    out: dict[int, dict[int, float]] = {}
    for au, frames in per_au.items():
        for f, v in frames.items():
            i = f - base
            if i >= 0 and (limit <= 0 or i < limit):
                out.setdefault(i, {})[au] = v
    return out


def _stream(
    key: str,
    subject: str,
    video: Path,
    coding: dict[int, dict[int, float]],
    coded: frozenset[int],
    fps: float,
    sampling: Sampling,
) -> FacsItem | None:
    wanted, stride = sampling.pick(sorted(coding))
    if not wanted:
        return None
    frames: list[Frame] = [VideoFrame(video, i) for i in wanted]
    picked = {k: coding[i] for k, i in enumerate(wanted)}
    meta = {"frames": str(len(coding)), "stride": str(stride)}
    return make_item(key, subject, frames, picked, coded, (fps or 30.0) / stride, meta)


# -- BP4D -------------------------------------------------------------------------------------

_BP4D_NAME = re.compile(r"^([A-Za-z]+\d+)_(T\d+)$")


def _bp4d_folders(root: Path) -> dict[str, Path]:
    """``f001_t1`` -> the frame folder ``.../F001/T1`` (up to three levels below the root)."""
    out: dict[str, Path] = {}
    for pattern in ("*/T*", "*/*/T*", "*/*/*/T*"):
        for p in sorted(root.glob(pattern)):
            if p.is_dir() and re.fullmatch(r"T\d+", p.name):
                out.setdefault(f"{p.parent.name}_{p.name}".lower(), p)
    return out


def _bp4d_intensities(occ: Path, root: Path) -> dict[str, dict[int, dict[int, float]]]:
    """``f001_t1`` -> frame -> AU -> intensity, from ``F001_T1_AU06.csv`` files beside the
    occurrence codes or in a root folder whose name says intensity."""
    places = [occ.parent] + [p for p in root.iterdir() if p.is_dir() and "int" in p.name.lower()]
    out: dict[str, dict[int, dict[int, float]]] = {}
    for place in places:
        for path in sorted(place.rglob("*_AU*.csv")):
            m = re.fullmatch(r"(.+)_AU(\d+)", path.stem, re.IGNORECASE)
            if m is None:
                continue
            frames = out.setdefault(m.group(1).lower(), {})
            for f, v in read_pairs(path).items():
                if known(v):
                    frames.setdefault(f, {})[int(m.group(2))] = v
    return out


def bp4d(root: Path, sampling: Sampling, problems: Problems, fps: float) -> list[FacsItem]:
    occ = first_dir(root, "AU_OCC")
    assert occ is not None
    folders = _bp4d_folders(root)
    levels_all = _bp4d_intensities(occ, root)
    items = []
    for path in sorted(occ.glob("*.csv")):
        m = _BP4D_NAME.match(path.stem)
        if m is None:
            continue
        folder = folders.get(path.stem.lower())
        if folder is None:
            problems.missing(f"{m.group(1)}/{m.group(2)}/ (frames of {path.name})")
            continue
        coding, _ = read_codes(path)
        images = {frame_number(p): p for p in folder_frames(folder)}
        lost = sorted(f for f in coding if f not in images)
        if lost:
            problems.missing(
                f"{folder}: {len(lost)} of {len(coding)} coded frames have no image "
                f"(first: frame {lost[0]})",
                item=False,
            )
        wanted, stride = sampling.pick(sorted(f for f in coding if f in images))
        if not wanted:
            continue
        levels = levels_all.get(path.stem.lower(), {})
        items.append(
            make_item(
                path.stem,
                m.group(1),
                [images[f] for f in wanted],
                {k: coding[f] for k, f in enumerate(wanted)},
                coded_aus(coding),
                fps / stride,
                {"frames": str(len(coding)), "stride": str(stride)},
                intensity=False,
                levels={k: levels.get(f, {}) for k, f in enumerate(wanted)},
            )
        )
    return items
