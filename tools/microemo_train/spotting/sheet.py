"""``microemo-train synth-sheet``: a contact sheet per AU template, to check by eye that the
generated expressions look like the AU (and nothing else) before any figure is trusted.

Each sheet is one PNG: a row per source clip (the frame at ``--t-ms``, mid-sentence), the
region the template moves cut out and enlarged: the frame untouched, then at the apex of
``subtle``, ``medium`` and ``clear`` (``synth.INTENSITY_LEVELS``), then ``clear`` minus
untouched (absolute difference, amplified) to show where the warp acts.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from microemo_train.spotting.synth import INTENSITY_LEVELS, Episode, SourceClip, render_frame
from microemo_train.spotting.warp import TEMPLATES, base_au

logger = logging.getLogger(__name__)

CLIPS_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "crema_d" / "clips"
ROW_PX = 180  # height of one enlarged cut-out
_R_FACE, _L_FACE = 234, 454


def _box(pts: np.ndarray, au: str, margin: float = 0.14) -> tuple[int, int, int, int]:
    """The handles' bounding box grown by ``margin`` face widths (x0, y0, x1, y1); both
    sides' for a one-sided AU, so the side left alone is in the picture too."""
    fw = float(np.linalg.norm(pts[_L_FACE] - pts[_R_FACE]))
    idx = sorted({i for r, left, _, _ in TEMPLATES[base_au(au)][1] for i in (r, left)})
    lo = pts[idx].min(0) - margin * fw
    hi = pts[idx].max(0) + margin * fw
    return int(lo[0]), int(lo[1]), int(hi[0]) + 1, int(hi[1]) + 1


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.vstack([np.full((22, img.shape[1], 3), 255, np.uint8), img])
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def sheet_cells(src: SourceClip, au: str, t_ms: float) -> list[tuple[str, np.ndarray]] | None:
    """One source's cut-outs: untouched, each intensity at its apex, the clear difference;
    None when the frame has no face."""
    k = src.source_index(t_ms)
    pts = src.landmarks[k]
    if pts is None:
        return None
    h, w = src.frames[k].shape[:2]
    x0, y0, x1, y1 = _box(pts, au)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    shots = [("untouched", src.frames[k])]
    for level, scale in INTENSITY_LEVELS.items():
        ep = Episode(t_ms - 100.0, t_ms, t_ms + 100.0, {au: scale})
        shots.append((f"{level} x{scale:g}", render_frame(src, t_ms, [ep])))
    diff = cv2.absdiff(shots[-1][1], shots[0][1])
    shots.append(("|clear - untouched| x4", cv2.convertScaleAbs(diff, alpha=4.0)))
    return [(name, img[y0:y1, x0:x1]) for name, img in shots]


def sheet_row(src: SourceClip, au: str, t_ms: float) -> np.ndarray | None:
    """The cells enlarged, labelled and side by side, under a title."""
    shots = sheet_cells(src, au, t_ms)
    if shots is None:
        return None
    fx = ROW_PX / max(shots[0][1].shape[0], 1)
    cells = [
        _label(cv2.resize(img, None, fx=fx, fy=fx, interpolation=cv2.INTER_CUBIC), name)
        for name, img in shots
    ]
    gap = np.full((cells[0].shape[0], 6, 3), 255, np.uint8)
    row = np.hstack([c for cell in cells for c in (cell, gap)][:-1])
    return _label(row, f"{au} on {src.path.stem}, frame {src.source_index(t_ms)}")


def contact_sheet(sources: list[SourceClip], au: str, t_ms: float) -> np.ndarray:
    rows = [r for r in (sheet_row(s, au, t_ms) for s in sources) if r is not None]
    if not rows:
        raise ValueError(f"no face at {t_ms} ms in any source clip")
    width = max(r.shape[1] for r in rows)
    rows = [
        np.hstack([r, np.full((r.shape[0], width - r.shape[1], 3), 255, np.uint8)]) for r in rows
    ]
    return np.vstack(rows)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth-sheet",
        help="contact sheets of the synth AU templates (untouched | subtle | medium | clear)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="folder for <AU>.png")
    p.add_argument("--clips", type=Path, default=CLIPS_DIR, help="folder of source clips")
    p.add_argument("--sources", default="ANG,NEU,SAD", help="clip name codes, comma-separated")
    p.add_argument("--au", action="append", help=f"AU (default: all of {sorted(TEMPLATES)})")
    p.add_argument("--t-ms", type=float, default=1000.0, help="time of the frame shown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    aus = [a.upper() for a in args.au] if args.au else sorted(TEMPLATES)
    unknown = [a for a in aus if a not in TEMPLATES]
    if unknown:
        raise SystemExit(f"--au {unknown}: no such template; known: {sorted(TEMPLATES)}")
    codes = [c.strip() for c in args.sources.split(",") if c.strip()]
    paths = [p for p in sorted(args.clips.glob("*.flv")) if any(c in p.stem for c in codes)]
    if not paths:
        raise SystemExit(f"{args.clips}: no clip matches --sources {args.sources!r}")
    sources = [SourceClip.load(p) for p in paths]
    args.out.mkdir(parents=True, exist_ok=True)
    for au in aus:
        path = args.out / f"{au}.png"
        cv2.imwrite(str(path), contact_sheet(sources, au, args.t_ms))
        print(path)
    return 0
