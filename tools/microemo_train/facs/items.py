"""FACS-coded inputs as the benchmark and the calibration see them.

A ``FacsItem`` is one short stream of frames of one subject: optional neutral reference
frames first, then the frames that carry FACS codes. ``codes`` maps a frame index to the AUs
the coder saw there (intensity 1-5 for A-E, 0 when present without an intensity);
``coded`` says which AUs the data set codes at all (an AU it never codes is unknown, not
absent). Adapters, chosen by name:

- ``ckplus``: the CK+ development layout (``neutral/``, ``apex/<emotion>/``,
  ``last3/<emotion>/``, ``facs.csv``; 48x48 grey crops prepared as the layout's README says:
  cubic upscale to 192 px, 64 px black border).
- ``au-csv``: per-frame AU CSVs in the DISFA/BP4D style (see ``au_csv.py``).
- ``manifest``: a generic CSV (see ``manifest.py``).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

CK_EMOTIONS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
CK_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")


class FacsDataError(Exception):
    """A data set that cannot be used as given; the message names the file and row."""


@dataclass(frozen=True)
class FacsItem:
    key: str  # unique within the data set, e.g. "S005_001/neutral-apex"
    subject: str
    frames: tuple[Path, ...]  # the frame files in order (a file may repeat)
    codes: dict[int, dict[int, float]]  # frame index -> AU -> intensity (0: present)
    coded: frozenset[int] | None = None  # AUs the data set codes; None: every AU
    neutral: tuple[int, ...] = ()  # frame indices known to show a neutral face
    label: str | None = None  # emotion label, when the data set has one
    fps: float = 30.0
    prepare: str = ""  # how frames are turned into pictures ("" = as read)
    meta: dict[str, str] = field(default_factory=dict)

    def images(self) -> Iterator[np.ndarray]:
        prep = PREPARE[self.prepare]
        cache: dict[Path, np.ndarray] = {}
        for p in self.frames:
            if p not in cache:
                cache = {p: prep(p)}  # frames repeat in runs: keep the last one only
            yield cache[p]

    def fingerprint(self) -> str:
        """Changes when a frame's bytes, the order or the preparation change."""
        h = hashlib.sha256(self.prepare.encode())
        digests: dict[Path, bytes] = {}
        for p in self.frames:
            if p not in digests:
                digests[p] = hashlib.sha256(p.read_bytes()).digest()
            h.update(digests[p])
        return h.hexdigest()[:20]


def _read_bgr(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacsDataError(f"{path}: not a readable image (png, jpg, bmp...)")
    return image


def prepare_ck_crop(path: Path) -> np.ndarray:
    """A 48x48 CK+ crop as the landmarker needs it: cubic x4, 64 px black border."""
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise FacsDataError(f"{path}: not a readable image")
    big = cv2.resize(grey, (192, 192), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, 64, 64, 64, 64, cv2.BORDER_CONSTANT, value=0)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


PREPARE: dict[str, Callable[[Path], np.ndarray]] = {"": _read_bgr, "ck48": prepare_ck_crop}


def _ck_index(folder: Path) -> dict[str, list[tuple[int, Path, str]]]:
    """sequence -> [(frame number, path, emotion folder)] for every crop under ``folder``."""
    found: dict[str, list[tuple[int, Path, str]]] = defaultdict(list)
    for p in sorted(folder.rglob("*.png")):
        m = CK_NAME.match(p.stem)
        if m:
            emotion = p.parent.name if p.parent != folder else ""
            found[f"{m.group(1)}_{m.group(2)}"].append((int(m.group(3)), p, emotion))
    return found


def read_ck_facs(path: Path) -> dict[str, dict[int, float]]:
    """``facs.csv`` (subject,sequence,peak_frame,au,intensity) -> sequence -> AU -> intensity."""
    if not path.is_file():
        raise FacsDataError(f"{path}: no such file (the CK+ layout keeps the codes in facs.csv)")
    codes: dict[str, dict[int, float]] = defaultdict(dict)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        need = {"subject", "sequence", "au", "intensity"}
        if not need <= set(reader.fieldnames or ()):
            missing = sorted(need - set(reader.fieldnames or ()))
            raise FacsDataError(f"{path}: missing column(s) {', '.join(missing)}")
        for n, row in enumerate(reader, start=2):
            try:
                seq = f"{row['subject']}_{int(row['sequence']):03d}"
                codes[seq][int(float(row["au"]))] = float(row["intensity"] or 0)
            except ValueError:
                raise FacsDataError(f"{path}:{n}: not a number in {row}") from None
    return codes


def ckplus(
    root: Path, mode: str = "neutral-apex", neutral_frames: int = 8, apex_frames: int = 4
) -> list[FacsItem]:
    """CK+ development layout. ``mode``: ``neutral-apex`` (the neutral crop repeated, then
    the apex crop repeated; codes on the last frame) or ``apex`` (the last three frames of a
    sequence, no neutral). Sequences with an emotion but no FACS codes are kept for the
    emotion figures (empty codes); coded sequences without an apex crop cannot be used."""
    for sub in ("neutral", "apex", "last3"):
        if not (root / sub).is_dir():
            raise FacsDataError(f"{root}: no {sub}/ folder; is this the CK+ development layout?")
    facs = read_ck_facs(root / "facs.csv")
    neutral = {seq: rows[0][1] for seq, rows in _ck_index(root / "neutral").items()}
    items = []
    if mode == "neutral-apex":
        for seq, rows in sorted(_ck_index(root / "apex").items()):
            if seq not in neutral:
                continue
            _, apex, emotion = max(rows)
            frames = (neutral[seq],) * neutral_frames + (apex,) * apex_frames
            last = len(frames) - 1
            items.append(
                FacsItem(
                    f"{seq}/neutral-apex",
                    seq.split("_")[0],
                    frames,
                    {last: facs[seq]} if seq in facs else {},
                    neutral=tuple(range(neutral_frames)),
                    label=emotion or None,
                    prepare="ck48",
                )
            )
    elif mode == "apex":
        for seq, rows in sorted(_ck_index(root / "last3").items()):
            rows.sort()
            frames = tuple(p for _, p, _ in rows)
            items.append(
                FacsItem(
                    f"{seq}/apex",
                    seq.split("_")[0],
                    frames,
                    {len(frames) - 1: facs[seq]} if seq in facs else {},
                    label=rows[-1][2] or None,
                    prepare="ck48",
                )
            )
    else:
        raise FacsDataError(f"ckplus mode {mode!r}: use neutral-apex or apex")
    if not items:
        raise FacsDataError(f"{root}: no usable sequences for mode {mode}")
    return items
