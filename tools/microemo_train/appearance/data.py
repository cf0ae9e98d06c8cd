"""Labelled face stills for the appearance model, from the layouts data sets ship in.

- ``folders``: one sub-folder per class (``angry/``, ``Happiness/``...; FER2013's
  ``train/<class>/*.jpg`` is this, one level down), names read by the emotion benchmark's
  synonyms; no subjects: every still is its own.
- ``ckplus``: the CK+ development layout (``neutral/``, ``apex/<emotion>/``, ``last3/``):
  the neutral crops and the apex crops as stills, subjects from the file names, and each
  sequence's neutral -> apex pair for reading the AUs against the face's own neutral.
- ``csv``: ``path,label[,subject[,sequence]]`` rows; stills of one subject's sequence stay in
  one part, and its neutral still is paired with each of its expressions (as CK+'s are).

Small crops (under 128 px, as FER2013's and CK+'s 48 px faces) are prepared as the data sets'
READMEs say: cubic upscale to 192 px and 64 px of black around, so the landmarker finds them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from microemo.sources.files import IMAGE_EXTS
from microemo_train.emotion_bench.inputs import BenchInputError, core_label

SMALL = 128  # faces smaller than this are upscaled and padded before landmarking
CK_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")


@dataclass(frozen=True)
class Still:
    path: Path
    label: str
    subject: str  # "" when the data set has no subjects (each still its own)
    group: str = ""  # stills that must fall in one fold (pixel-identical copies, a sequence)


@dataclass
class StillSet:
    name: str
    stills: list[Still]
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (neutral, apex) still indices
    licence: str = ""
    root: str = ""  # where it was read from


def prepare(path: Path) -> np.ndarray:
    """The picture as the landmarker should see it (BGR)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BenchInputError(f"{path}: not a readable image")
    h, w = image.shape[:2]
    if max(h, w) < SMALL:
        scale = 192.0 / max(h, w)
        image = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC
        )
        image = cv2.copyMakeBorder(image, 64, 64, 64, 64, cv2.BORDER_CONSTANT, value=0)
    return image


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def folders(root: Path, name: str, duplicates: Path | None = None) -> StillSet:
    """Class folders under ``root`` (or ``root/train``, FER2013's layout)."""
    if (root / "train").is_dir():
        root = root / "train"
    groups: dict[str, str] = {}
    if duplicates is not None and duplicates.is_file():
        with duplicates.open(newline="") as f:
            for r in csv.DictReader(f):
                groups[str((duplicates.parent / r["file"]).resolve())] = f"dup{r['group']}"
    stills = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = core_label(folder.name, {}, str(folder))
        for p in _images(folder):
            stills.append(Still(p, label, "", groups.get(str(p.resolve()), "")))
    if not stills:
        raise BenchInputError(f"{root}: no class folders with pictures")
    return StillSet(name, stills)


def ckplus(root: Path, name: str = "ckplus") -> StillSet:
    """The CK+ development layout: neutral and apex crops, with their sequences paired."""
    if not all((root / d).is_dir() for d in ("neutral", "apex")):
        raise BenchInputError(f"{root}: not the CK+ development layout (neutral/ and apex/)")
    stills: list[Still] = []
    for p in _images(root / "neutral"):
        m = CK_NAME.match(p.stem)
        if m:
            stills.append(Still(p, "neutral", m[1], f"{m[1]}_{m[2]}"))
    for folder in sorted((root / "apex").iterdir()):
        for p in _images(folder) if folder.is_dir() else []:
            m = CK_NAME.match(p.stem)
            if m:
                label = core_label(folder.name, {}, str(folder))
                stills.append(Still(p, label, m[1], f"{m[1]}_{m[2]}"))
    return StillSet(name, stills, _sequence_pairs(stills), "CK+: non-commercial research use only")


def from_csv(path: Path, name: str) -> StillSet:
    stills = []
    with path.open(newline="", encoding="utf-8") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            p = (path.parent / r["path"]).resolve()
            label = core_label(r["label"], {}, f"{path} line {line}")
            subject, seq = ((r.get(k, "") or "").strip() for k in ("subject", "sequence"))
            stills.append(Still(p, label, subject, f"{subject}_{seq}" if seq else ""))
    return StillSet(name, stills, _sequence_pairs(stills))


def _sequence_pairs(stills: list[Still]) -> list[tuple[int, int]]:
    """(neutral, expression) still indices within each sequence: its first neutral still
    with every other still of it."""
    seqs: dict[str, list[int]] = {}
    for i, st in enumerate(stills):
        if st.group:
            seqs.setdefault(st.group, []).append(i)
    pairs = []
    for members in seqs.values():
        rest = [i for i in members if stills[i].label == "neutral"]
        if rest:
            pairs += [(rest[0], j) for j in members if stills[j].label != "neutral"]
    return sorted(pairs, key=lambda p: p[1])


def load_set(spec: str) -> StillSet:
    """``NAME=KIND:PATH`` (kind folders, ckplus or csv; ``NAME=PATH`` guesses it)."""
    name, _, rest = spec.partition("=")
    kind, sep, where = rest.partition(":")
    if not sep:
        kind, where = "", rest
    path = Path(where).expanduser()
    if not name or not where:
        raise BenchInputError(f"--data {spec!r}: write NAME=PATH or NAME=KIND:PATH")
    if not path.exists():
        raise BenchInputError(f"--data {spec!r}: {path} does not exist")
    kind = kind or (
        "ckplus" if (path / "apex").is_dir() else "csv" if path.is_file() else "folders"
    )
    if kind not in ("ckplus", "csv", "folders"):
        raise BenchInputError(f"--data {spec!r}: kind {kind!r}: use folders, ckplus or csv")
    s = (
        ckplus(path, name)
        if kind == "ckplus"
        else from_csv(path, name)
        if kind == "csv"
        else folders(path, name, path / "duplicates.csv")
    )
    s.root = str(path)
    if (path / "README.md").is_file() and not s.licence:
        s.licence = _terms(path / "README.md")
    return s


def _terms(readme: Path) -> str:
    """The data set README's "Terms:" paragraph (up to the next blank line), if it has one."""
    lines = readme.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.lower().startswith("terms:"):
            para = [line.split(":", 1)[1].strip()]
            for more in lines[i + 1 :]:
                if not more.strip():
                    break
                para.append(more.strip())
            return " ".join(para)
    return ""


PARTS = ("train", "fusion", "test")


def split(
    s: StillSet, shares: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> np.ndarray:
    """Each still's part (0 train, 1 fusion, 2 test): stratified by label, whole subjects
    (or copy groups, or sequences) in one part, the same for the same stills and seed."""
    keys = np.array([st.subject or st.group or str(st.path) for st in s.stills])
    labels = np.array([st.label for st in s.stills])
    uniq, first = np.unique(keys, return_index=True)
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(shares)[:-1]
    part_of: dict[str, int] = {}
    for label in np.unique(labels[first]):
        groups = uniq[labels[first] == label]
        rng.shuffle(groups)
        where = np.searchsorted(cuts * len(groups), np.arange(len(groups)), side="right")
        part_of.update(zip(groups.tolist(), where.tolist()))
    return np.array([part_of[k] for k in keys])


def write_parts(s: StillSet, part: np.ndarray, out: Path) -> list[Path]:
    """``<set>-<part>.csv`` (path,label,subject) for each part: what was fitted on what."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, name in enumerate(PARTS):
        path = out / f"{s.name}-{name}.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "subject"])
            for st, p in zip(s.stills, part):
                if p == k:
                    w.writerow([st.path, st.label, st.subject])
        written.append(path)
    return written
