"""FACS-coded data sets built at test time from committable material, in each adapter's
layout under tmp_path: real faces (stills of the CREMA-D clips in tests/data, one "subject"
per clip) with Action Units added at known intensities by the spotting tool's landmark-driven
warps (``au_templates.toml``). Template scale 0.6 / 1.0 / 1.6 is coded B / C / D (2 / 3 / 4).
``microemo-train`` and ``microemo`` run as a user runs them: their own process."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tests.conftest import clip_path

from microemo.config import LandmarkerConfig
from microemo.sources.files import open_file_source
from microemo.types import Frame
from microemo.vision.landmarker import Landmarker
from microemo_train.spotting.warp import FaceMesh, displacement, warp_face

# subject -> (CREMA-D clip, still frame): the first frames, before the actor speaks; and a
# face no calibration sees (later in the neutral clip)
SOURCES = {"S01": ("ANG", 2), "S02": ("DIS", 2), "S03": ("FEA", 2), "S04": ("NEU", 2),
           "S05": ("SAD", 2), "unseen": ("NEU", 45)}  # fmt: skip
LEVEL = {0.6: 2, 1.0: 3, 1.6: 4}  # template scale -> FACS intensity


@dataclass
class Face:
    image: np.ndarray
    points: np.ndarray  # pixel landmarks
    mesh: FaceMesh

    def with_aus(self, aus: dict[str, float]) -> np.ndarray:
        if not aus:
            return self.image
        return warp_face(self.image, self.mesh, displacement(self.points, aus))


def load_faces() -> dict[str, Face]:
    """Each subject's still and its landmarks (one landmarker for all)."""
    out = {}
    with Landmarker(LandmarkerConfig()) as lm:
        for i, (subject, (emotion, index)) in enumerate(SOURCES.items()):
            with open_file_source(clip_path(emotion)) as src:
                image = next(f.image for k, f in enumerate(src) if k == index)
            face = lm.detect(Frame(image, i * 1000.0, i))[0]
            h, w = image.shape[:2]
            pts = face.landmarks[:, :2] * np.array([w, h], np.float32)
            out[subject] = Face(image, pts, FaceMesh.build(pts, image.shape))
    return out


def run_tool(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo_train.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_device(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image), path
    return path


# -- an expression over time: a few seconds of one face ---------------------------------------

# (AU template scales, first frame, last frame): each rises to its scale and falls back
EPISODES: list[tuple[dict[str, float], int, int]] = [
    ({"AU12": 1.6}, 6, 16),
    ({"AU04": 1.6}, 18, 28),
    ({"AU01": 1.0, "AU02": 1.0}, 29, 37),
]
N_FRAMES = 40


def timeline(n: int = N_FRAMES) -> list[dict[str, float]]:
    """Per frame, each AU's template scale (raised-cosine episodes)."""
    out: list[dict[str, float]] = [{} for _ in range(n)]
    for aus, first, last in EPISODES:
        for f in range(first, last + 1):
            w = 0.5 - 0.5 * np.cos(2 * np.pi * (f - first) / (last - first))
            for au, scale in aus.items():
                out[f][au] = scale * float(w)
    return out


def intensity(scale: float) -> int:
    """The FACS intensity a coder would give a template scale (0: not visible)."""
    return 0 if scale < 0.3 else 1 if scale < 0.5 else 2 if scale < 0.8 else 3 if scale < 1.3 else 4


def render(face: Face, n: int = N_FRAMES) -> list[np.ndarray]:
    return [face.with_aus(aus) for aus in timeline(n)]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 20.0) -> Path:
    """Lossless (HuffYUV AVI), as the synth tool writes, so the faces stay as warped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"HFYU"), fps, (w, h))
    assert out.isOpened(), path
    for image in frames:
        out.write(image)
    out.release()
    return path


def coded(n: int = N_FRAMES) -> list[dict[int, int]]:
    """Per frame, AU number -> coded intensity."""
    return [
        {int(au[2:]): intensity(s) for au, s in aus.items() if intensity(s) > 0}
        for aus in timeline(n)
    ]


# -- the layouts ------------------------------------------------------------------------------

DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)


def disfa(root: Path, videos: dict[str, list[np.ndarray]]) -> Path:
    """``Videos_LeftCamera/LeftVideoSN001_comp.avi`` and ``ActionUnit_Labels/SN001/SN001_au1.txt``
    lines ``frame,intensity`` with frames from 1."""
    codes = coded()
    for k, frames in enumerate(videos.values(), start=1):
        sn = f"SN{k:03d}"
        write_video(root / "Videos_LeftCamera" / f"LeftVideo{sn}_comp.avi", frames)
        folder = root / "ActionUnit_Labels" / sn
        folder.mkdir(parents=True, exist_ok=True)
        for au in DISFA_AUS:
            lines = [f"{f + 1},{codes[f].get(au, 0)}" for f in range(len(frames))]
            (folder / f"{sn}_au{au}.txt").write_text("\n".join(lines) + "\n")
    return root


def bp4d(root: Path, videos: dict[str, list[np.ndarray]], first: int = 100) -> Path:
    """``Sequences/F001/T1/0100.jpg`` frames and ``AUCoding/AU_OCC/F001_T1.csv`` (0/1, 9 for
    AU04 on the first five frames), AU12's intensities in ``AUCoding/AU_INT/AU12``."""
    codes = coded()
    occ = root / "AUCoding" / "AU_OCC"
    occ.mkdir(parents=True, exist_ok=True)
    columns = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
    for k, frames in enumerate(videos.values(), start=1):
        name = f"F{k:03d}_T1"
        for i, image in enumerate(frames):
            write_image(root / "Sequences" / f"F{k:03d}" / "T1" / f"{first + i:04d}.jpg", image)
        with (occ / f"{name}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Frame", *columns])
            for i in range(len(frames)):
                w.writerow([first + i] + [9 if au == 4 and i < 5 else int(au in codes[i])
                                          for au in columns])  # fmt: skip
        ints = root / "AUCoding" / "AU_INT" / "AU12"
        ints.mkdir(parents=True, exist_ok=True)
        rows = [f"{first + i},{codes[i].get(12, 0)}" for i in range(len(frames))]
        (ints / f"{name}_AU12.csv").write_text("\n".join(rows) + "\n")
    return root


def generic_csv(path: Path, first: int = 0, header: tuple[str, ...] = ("frame", "AU01", "AU04",
                "AU12")) -> Path:  # fmt: skip
    codes = coded()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i, c in enumerate(codes):
            w.writerow([first + i] + [c.get(int(h.strip()[-2:]), 0) for h in header[1:]])
    return path


def ckplus(root: Path, faces: dict[str, Face]) -> Path:
    """CK+ as distributed: two sequences a subject, neutral -> AU12 (happiness) and
    neutral -> AU01+AU02 (surprise), five frames each, the last one coded."""
    for subject, face in faces.items():
        for seq, (aus, emotion) in {
            1: ({"AU12": 1.6}, 5),
            2: ({"AU01": 1.6, "AU02": 1.6}, 7),
        }.items():
            name = f"{subject}_{seq:03d}"
            folder = root / "cohn-kanade-images" / subject / f"{seq:03d}"
            for i, w in enumerate((0.0, 0.0, 0.4, 0.8, 1.0), start=1):
                image = face.with_aus({au: s * w for au, s in aus.items()})
                write_image(folder / f"{name}_{i:08d}.png", image)
            lines = "".join(f"   {int(au[2:]):.7e}   {LEVEL[s]:.7e}\n" for au, s in aus.items())
            facs = root / "FACS" / subject / f"{seq:03d}" / f"{name}_00000005_facs.txt"
            facs.parent.mkdir(parents=True, exist_ok=True)
            facs.write_text(lines)
            emo = root / "Emotion" / subject / f"{seq:03d}" / f"{name}_00000005_emotion.txt"
            emo.parent.mkdir(parents=True, exist_ok=True)
            emo.write_text(f"   {emotion:.7e}\n")
    return root


# manifest rows a subject: (AUs warped in, how the coder wrote them, emotion label)
ROWS: list[tuple[dict[str, float], str, str]] = [
    ({"AU12": 0.6}, "12B", "happiness"),
    ({"AU12": 1.0}, "12:3", "happiness"),
    ({"AU12": 1.6}, "AU12:D", "happy"),
    ({"AU04": 1.0}, "4C", ""),
    ({"AU04": 1.6}, "4:4", ""),
    ({"AU01": 1.0, "AU02": 1.0}, "1C+2C", "surprise"),
    ({}, "0", "neutral"),
]


def manifest(root: Path, faces: dict[str, Face], neutral: bool = True) -> Path:
    """``root/faces.csv``: ``Path, Subject, AUs, Neutral, Label`` (as a person might head
    them), images in a folder per subject."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "faces.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Path", " Subject", "AUs", "Neutral", "Label"] if neutral else
                   ["path", "subject", "aus", "label"])  # fmt: skip
        for subject, face in faces.items():
            ref = write_image(root / subject / "neutral.png", face.image)
            for k, (aus, code, label) in enumerate(ROWS):
                img = write_image(root / subject / f"face{k}.png", face.with_aus(aus))
                rel = [str(img.relative_to(root)), subject, code]
                w.writerow([*rel, str(ref.relative_to(root)), label] if neutral else [*rel, label])
    return path


def blind_calibration(path: Path, aus: tuple[str, ...] = ("AU12",)) -> Path:
    """The built-in calibration with ``aus`` blinded (no weights: they never read present),
    to start a calibration from: whatever it then reads of them, the data taught it."""
    import tomli_w
    import tomllib

    from microemo.vision.calibration import BUILTIN

    d = tomllib.loads((Path(__import__("microemo.vision").vision.__file__).parent / BUILTIN)
                      .read_text())  # fmt: skip
    for au in aus:
        row = d["AU"][au]
        row.update(abs=[0.0] * len(row["abs"]), rel=[0.0] * len(row["rel"]), abs_bias=-5.0,
                   rel_bias=0.0)  # fmt: skip
    path.write_text(tomli_w.dumps(d))
    return path
