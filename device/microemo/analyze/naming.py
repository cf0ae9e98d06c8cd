"""Where each input's results go: ``OUT/<name>.csv``, ``OUT/<name>.jsonl``, ``OUT/<name>.png``.

An input's name is its stem (a frame folder's own name). When that name is taken the input
gets its parent folder's name, ``<stem>__<parent>``, then ``<stem>__<parent>-2``, ``-3``...
A name is taken when

- an earlier input of the same run has it: ``na/S128_004`` then ``apex3/S128_004`` give
  ``S128_004`` and ``S128_004__apex3``, in the order given;
- the output folder's index (``analyze-index.csv``) gives it to another input from an earlier
  run, so batches analysed into one folder never replace each other's results; an input
  listed there keeps the name it had, whatever the order;
- one of its three files would be an input: a file given on the command line, or a frame of
  a frame folder (``pic.png --out .`` gives ``pic__<parent>.*``, never a new ``pic.png``);
- one of its files exists and analyze did not write it (a user's ``real.png`` in the output
  folder); analyze's own files (its CSV header, its event lines, its tagged picture) are
  replaced, as a rerun should.

Planning reads the file system and writes nothing, so every name is known before any work
starts (and a parallel runner can hand the plans out as they are).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from microemo.sources.files import IMAGE_EXTS, is_own_picture

logger = logging.getLogger(__name__)

INDEX_NAME = "analyze-index.csv"
SUFFIXES = (".csv", ".jsonl", ".png")
_RESERVED = {Path(INDEX_NAME).stem}


@dataclass(frozen=True)
class OutputPlan:
    """One input and the files its results go to; ``note`` says why ``name`` is not the
    input's own stem ("" when it is)."""

    input: Path
    name: str
    out_dir: Path
    note: str = ""

    @property
    def csv(self) -> Path:
        return self.out_dir / f"{self.name}.csv"

    @property
    def jsonl(self) -> Path:
        return self.out_dir / f"{self.name}.jsonl"

    @property
    def png(self) -> Path:
        return self.out_dir / f"{self.name}.png"

    @property
    def key(self) -> str:
        """The input as the index records it: absolute, symlinks kept."""
        return input_key(self.input)


def input_key(path: Path) -> str:
    return os.path.abspath(path)


def input_stem(path: Path) -> str:
    """A file's stem, a folder's name; ``.`` and ``..`` are named after the folder they are."""
    p = Path(input_key(path))
    return p.name if p.is_dir() else p.stem


def unique_inputs(paths: Iterable[Path]) -> list[Path]:
    """The inputs in the order given, each once (the same file given twice is analysed once)."""
    seen: dict[str, Path] = {}
    for p in paths:
        key = input_key(p)
        if key in seen:
            logger.warning("%s: given twice, analysed once", p)
            continue
        seen[key] = p
    return list(seen.values())


class _Inputs:
    """What must never be written over: the input files, and the frames of input folders."""

    def __init__(self, paths: list[Path]) -> None:
        self.files = {p.resolve() for p in paths if not p.is_dir()}
        self.folders = {p.resolve() for p in paths if p.is_dir()}

    def holds(self, path: Path) -> bool:
        real = path.resolve()
        if real in self.files:
            return True
        return (
            real.parent in self.folders
            and real.suffix.lower() in IMAGE_EXTS
            and real.exists()
            and not is_own_picture(real)
        )


def _candidates(path: Path) -> Iterator[str]:
    stem = input_stem(path)
    parent = Path(input_key(path)).parent.name or "root"
    yield stem
    yield f"{stem}__{parent}"
    n = 2
    while True:
        yield f"{stem}__{parent}-{n}"
        n += 1


def plan_outputs(
    inputs: list[Path], out_dir: Path, earlier: Mapping[str, str] | None = None
) -> list[OutputPlan]:
    """A distinct name per input (see the module's rules). ``earlier`` is the output folder's
    index from runs before this one: name -> input key."""
    owner_of = dict(earlier or {})
    had = {key: name for name, key in owner_of.items()}
    given = _Inputs(inputs)
    used: dict[str, Path] = {}
    plans: list[OutputPlan] = []
    for path in inputs:
        key = input_key(path)

        def taken(name: str, key: str = key) -> str | None:
            return _taken(name, out_dir, key, used, owner_of, given)

        name, note = _choose(path, had.get(key), taken)
        used[name] = path
        plans.append(OutputPlan(path, name, out_dir, note))
    return plans


def _choose(
    path: Path, previous: str | None, taken: Callable[[str], str | None]
) -> tuple[str, str]:
    """The name for ``path`` and the note saying why it is not the stem: the name an earlier
    run gave it if still free, else the first free candidate."""
    stem = input_stem(path)
    if previous is not None and taken(previous) is None:
        if previous == stem:
            return previous, ""
        why = taken(stem)
        note = f"renamed: {stem} {why}" if why else f"kept the name {INDEX_NAME} gave it"
        return previous, note
    first_reason = ""
    for name in _candidates(path):
        why = taken(name)
        if why is None:
            return name, "" if name == stem else f"renamed: {stem} {first_reason}"
        first_reason = first_reason or why
    raise AssertionError("unreachable: the numbered names never run out")


def _taken(
    name: str,
    out_dir: Path,
    key: str,
    used: Mapping[str, Path],
    owner_of: Mapping[str, str],
    given: _Inputs,
) -> str | None:
    """Why ``name`` cannot be this input's, or None when it can."""
    if name in _RESERVED:
        return f"is the index's name ({INDEX_NAME})"
    if name in used:
        return f"is {used[name]}'s, given earlier"
    owner = owner_of.get(name)
    if owner is not None and owner != key:
        return f"is {owner}'s ({out_dir / INDEX_NAME})"
    for suffix in SUFFIXES:
        target = out_dir / f"{name}{suffix}"
        if given.holds(target):
            return f"would write over the input {target}"
        if target.exists() and not written_by_analyze(target):
            return f"would write over {target}, which analyze did not write"
    return None


def written_by_analyze(path: Path) -> bool:
    """True for a file an earlier ``analyze`` wrote: its picture (tagged), its CSV (OpenFace
    header) or its events (empty, or event lines)."""
    if path.suffix == ".png":
        return is_own_picture(path)
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    if path.suffix == ".csv":
        return head.startswith(b"frame,face_id,")
    return path.suffix == ".jsonl" and (
        head == b"" or head.startswith(b'{"schema":"microemo.event/')
    )
