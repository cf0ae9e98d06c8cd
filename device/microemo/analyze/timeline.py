"""The numbers behind the picture, so that it reads the same for 2 seconds and 2 hours: the
time axis cut into at most ``MAX_BINS`` columns (a frame each while the input is short, a
round span of seconds otherwise), the spotted episodes ranked so that only the main ones get
a label, and the whole input summed up (emotion shares, AU levels). Pure numpy, no drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from microemo.emotion.rules import CORE_EMOTIONS

MAX_BINS = 300
MAX_LABELS = 8
# column widths a long input is binned into (seconds): round figures a reader can use
NICE_WIDTHS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
# the columns of ``Binned.shares``: the core emotions, then "" (no face)
SHARE_LABELS = (*CORE_EMOTIONS, "")


@dataclass
class Binned:
    """``edges`` (n+1 seconds) of n columns; ``au`` the mean intensity per column and AU (NaN
    where no face was seen); ``shares`` the part of each column's frames per core emotion,
    the last entry the part without a face; ``width_s`` the column width (0 when a column
    is a frame)."""

    edges: np.ndarray
    au: np.ndarray
    shares: np.ndarray
    width_s: float

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def _frame_edges(times: np.ndarray) -> np.ndarray:
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1 / 30
    return np.concatenate([times, [times[-1] + step]])


def bin_width(span_s: float, frames: int, max_bins: int = MAX_BINS) -> float:
    """0 (a column per frame) when the frames fit, else the first round width that does."""
    if frames <= max_bins:
        return 0.0
    return next((w for w in NICE_WIDTHS if span_s / w <= max_bins), span_s / max_bins)


def bin_series(
    times: np.ndarray,
    intensity: np.ndarray,
    emotions: list[str],
    max_bins: int = MAX_BINS,
) -> Binned:
    """``intensity`` is (frames, AUs) with NaN where the face was not seen; ``emotions`` the
    core emotion per frame ("" without a face)."""
    t0 = float(times[0])
    frame_edges = _frame_edges(times)
    width = bin_width(float(times[-1]) - t0, len(times), max_bins)
    if width == 0:
        edges, index = frame_edges, np.arange(len(times))
    else:
        n = int(np.ceil((frame_edges[-1] - t0) / width - 1e-9))
        edges = t0 + width * np.arange(n + 1)
        index = np.minimum(((times - t0) / width).astype(int), n - 1)
    n_bins = len(edges) - 1
    seen = np.isfinite(intensity)
    sums = np.zeros((n_bins, intensity.shape[1]))
    counts = np.zeros_like(sums)
    np.add.at(sums, index, np.where(seen, intensity, 0.0))
    np.add.at(counts, index, seen)
    with np.errstate(invalid="ignore", divide="ignore"):
        au = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    column = {e: k for k, e in enumerate(CORE_EMOTIONS)}
    code = np.array([column.get(e, len(CORE_EMOTIONS)) for e in emotions])
    shares = np.zeros((n_bins, len(SHARE_LABELS)))
    np.add.at(shares, (index, code), 1.0)
    shares /= np.maximum(shares.sum(axis=1, keepdims=True), 1.0)
    return Binned(edges, au, shares, width)


@dataclass(frozen=True)
class Episode:
    onset_s: float
    offset_s: float
    core: str
    micro: str
    kind: str
    strength: float  # the core emotion's score times the strongest AU's apex intensity

    @property
    def label(self) -> str:
        return (f"{self.core}/{self.micro}" if self.micro else self.core) + f" ({self.kind})"


def episodes_of(events: list[dict[str, Any]]) -> list[Episode]:
    """The ended episodes, in time order."""
    out = []
    for e in events:
        if e.get("phase") != "end" or e.get("onset_ms") is None:
            continue
        core = e.get("core_emotion") or ""
        peak = max((float(a.get("apex_intensity", 0)) for a in e.get("aus") or []), default=1.0)
        onset = e["onset_ms"] / 1000
        offset = (e.get("offset_ms") or e["onset_ms"]) / 1000
        out.append(
            Episode(
                onset,
                max(offset, onset),
                core,
                e.get("micro_emotion") or "",
                e.get("kind") or "",
                float((e.get("scores") or {}).get(core, 0.0)) * peak,
            )
        )
    return sorted(out, key=lambda ep: ep.onset_s)


def pick_labels(
    episodes: list[Episode],
    span: tuple[float, float],
    max_labels: int = MAX_LABELS,
    rows: int = 2,
    room: float = 0.16,
) -> list[tuple[Episode, int]]:
    """The strongest episodes whose labels fit: at most ``max_labels``, each on one of
    ``rows`` lines where it keeps ``room`` (a part of the axis width) from its neighbours."""
    t0, t1 = span
    gap = room * max(t1 - t0, 1e-9)
    placed: list[list[float]] = [[] for _ in range(rows)]
    chosen: list[tuple[Episode, int]] = []
    for ep in sorted(episodes, key=lambda e: (-e.strength, -(e.offset_s - e.onset_s))):
        if len(chosen) >= max_labels:
            break
        for row, xs in enumerate(placed):
            if all(abs(ep.onset_s - x) >= gap for x in xs):
                xs.append(ep.onset_s)
                chosen.append((ep, row))
                break
    return sorted(chosen, key=lambda c: c[0].onset_s)


def emotion_shares(emotions: list[str]) -> dict[str, float]:
    """The part of the frames with a face that each core emotion held (those seen only)."""
    seen = [e for e in emotions if e in CORE_EMOTIONS]
    if not seen:
        return {}
    return {e: seen.count(e) / len(seen) for e in CORE_EMOTIONS if e in seen}


def au_levels(intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per AU over the frames with a face: the mean intensity and the 90th percentile (how
    strong it gets when it acts); zeros without a face."""
    seen = np.isfinite(intensity).all(axis=1)
    if not seen.any():
        return np.zeros(intensity.shape[1]), np.zeros(intensity.shape[1])
    rows = intensity[seen]
    return rows.mean(axis=0), np.percentile(rows, 90, axis=0)
