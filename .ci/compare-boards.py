#!/usr/bin/env python3
"""Compare two fresh-board runs on the same clip (``.ci/fresh-board.sh --results DIR``):
the x86-64 one and the arm64 one. Prints every difference and exits 1 when they differ
beyond what float arithmetic on two instruction sets explains:

- the same frames with a face, the same episodes (kind, core emotion, micro-emotion; onset,
  apex and offset within one frame of each other), from ``microemo analyze``'s JSONL;
- every AU intensity (``AUxx_r``, OpenFace's 0-5 scale) within AU_TOLERANCE of the other
  run's in the same frame. MediaPipe's XNNPACK kernels are not the same code on x86 (AVX,
  FMA) and on arm64 (NEON), so landmarks differ in their last digits; a presence flag
  (``AUxx_c``) near its threshold may then flip, which is counted, not failed.

Standard library only: it runs on the CI host before any venv exists.

    python3 .ci/compare-boards.py RESULTS_AMD64 RESULTS_ARM64
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

# on the 0-5 scale. Measured between x86-64 and the emulated Cortex-A76 (docs/arm64.md): at
# most 0.16 on the happy clip CI uses (tests/data/boards), at most 0.25 on the six CREMA-D
# clips (2 of 7201 values; mean 0.011, p99 0.09); a broken build moves AUs by whole points
AU_TOLERANCE = 0.35
FRAME_MS = 1000 / 29.97  # the bundled clips' rate: episode times may move by one frame


def analyze_csv(folder: Path) -> Path:
    """analyze's CSV: the one CSV in the folder (its events are in the JSONL of the same name;
    events.jsonl beside them is ``microemo run``'s)."""
    (csv_file,) = folder.glob("*.csv")
    return csv_file


def rows(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with analyze_csv(folder).open(newline="") as f:
        return {(r["frame"], r["face_id"]): r for r in csv.DictReader(f)}


def episodes(folder: Path) -> list[dict[str, object]]:
    jsonl = analyze_csv(folder).with_suffix(".jsonl")
    out = []
    for line in jsonl.read_text().splitlines():
        e = json.loads(line)
        if e.get("phase") == "end":
            out.append({k: e.get(k) for k in KEYS + TIMES})
    return out


KEYS = ["kind", "core_emotion", "micro_emotion"]
TIMES = ["onset_ms", "apex_ms", "offset_ms"]


def compare_rows(a: dict, b: dict, names: tuple[str, str]) -> list[str]:
    problems = []
    only = set(a) ^ set(b)
    if only:
        problems.append(f"rows in one run only: {sorted(only)[:10]}")
    common = sorted(set(a) & set(b), key=lambda k: (int(k[0]), k[1]))
    face = [k for k in common if a[k]["success"] != b[k]["success"]]
    if face:
        problems.append(f"face found in one run only, frames {[k[0] for k in face][:20]}")
    with_face = [k for k in common if a[k]["success"] == b[k]["success"] == "1"]
    aus = [c for c in a[common[0]] if c.startswith("AU") and c.endswith("_r")] if common else []
    print(f"{len(common)} rows in both, {len(with_face)} with a face in both")
    print(f"{'AU':8} {'max |diff|':>10} {'mean':>8} {'at frame':>8}  presence flips")
    for au in aus:
        diffs = [(abs(float(a[k][au]) - float(b[k][au])), k[0]) for k in with_face]
        worst, frame = max(diffs) if diffs else (0.0, "-")
        mean = sum(d for d, _ in diffs) / len(diffs) if diffs else 0.0
        flag = au[:-2] + "_c"
        flips = sum(a[k].get(flag) != b[k].get(flag) for k in with_face)
        mark = "  <-- beyond tolerance" if worst > AU_TOLERANCE else ""
        print(f"{au:8} {worst:10.3f} {mean:8.3f} {frame:>8}  {flips}{mark}")
        if worst > AU_TOLERANCE:
            problems.append(f"{au} differs by {worst:.3f} at frame {frame} (> {AU_TOLERANCE})")
    labels = sum(a[k]["emotion"] != b[k]["emotion"] for k in with_face if "emotion" in a[k])
    print(f"frames whose emotion label differs: {labels}")
    return problems


def compare_episodes(a: list, b: list, names: tuple[str, str]) -> list[str]:
    print(f"episodes: {len(a)} ({names[0]}) and {len(b)} ({names[1]})")
    problems = []
    for i in range(max(len(a), len(b))):
        ea, eb = (a[i] if i < len(a) else None), (b[i] if i < len(b) else None)
        print(f"  {names[0]}: {ea}\n  {names[1]}: {eb}")
        if ea is None or eb is None:
            problems.append(f"episode {i + 1} is in one run only")
            continue
        if any(ea[k] != eb[k] for k in KEYS):
            problems.append(f"episode {i + 1} differs: {[k for k in KEYS if ea[k] != eb[k]]}")
        for t in TIMES:
            va, vb = ea[t], eb[t]
            if (va is None) != (vb is None) or (
                va is not None and abs(float(va) - float(vb)) > FRAME_MS + 1  # type: ignore[arg-type]
            ):
                problems.append(f"episode {i + 1}: {t} {va} against {vb}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    first, second = (Path(d) for d in argv)
    names = tuple(
        (d / "arch").read_text().strip() if (d / "arch").exists() else d.name
        for d in (first, second)
    )
    print(f"== {names[0]} against {names[1]}, same clip")
    problems = compare_rows(rows(first), rows(second), names)  # type: ignore[arg-type]
    problems += compare_episodes(episodes(first), episodes(second), names)  # type: ignore[arg-type]
    for p in problems:
        print(f"DIFFERENT: {p}")
    print("same within tolerance" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
