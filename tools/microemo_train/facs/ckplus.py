"""CK+ (Lucey et al. 2010) in its two layouts, told apart by what the folder holds.

- Development layout (``neutral/``, ``apex/<emotion>/``, ``last3/<emotion>/``, ``facs.csv``):
  48x48 grey crops, prepared as the layout's README says (cubic upscale to 192 px, 64 px
  black border).
- As distributed (``cohn-kanade-images/S005/001/S005_001_00000001.png``,
  ``FACS/S005/001/S005_001_00000011_facs.txt`` with "AU intensity" lines,
  ``Emotion/S005/001/S005_001_00000011_emotion.txt`` with a code 0-7): full-size frames as
  they are; the neutral is a sequence's first frame, the apex its FACS-coded peak frame.

Two protocols, scored separately: ``neutral-apex`` (the neutral frame repeated, then the apex
repeated; codes on the last frame) and ``apex`` (the last three frames up to the peak, no
neutral). Sequences with an emotion but no FACS codes are kept for the emotion figures.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from microemo_train.facs.files import Problems
from microemo_train.facs.items import FacsDataError, FacsItem

CK_EMOTIONS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
# the Emotion/ files' codes, as CK+'s README gives them
CK_CODES = ("neutral", "anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
CK_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")
MODES = ("neutral-apex", "apex")


def is_dev_layout(root: Path) -> bool:
    return all((root / sub).is_dir() for sub in ("neutral", "apex", "last3"))


def load(
    root: Path, mode: str, neutral_frames: int, apex_frames: int, problems: Problems
) -> list[FacsItem]:
    if mode not in MODES:
        raise FacsDataError(f"ckplus mode {mode!r}: use neutral-apex, apex or both")
    if is_dev_layout(root):
        return dev_layout(root, mode, neutral_frames, apex_frames)
    images = _find(root, "cohn-kanade-images")
    if images is None:
        raise FacsDataError(
            f"{root}: neither CK+ layout: no neutral/, apex/ and last3/ folders (development "
            "layout) and no cohn-kanade-images/ folder (CK+ as distributed)"
        )
    return distributed(root, images, mode, neutral_frames, apex_frames, problems)


def _find(root: Path, name: str) -> Path | None:
    """``root/name`` or ``root/*/name`` (the zips unpack with or without a top folder)."""
    if (root / name).is_dir():
        return root / name
    return next((p for p in sorted(root.glob(f"*/{name}")) if p.is_dir()), None)


# -- the development layout -------------------------------------------------------------------


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


def dev_layout(
    root: Path, mode: str = "neutral-apex", neutral_frames: int = 8, apex_frames: int = 4
) -> list[FacsItem]:
    """CK+ development layout; coded sequences without an apex crop cannot be used."""
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
    else:
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
    if not items:
        raise FacsDataError(f"{root}: no usable sequences for mode {mode}")
    return items


# -- CK+ as distributed -----------------------------------------------------------------------


def _numbers(path: Path) -> list[float]:
    """The numbers of a CK+ label file ("   1.0000000e+00   3.0000000e+00" lines)."""
    try:
        return [float(v) for v in path.read_text().split()]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FacsDataError(f"{path}: not a CK+ label file of numbers ({exc})") from None


def read_facs_file(path: Path) -> dict[int, float]:
    values = _numbers(path)
    if len(values) % 2:
        raise FacsDataError(f"{path}: expected 'AU intensity' pairs, found {len(values)} numbers")
    return {int(values[i]): values[i + 1] for i in range(0, len(values), 2)}


def read_emotion_file(path: Path) -> str:
    values = _numbers(path)
    if len(values) != 1 or values[0] not in range(len(CK_CODES)):
        raise FacsDataError(f"{path}: expected one emotion code 0-7, found {values}")
    return CK_CODES[int(values[0])]


def _label_files(folder: Path | None, suffix: str) -> dict[str, tuple[int, Path]]:
    """sequence -> (frame number, file) for ``S005_001_00000011_<suffix>.txt`` files."""
    out: dict[str, tuple[int, Path]] = {}
    if folder is None:
        return out
    for p in sorted(folder.rglob(f"*_{suffix}.txt")):
        m = CK_NAME.match(p.stem[: -len(suffix) - 1])
        if m:
            out[f"{m.group(1)}_{m.group(2)}"] = (int(m.group(3)), p)
    return out


def distributed(
    root: Path,
    images: Path,
    mode: str,
    neutral_frames: int,
    apex_frames: int,
    problems: Problems,
) -> list[FacsItem]:
    facs = _label_files(_find(root, "FACS"), "facs")
    emotions = _label_files(_find(root, "Emotion"), "emotion")
    if not facs and not emotions:
        raise FacsDataError(
            f"{root}: no FACS/ or Emotion/ label files (S005_001_00000011_facs.txt) next to "
            f"{images.name}/"
        )
    items = []
    for seq in sorted(set(facs) | set(emotions)):
        subject, number = seq.split("_")
        folder = images / subject / number
        frames = {int(m.group(3)): p for p in sorted(folder.glob("*.png"))
                  if (m := CK_NAME.match(p.stem))}  # fmt: skip
        peak = facs[seq][0] if seq in facs else emotions[seq][0]
        if peak not in frames or not frames:
            problems.missing(f"{folder / f'{seq}_{peak:08d}.png'}", "the coded peak frame")
            continue
        codes = read_facs_file(facs[seq][1]) if seq in facs else None
        label = read_emotion_file(emotions[seq][1]) if seq in emotions else None
        if mode == "neutral-apex":
            seq_frames = (frames[min(frames)],) * neutral_frames + (frames[peak],) * apex_frames
            neutral = tuple(range(neutral_frames))
        else:
            seq_frames = tuple(frames[k] for k in sorted(frames) if k <= peak)[-3:]
            neutral = ()
        last = len(seq_frames) - 1
        items.append(
            FacsItem(
                f"{seq}/{mode}",
                subject,
                seq_frames,
                {last: codes} if codes is not None else {},
                neutral=neutral,
                label=label,
            )
        )
    return items
