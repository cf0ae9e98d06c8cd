"""Data set adapters by name: each returns its items per protocol (scored separately).

``load`` also says how the data set was read (layout, subsampling) and what was skipped,
in lines the commands print and record with the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from microemo_train.facs import au_csv, ckplus, manifest
from microemo_train.facs.files import Problems, Sampling
from microemo_train.facs.items import FacsDataError, FacsItem

ADAPTERS = ("ckplus", "au-csv", "manifest")
LICENCE = {
    "ckplus": "CK+ (Kanade et al. 2000; Lucey et al. 2010): non-commercial research use only",
}


@dataclass(frozen=True)
class LoadOptions:
    mode: str = "both"  # ckplus, manifest: neutral-apex, apex or both
    neutral_frames: int = 8
    apex_frames: int = 4
    layout: str = "auto"  # au-csv: auto, disfa, bp4d, generic
    camera: str = "left"  # au-csv disfa
    frame_base: int = 0  # au-csv generic: the first video frame's number
    fps: float | None = None  # frame folders' rate (default 30; BP4D 25)
    sampling: Sampling = field(default_factory=Sampling)
    min_intensity: float = 1.0  # coded intensities below this count as absent
    on_missing: str = "stop"


@dataclass
class Loaded:
    sets: dict[str, list[FacsItem]]
    layout: str  # what was read, e.g. "ckplus (distributed)", "au-csv (disfa)"
    notes: list[str]  # how it was read and what was skipped, one line each


def load(adapter: str, root: Path, options: LoadOptions | None = None) -> Loaded:
    o = options or LoadOptions()
    if not root.exists():
        raise FacsDataError(f"{root}: no such file or folder")
    if o.mode not in ("both", *ckplus.MODES):
        raise FacsDataError(f"--mode {o.mode!r}: use neutral-apex, apex or both")
    problems = Problems(str(root), o.on_missing)
    if adapter == "ckplus":
        modes = ckplus.MODES if o.mode == "both" else (o.mode,)
        sets = {m: ckplus.load(root, m, o.neutral_frames, o.apex_frames, problems) for m in modes}
        # both protocols read the same sequences: name each missing file once
        problems.found = list(dict.fromkeys(problems.found))
        problems.items_left_out = len(problems.found)
        layout = "ckplus (" + ("development" if ckplus.is_dev_layout(root) else "distributed") + ")"
    elif adapter == "au-csv":
        if o.mode != "both":
            raise FacsDataError(
                "--mode is for ckplus and manifest: au-csv streams are scored whole"
            )
        name, items = au_csv.load(
            root, o.layout, o.sampling, problems, o.fps, o.frame_base, o.camera
        )
        sets, layout = {name: items}, f"au-csv ({name})"
    elif adapter == "manifest":
        sets = manifest.load(
            root, o.mode, o.neutral_frames, o.apex_frames, o.sampling, problems, o.fps or 30.0
        )
        layout = "manifest"
    else:
        raise FacsDataError(f"adapter {adapter!r}: use one of {', '.join(ADAPTERS)}")
    sets = {name: items for name, items in sets.items() if items}
    notes = _notes(sets, o, problems)
    if o.min_intensity > 1:
        sets = {n: [_floor(it, o.min_intensity) for it in items] for n, items in sets.items()}
    return Loaded(sets, layout, notes)


def _notes(sets: dict[str, list[FacsItem]], o: LoadOptions, problems: Problems) -> list[str]:
    kept = sum(len(items) for items in sets.values())
    notes = []
    skipped = problems.settle(kept)
    if skipped:
        notes.append(skipped)
    if not kept:
        raise FacsDataError(f"{problems.source}: no coded items found")
    streams = [it for items in sets.values() for it in items if "frames" in it.meta]
    strides = sorted({int(it.meta["stride"]) for it in streams})
    if strides and strides[-1] > 1:
        total = sum(int(it.meta["frames"]) for it in streams)
        read = sum(len(it.codes) for it in streams)
        every = "-".join(str(s) for s in dict.fromkeys((strides[0], strides[-1])))
        notes.append(
            f"subsampled: {read} of {total} coded frames read, every {every} frame(s) of "
            f"{len(streams)} stream(s) (--every {o.sampling.every}, --max-frames "
            f"{o.sampling.max_frames})"
        )
    if o.min_intensity > 1:
        notes.append(f"coded intensities below {o.min_intensity:g} count as absent")
    return notes


def _floor(item: FacsItem, level: float) -> FacsItem:
    """Codes below ``level`` as absent (0 = present without an intensity stays present)."""
    codes = {
        f: {au: v for au, v in aus.items() if v == 0 or v >= level} for f, aus in item.codes.items()
    }
    return replace(item, codes=codes)
