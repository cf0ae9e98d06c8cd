"""``microemo-train facs-frames``: a FACS data set's labelled items as frame folders for
``microemo-train`` (the generic adapter) and ``microemo analyze``.

    microemo-train facs-frames --adapter ckplus --root ckplus_dev --out data/ck \\
        --mode neutral-apex --neutral-frames 15 --apex-frames 15

writes ``OUT/<set>/<emotion>/<subject>_<item>/frame_000.png ...``: each item's frames as the
benchmark shows them (CK+'s 48x48 crops upscaled and bordered, the neutral frame repeated,
then the apex), one folder per labelled item, named so that the generic adapter reads the
subject as the name before the first ``_``. Items without an emotion label are counted and
left out. Nothing is landmarked here; the images are written as they are read.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import cv2

from microemo_train.facs import adapters
from microemo_train.facs.items import FacsDataError, FacsItem

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NOT_SUBJECT = re.compile(r"[^A-Za-z0-9.-]+")  # no "_": it ends the subject in a folder name


def folder_name(item: FacsItem, set_name: str) -> str:
    """``<subject>_<item>``: the item's key without its set suffix, made file-system safe,
    prefixed with the subject unless it already starts with it."""
    key = item.key.removesuffix("/" + set_name)
    name = UNSAFE.sub("-", key).strip("-") or "item"
    subject = NOT_SUBJECT.sub("-", item.subject).strip("-") or "subject"
    return name if name.startswith(subject + "_") else f"{subject}_{name}"


def write_item(item: FacsItem, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for n, image in enumerate(item.images(), start=1):
        path = folder / f"frame_{n - 1:03d}.png"
        if not cv2.imwrite(str(path), image):
            raise OSError(f"{path}: could not write the frame (disk full or read-only?)")
    return n


def run_frames(args: argparse.Namespace, options: adapters.LoadOptions) -> int:
    out: Path = args.out
    try:
        loaded = adapters.load(args.adapter, args.root, options)
        if out.exists() and any(out.iterdir()):
            raise FacsDataError(f"{out}: not empty; give a new folder (nothing is overwritten)")
        written: Counter[str] = Counter()
        unlabelled = 0
        for set_name, items in loaded.sets.items():
            for item in items:
                if not item.label:
                    unlabelled += 1
                    continue
                dest = out / set_name / item.label / folder_name(item, set_name)
                if dest.exists():
                    raise FacsDataError(f"{dest}: two items map to this folder ({item.key})")
                write_item(item, dest)
                written[f"{set_name}/{item.label}"] += 1
    except (FacsDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in loaded.notes:
        print(note)
    for key, n in sorted(written.items()):
        print(f"{n:5d}  {out / key}")
    if unlabelled:
        print(f"left out {unlabelled} item(s) without an emotion label")
    sets = sorted({k.split("/")[0] for k in written})
    print(
        "train on it with: microemo-train all --config models/train-ckplus.toml "
        f"--set data.root={out / (sets[0] if sets else 'neutral-apex')}"
    )
    return 0
