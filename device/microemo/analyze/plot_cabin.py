"""The cabin rows of analyze's picture, on the same time axis as the AUs: the eyes (openness,
the share of each column with the eyes closed, PERCLOS, yawns, blinks) and attention (head
and gaze yaw and pitch in degrees, distraction shaded). Long inputs are binned as the AU
rows are (``timeline.bin_series``); the series come from each frame's cabin state of the
main face (``FrameResult.cabin``), so they are drawn whether or not cabin events are on."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from microemo.analyze.timeline import bin_series

# per-frame columns, in this order, from a face's cabin state (NaN where it has none)
SERIES = (
    "eye_open",
    "eyes_closed",
    "yawning",
    "perclos",
    "head_yaw",
    "head_pitch",
    "gaze_yaw",
    "gaze_pitch",
    "distracted",
)
_COL = {name: k for k, name in enumerate(SERIES)}
NAN_ROW = (math.nan,) * len(SERIES)


def cabin_row(state: dict[str, Any] | None) -> tuple[float, ...]:
    """One frame of the main face's cabin state as ``SERIES`` values."""
    if not state or state.get("eye_open_l") is None:
        return NAN_ROW
    values = {
        "eye_open": (state["eye_open_l"] + state["eye_open_r"]) / 2,
        "eyes_closed": float(state["eyes_closed"]),
        "yawning": float(state["yawning"]),
        "distracted": float(state.get("attention") == "distracted"),
    }
    return tuple(float(values.get(n, state.get(n)) or 0.0) for n in SERIES)


def draw_cabin(
    eyes: Any, attention: Any, times: np.ndarray, rows: np.ndarray, events: list[dict[str, Any]]
) -> None:
    """Fill the two cabin axes; ``events`` are the input's cabin events (blinks marked)."""
    binned = bin_series(times, rows, [""] * len(times))
    x = binned.edges[:-1] if binned.width_s == 0 else binned.centers
    col = {n: binned.au[:, k] for n, k in _COL.items()}
    step = {"step": "post"} if binned.width_s == 0 else {}
    eyes.fill_between(x, 0, col["eyes_closed"], color="#7f8c8d", alpha=0.5, lw=0, **step)
    eyes.fill_between(x, 0, col["yawning"], color="#e67e22", alpha=0.4, lw=0, **step)
    eyes.plot(x, col["eye_open"], color="#2c3e50", lw=1.0, label="eyes open (0-1)")
    eyes.plot(x, col["perclos"], color="#c0392b", lw=1.2, label="PERCLOS")
    blinks = [e["onset_ms"] / 1000 for e in events if e.get("kind") == "blink"]
    if blinks:
        eyes.plot(blinks, [1.05] * len(blinks), "|", color="#2c3e50", ms=5, label="blinks")
    eyes.set_ylim(0, 1.12)
    eyes.set_yticks([0, 0.5, 1])
    eyes.set_ylabel("eyes", fontsize=7)
    eyes.fill_between([], [], color="#7f8c8d", alpha=0.5, label="closed")
    eyes.fill_between([], [], color="#e67e22", alpha=0.4, label="yawning")
    eyes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6, frameon=False)
    top = 60.0
    attention.fill_between(
        x, -top, -top + 2 * top * np.nan_to_num(col["distracted"]), color="#e74c3c",
        alpha=0.25, lw=0, **step,
    )  # fmt: skip
    for name, style, color in (
        ("head_yaw", "-", "#2980b9"),
        ("head_pitch", "-", "#27ae60"),
        ("gaze_yaw", ":", "#2980b9"),
        ("gaze_pitch", ":", "#27ae60"),
    ):
        attention.plot(x, col[name], style, color=color, lw=1.0, label=name.replace("_", " "))
    attention.axhline(0, color="#999999", lw=0.5)
    attention.set_ylim(-top, top)
    attention.set_ylabel("degrees", fontsize=7)
    attention.fill_between([], [], color="#e74c3c", alpha=0.25, label="distracted")
    attention.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6, frameon=False)
