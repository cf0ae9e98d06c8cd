"""The labelled inputs of an emotion benchmark: a folder with one sub-folder per class, or a
CSV of ``path,label`` rows (paths relative to the CSV), with an optional ``subject`` column
naming the person each input shows (the benchmark then says whose resting faces it misreads)
and any columns that group the inputs (``--by origin``: the figures per group).

In a class folder every picture is one input (a still), every video is one input, and every
sub-folder is one input (a frame sequence). Class names are read loosely: ``happy``,
``Happiness``, ``HAP`` and ``joy`` are all ``happiness``; a name that is none of the
device's core emotions is refused with the names it knows, unless ``--label-map`` maps it or
it is a class ``--merge`` makes (data already labelled ``negative/``, ``positive/``,
``surprise/``, as MEGC's composite set is).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from microemo.emotion.rules import CORE_EMOTIONS
from microemo.sources.files import IMAGE_EXTS, VIDEO_EXTS

# everyday and data-set spellings of the device's core emotions (lower case)
SYNONYMS: dict[str, str] = {
    "angry": "anger",
    "ang": "anger",
    "an": "anger",
    "disgusted": "disgust",
    "dis": "disgust",
    "di": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "fea": "fear",
    "fe": "fear",
    "happy": "happiness",
    "hap": "happiness",
    "ha": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "sa": "sadness",
    "surprised": "surprise",
    "sur": "surprise",
    "su": "surprise",
    "neu": "neutral",
    "ne": "neutral",
    "calm": "neutral",
    "contemptuous": "contempt",
    "con": "contempt",
    "repressed": "repression",
}


class BenchInputError(ValueError):
    """The benchmark's inputs cannot be read as given; the message says where and what to do."""


@dataclass(frozen=True)
class LabelledInput:
    path: Path
    label: str  # a core emotion (or a merged class, see ``score.Merge``)
    subject: str = ""  # the person it shows, where the CSV says ("": not known)
    groups: tuple[tuple[str, str], ...] = ()  # (column, value) of the CSV's --by columns


def core_label(
    name: str, label_map: dict[str, str], where: str, merged: frozenset[str] = frozenset()
) -> str:
    """``name`` as a core emotion: through ``label_map`` first, then the synonyms; or as one
    of the ``merged`` classes (``--merge``'s), which it may name already."""
    mapped = label_map.get(name, label_map.get(name.lower(), name))
    key = mapped.strip().lower()
    label = SYNONYMS.get(key, key)
    if label not in CORE_EMOTIONS and label not in merged:
        raise BenchInputError(
            f"{where}: class {name!r} is not a core emotion ({', '.join(CORE_EMOTIONS)}); "
            f"rename it or map it with --label-map {name}=EMOTION"
        )
    return label


def input_kind(path: Path) -> str | None:
    """'still', 'video' or 'frames' for a usable input, None for anything else."""
    if path.is_dir():
        return "frames"
    suffix = path.suffix.lower()
    return "still" if suffix in IMAGE_EXTS else "video" if suffix in VIDEO_EXTS else None


def from_folder(
    root: Path,
    label_map: dict[str, str],
    merged: frozenset[str] = frozenset(),
    by: tuple[str, ...] = (),
) -> list[LabelledInput]:
    if by:
        raise BenchInputError(
            f"--by {by[0]}: {root} is a folder of classes, which names no groups; give a CSV "
            f"of path,label,{by[0]} rows"
        )
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BenchInputError(
            f"{root}: no class folders: give a folder with one sub-folder per emotion "
            "(happy/, neutral/, ...) or a CSV of path,label rows"
        )
    out = []
    for folder in classes:
        label = core_label(folder.name, label_map, str(folder), merged)
        for p in sorted(folder.iterdir()):
            if not p.name.startswith(".") and input_kind(p) is not None:
                out.append(LabelledInput(p, label))
    return out


def from_csv(
    path: Path,
    label_map: dict[str, str],
    merged: frozenset[str] = frozenset(),
    by: tuple[str, ...] = (),
) -> list[LabelledInput]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = {(n or "").strip().lower(): n for n in reader.fieldnames or []}
            missing = [c for c in ("path", "label") if c not in fields]
            if missing:
                raise BenchInputError(
                    f"{path}: no {missing[0]!r} column (found {list(fields)}); the CSV needs "
                    "path,label"
                )
            unknown = [c for c in by if c.strip().lower() not in fields]
            if unknown:
                raise BenchInputError(
                    f"--by {unknown[0]}: {path} has no such column (found {list(fields)})"
                )
            who = fields.get("subject")
            rows = [
                (
                    r[fields["path"]],
                    r[fields["label"]],
                    (r[who] or "").strip() if who else "",
                    tuple((c, (r[fields[c.strip().lower()]] or "").strip()) for c in by),
                )
                for r in reader
            ]
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchInputError(f"{path}: cannot read it ({exc})") from None
    out = []
    for line, (name, label, subject, groups) in enumerate(rows, start=2):
        where = f"{path} line {line}"
        p = (path.parent / name.strip()).resolve()
        if not p.exists():
            raise BenchInputError(
                f"{where}: {name!r} does not exist (paths are relative to the CSV)"
            )
        if input_kind(p) is None:
            raise BenchInputError(f"{where}: {name!r} is not a picture, a video or a frame folder")
        label = core_label(label, label_map, where, merged)
        out.append(LabelledInput(p, label, subject, groups))
    return out


def load_inputs(
    root: Path,
    label_map: dict[str, str] | None = None,
    merged: frozenset[str] = frozenset(),
    by: tuple[str, ...] = (),
) -> list[LabelledInput]:
    """Every labelled input under ``root`` (a class folder tree or a CSV); ``merged``: the
    classes ``--merge`` makes, accepted as labels too; ``by``: the CSV's columns that group
    the inputs (``--by``)."""
    label_map = label_map or {}
    if not root.exists():
        raise BenchInputError(f"{root}: no such file or folder")
    read = from_folder if root.is_dir() else from_csv
    found = read(root, label_map, merged, by)
    if not found:
        raise BenchInputError(f"{root}: no pictures, videos or frame folders found")
    return found
