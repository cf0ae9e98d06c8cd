"""Dataset adapters: each turns a dataset as its distribution ships it into ``Item`` rows
(input path, label, subject, optional frame range). Problems are found here, before hours of
extraction: a missing label or an unreadable input raises ``DatasetError`` naming it.

- ``crema-d``: ``VideoFlash/<Actor>_<Sentence>_<Emotion>_<Level>.flv|.mp4``; actor = subject.
- ``casme2``: ``sub01/EP02_01f/img46.jpg`` frame folders + the coding sheet (xlsx or csv).
- ``samm``: ``006/006_1_2/006_05562.jpg`` frame folders + the SAMM FACS sheet.
- ``generic``: ``root/<label>/`` holding videos, frame folders or still images; subject =
  the part of the name before the first ``_`` (else the name itself).
- ``manifest``: a CSV with columns ``path,label,subject`` (paths relative to the CSV).
- ``features``: ``index.csv`` of per-frame feature files (``synth-corpus`` output).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from microemo_train.settings import DataConfig

logger = logging.getLogger(__name__)

VIDEO_EXT = {".flv", ".mp4", ".avi", ".mov", ".mkv", ".webm"}
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp"}
CREMA_EMOTIONS = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happiness",
    "NEU": "neutral",
    "SAD": "sadness",
}
CREMA_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


class DatasetError(Exception):
    """A dataset that cannot be used as given; the message names the file, row or label."""


@dataclass(frozen=True)
class Item:
    path: Path  # video, frame folder, still image, or feature .npz (kind "features")
    label: str
    subject: str
    kind: str = "media"  # "media" (runs the device pipeline) or "features"
    fps: float | None = None  # frame folders and stills: the rate frames were taken at
    first_frame: int | None = None  # frame index range to window (coding sheets)
    last_frame: int | None = None


def is_media(p: Path) -> bool:
    return p.suffix.lower() in VIDEO_EXT | IMAGE_EXT or (
        p.is_dir() and any(f.suffix.lower() in IMAGE_EXT for f in p.iterdir())
    )


def crema_d(root: Path) -> list[Item]:
    folder = root / "VideoFlash" if (root / "VideoFlash").is_dir() else root
    items = []
    for p in sorted(folder.iterdir()):
        m = CREMA_NAME.match(p.stem)
        if p.suffix.lower() not in VIDEO_EXT or not m:
            continue
        if m.group(3) not in CREMA_EMOTIONS:
            raise DatasetError(f"{p}: unknown CREMA-D emotion code {m.group(3)!r}")
        items.append(Item(p, CREMA_EMOTIONS[m.group(3)], m.group(1)))
    if not items:
        raise DatasetError(f"{folder}: no <Actor>_<Sentence>_<Emotion>_<Level>.flv|.mp4 files")
    return items


def _norm(s: str) -> str:
    return re.sub(r"[\s_]+", "", str(s)).lower()


def read_sheet(path: Path) -> list[dict[str, str]]:
    """Rows of a coding sheet (xlsx through openpyxl when installed, else csv), keys
    normalised (case and spaces ignored)."""
    if not path.is_file():
        raise DatasetError(f"{path}: coding sheet not found")
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        try:
            import openpyxl
        except ImportError as exc:
            raise DatasetError(
                f"{path}: reading xlsx needs openpyxl (pip install openpyxl) "
                "or save the sheet as CSV"
            ) from exc
        ws = openpyxl.load_workbook(path, read_only=True, data_only=True).active
        rows = [["" if v is None else str(v) for v in r] for r in ws.iter_rows(values_only=True)]
    else:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    if not rows:
        raise DatasetError(f"{path}: empty coding sheet")
    head = [_norm(h) for h in rows[0]]
    return [dict(zip(head, r, strict=False)) for r in rows[1:] if any(c.strip() for c in r)]


def need(rows: list[dict[str, str]], path: Path, *columns: str) -> None:
    have = set(rows[0]) if rows else set()
    for col in columns:
        if _norm(col) not in have:
            raise DatasetError(
                f"{path}: coding sheet has no column {col!r} (columns: {sorted(have)})"
            )


def _int(v: str, where: str) -> int | None:
    v = str(v).strip()
    if v in {"", "/", "-"}:
        return None
    try:
        return int(float(v))
    except ValueError as exc:
        raise DatasetError(f"{where}: {v!r} is not a frame number") from exc


def check_missing(where: str, missing: list[str], total: int, policy: str, root: Path) -> None:
    """Rows naming an input that does not exist, all in one message: stop (the default) or
    skip them, as ``[data] missing`` says; when none exists the root is wrong: stop."""
    if not missing:
        return
    if len(missing) == total:
        raise DatasetError(
            f"{where}: none of the {total} inputs it lists exists under {root} (first: "
            f"{missing[0]}); check [data] root"
        )
    head = f"{where}: {len(missing)} of {total} rows name an input that does not exist: " + (
        ", ".join(missing)
    )
    if policy == "skip":
        logger.warning("%s; skipping them ([data] missing = 'skip')", head)
        return
    raise DatasetError(
        f'{head}; set [data] missing = "skip" (or pass --skip-missing) to go on without them'
    )


def coded_sequences(
    root: Path, sheet: Path, fps: float, subject_dir: str, missing: str = "stop"
) -> list[Item]:
    """CASME II / SAMM: one item per coded row, the frame folder trimmed to onset..offset."""
    rows = read_sheet(sheet)
    emo = "estimatedemotion"
    need(rows, sheet, "Subject", "Filename", "Onset Frame", "Offset Frame", "Estimated Emotion")
    items = []
    absent: list[str] = []
    for n, r in enumerate(rows, start=2):
        subj = r["subject"].strip()
        if subj.replace(".0", "").isdigit():
            subj = subj.replace(".0", "")
        folder = (
            root
            / subject_dir.format(subj=subj, subj_int=int(float(subj)) if subj.isdigit() else 0)
            / r["filename"].strip()
        )
        if not folder.is_dir():
            rel = folder.relative_to(root) if folder.is_relative_to(root) else folder
            absent.append(f"row {n} {rel}")
            continue
        label = r[emo].strip().lower()
        if not label:
            raise DatasetError(f"{sheet}: row {n} ({folder.name}) has no Estimated Emotion")
        items.append(
            Item(
                folder,
                label,
                subj,
                fps=fps,
                first_frame=_int(r["onsetframe"], f"{sheet} row {n}"),
                last_frame=_int(r["offsetframe"], f"{sheet} row {n}"),
            )
        )
    check_missing(str(sheet), absent, len(rows), missing, root)
    return items


def casme2(root: Path, sheet: Path | None, fps: float | None, missing: str = "stop") -> list[Item]:
    sheet = sheet or next(iter(sorted(root.glob("CASME2-coding*"))), root / "CASME2-coding.xlsx")
    return coded_sequences(root, sheet, fps or 200.0, "sub{subj_int:02d}", missing)


def samm(root: Path, sheet: Path | None, fps: float | None, missing: str = "stop") -> list[Item]:
    sheet = sheet or next(
        iter(sorted(root.glob("*.xlsx")) + sorted(root.glob("*.csv"))),
        root / "SAMM_Micro_FACS_Codes.xlsx",
    )
    return coded_sequences(root, sheet, fps or 200.0, "{subj}", missing)


def generic(root: Path, fps: float | None) -> list[Item]:
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    items = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        entries = sorted(label_dir.iterdir())
        media = [p for p in entries if is_media(p)]
        skipped = [p.name for p in entries if p not in media and not p.name.startswith(".")]
        if skipped:
            raise DatasetError(f"{label_dir}: not a video, frame folder or image: {skipped}")
        if not media:
            raise DatasetError(f"{label_dir}: label {label_dir.name!r} has no inputs")
        items += [Item(p, label_dir.name, p.stem.split("_")[0], fps=fps) for p in media]
    if not items:
        raise DatasetError(f"{root}: expected one subfolder per label")
    return items


def manifest(
    csv_path: Path, fps: float | None, kind: str = "media", missing: str = "stop"
) -> list[Item]:
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: manifest not found")
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    path_col = "file" if rows and "file" in rows[0] else "path"
    for col in (path_col, "label", "subject"):
        if rows and col not in rows[0]:
            raise DatasetError(f"{csv_path}: no column {col!r} (need path,label,subject)")
    items = []
    absent: list[str] = []
    for n, r in enumerate(rows, start=2):
        p = csv_path.parent / r[path_col]
        if not (r.get("label") or "").strip():
            raise DatasetError(f"{csv_path}: row {n} ({r[path_col]}) has no label")
        if not p.exists():
            absent.append(f"row {n} {r[path_col]}")
            continue
        items.append(
            Item(p, r["label"].strip(), (r.get("subject") or p.stem).strip(), kind=kind, fps=fps)
        )
    check_missing(str(csv_path), absent, len(rows), missing, csv_path.parent)
    if not items:
        raise DatasetError(f"{csv_path}: manifest lists no inputs")
    return items


def load_items(cfg: DataConfig, produced: tuple[str, ...] = ()) -> list[Item]:
    """The dataset's items, labels mapped through ``label_map`` and checked against
    ``labels`` (every configured label must have inputs, but for ``produced``: labels the
    windows step gives, e.g. ``neutral`` before the expression; unlisted labels are dropped)."""
    a = cfg.adapter
    if a == "crema-d":
        items = crema_d(cfg.root)
    elif a == "casme2":
        items = casme2(cfg.root, cfg.sheet, cfg.fps, cfg.missing)
    elif a == "samm":
        items = samm(cfg.root, cfg.sheet, cfg.fps, cfg.missing)
    elif a == "generic":
        items = generic(cfg.root, cfg.fps)
    elif a == "features":
        index = cfg.root if cfg.root.suffix else cfg.root / "index.csv"
        items = manifest(index, cfg.fps, kind="features", missing=cfg.missing)
    else:
        items = manifest(cfg.root, cfg.fps, missing=cfg.missing)
    return apply_labels(items, cfg.label_map, cfg.labels, str(cfg.root), produced)


def apply_labels(
    items: Iterable[Item],
    label_map: dict[str, str],
    labels: list[str],
    where: str,
    produced: tuple[str, ...] = (),
) -> list[Item]:
    out = []
    for it in items:
        lab = label_map.get(it.label, it.label)
        if lab and (not labels or lab in labels):
            out.append(
                Item(it.path, lab, it.subject, it.kind, it.fps, it.first_frame, it.last_frame)
            )
    found = {it.label for it in out}
    missing = [lab for lab in labels if lab not in found and lab not in produced]
    if missing:
        raise DatasetError(
            f"{where}: no inputs for label(s) {missing} "
            f"(found {sorted(found)}; map names with [data] label_map)"
        )
    if len(found | set(produced)) < 2:
        raise DatasetError(f"{where}: need at least two labels, found {sorted(found)}")
    logger.info(
        "%s: %d inputs, %d labels, %d subjects",
        where,
        len(out),
        len(found),
        len({it.subject for it in out}),
    )
    return out
