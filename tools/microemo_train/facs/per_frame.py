"""Per-frame AU code tables (DISFA, BP4D, generic CSVs) turned into ``FacsItem`` streams.

A table maps a frame number to AU -> value: NaN (empty cell or 9) where that AU is not coded
at that frame, 0 absent, above 0 present.
"""

from __future__ import annotations

import re
from pathlib import Path

from microemo.types import AU_IDS
from microemo_train.facs.codes import column_au
from microemo_train.facs.files import read_table
from microemo_train.facs.items import FacsDataError, FacsItem, Frame

NOT_CODED = 9.0


def first_dir(root: Path, name: str) -> Path | None:
    for pattern in (name, f"*/{name}", f"*/*/{name}"):
        found = [p for p in sorted(root.glob(pattern)) if p.is_dir()]
        if found:
            return found[0]
    return None


def known(v: float | None) -> bool:
    return v is not None and v == v


def make_item(
    key: str,
    subject: str,
    frames: list[Frame],
    coding: dict[int, dict[int, float]],
    coded: frozenset[int],
    fps: float,
    meta: dict[str, str],
    intensity: bool = True,
    levels: dict[int, dict[int, float]] | None = None,
) -> FacsItem:
    """The item of one stream. ``coding`` is per position in ``frames``: AU -> value, NaN or
    missing = not coded there, 0 absent, above 0 present. The intensity of a present AU is
    the value itself (``intensity``), else the one ``levels`` gives (1-5), else 0 (present,
    no intensity). A frame where no AU is coded is left out."""
    coded = coded & frozenset(AU_IDS)
    codes: dict[int, dict[int, float]] = {}
    uncoded: dict[int, frozenset[int]] = {}
    for i, values in coding.items():
        gaps = frozenset(au for au in coded if not known(values.get(au)))
        if gaps == coded:
            continue
        present = {}
        for au in coded - gaps:
            if values[au] > 0:
                level = (levels or {}).get(i, {}).get(au, float("nan"))
                present[au] = values[au] if intensity else level if 1 <= level <= 5 else 0.0
        codes[i] = present
        if gaps:
            uncoded[i] = gaps
    return FacsItem(key, subject, tuple(frames), codes, coded, fps=fps, meta=meta, uncoded=uncoded)


def value(text: str, where: str) -> float:
    """A coded value: empty or 9 is not coded (NaN), else 0-5."""
    if text == "":
        return float("nan")
    try:
        v = float(text)
    except ValueError:
        raise FacsDataError(
            f"{where}: {text!r} is not a number (0-5, or 9/empty: not coded)"
        ) from None
    if v == NOT_CODED:
        return float("nan")
    if not 0 <= v <= 5:
        raise FacsDataError(f"{where}: {text!r} is outside 0-5 (9 or empty: not coded)")
    return v


def read_pairs(path: Path) -> dict[int, float]:
    """``frame,value`` lines (a header line is skipped)."""
    out: dict[int, float] = {}
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        parts = [p.strip() for p in re.split(r"[,\s]+", line.strip()) if p.strip()]
        if not parts or not parts[0].lstrip("-").isdigit():
            continue
        if len(parts) < 2:
            raise FacsDataError(f"{path}:{n}: expected 'frame,intensity', got {line!r}")
        out[int(parts[0])] = value(parts[1], f"{path}:{n}")
    return out


def read_codes(path: Path) -> tuple[dict[int, dict[int, float]], str]:
    """A per-frame code table (``frame`` and AU columns): frame -> AU -> value, and the
    first row's ``subject`` ("" without that column)."""
    header, rows = read_table(path, ("frame",))
    aus = {h: au for h in header if (au := column_au(h)) is not None}
    if not aus:
        raise FacsDataError(f"{path}: no AU columns (name them AU01, AU1 or 1)")
    out: dict[int, dict[int, float]] = {}
    for n, row in enumerate(rows, start=2):
        try:
            f = int(float(row["frame"]))
        except ValueError:
            raise FacsDataError(f"{path}:{n}: frame {row['frame']!r} is not a number") from None
        out[f] = {au: value(row.get(h, ""), f"{path}:{n}") for h, au in aus.items()}
    return out, rows[0].get("subject", "") if rows else ""


def coded_aus(coding: dict[int, dict[int, float]]) -> frozenset[int]:
    return frozenset(au for values in coding.values() for au, v in values.items() if known(v))
