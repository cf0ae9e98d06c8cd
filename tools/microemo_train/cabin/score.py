"""Scores of the cabin readings against what a generated clip shows (``cabin_synth.truth``).

- blinks: a detected blink matches a true one (eyes at least half closed for under a
  second) when they overlap, each matched once; precision, recall, F1.
- PERCLOS: the device's PERCLOS against the truth's (the share of the last 60 s of frames
  with the face in which the eyes were at least 80 % closed), every second once a whole
  window is seen; mean and largest error in points.
- closures of a second or more: each should give a microsleep ``start``; its delay after
  the closure's first second (the threshold) is measured.
- yawns and distractions: a ``start`` overlapping a yawn or a turn far off the road is a
  hit; any other ``start`` is a false alarm.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microemo_train.cabin.plan import OFF_ROAD
from microemo_train.cabin.run import Replay

TOL_MS = 34.0  # a frame at 29.97 fps: how far apart two intervals may be and still overlap


def _overlaps(a: tuple[float, float], b: tuple[float, float], tol: float = TOL_MS) -> bool:
    return a[0] < b[1] + tol and a[1] > b[0] - tol


def _starts(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == kind and e["phase"] == "start"]


def _interval(e: dict[str, Any], events: list[dict[str, Any]]) -> tuple[float, float]:
    """A start's whole interval (its end's offset; the clip's end if it never ended)."""
    end = next((x for x in events if x["id"] == e["id"] and x["phase"] == "end"), None)
    return e["onset_ms"], (end["offset_ms"] if end else float("inf"))


def blinks(truth: list[list[float]], events: list[dict[str, Any]]) -> dict[str, int]:
    found = [(e["onset_ms"], e["offset_ms"]) for e in events if e["kind"] == "blink"]
    used: set[int] = set()
    tp = 0
    for t in truth:
        span = (t[0], t[1])
        k = next((i for i, f in enumerate(found) if i not in used and _overlaps(f, span)), None)
        if k is not None:
            used.add(k)
            tp += 1
    return {"tp": tp, "fp": len(found) - tp, "fn": len(truth) - tp}


def perclos(
    truth_closed: list[list[float]], replay: Replay, window_ms: float = 60_000.0
) -> list[float]:
    """Device minus truth PERCLOS (points), every second from the first whole window."""
    t = replay.times
    seen = np.array([s is not None and s.get("eyes_closed") is not None for s in replay.states])
    closed = np.zeros(len(t), bool)
    for a, b in truth_closed:
        closed |= (t >= a) & (t < b)
    out = []
    for now in np.arange(window_ms, t[-1] + 1, 1000.0):
        k = int(np.searchsorted(t, now, side="right")) - 1
        inside = (t > now - window_ms) & (t <= now) & seen
        state = replay.states[k]
        if not inside.any() or state is None:
            continue
        out.append(100.0 * (state["perclos"] - closed[inside].mean()))
    return out


def closures(truth_closed: list[list[float]], events: list[dict[str, Any]],
             threshold_ms: float = 1000.0) -> list[float | None]:  # fmt: skip
    """Per closure of ``threshold_ms`` or more: its microsleep start's delay after the
    threshold (ms), None if none came."""
    starts = _starts(events, "microsleep")
    out: list[float | None] = []
    for a, b in truth_closed:
        if b - a < threshold_ms:
            continue
        hit = next((e for e in starts if a - 300 <= e["onset_ms"] <= b), None)
        out.append(None if hit is None else hit["t_ms"] - (a + threshold_ms))
    return out


def episodes(
    truth: list[tuple[float, float]], events: list[dict[str, Any]], kind: str
) -> dict[str, int]:
    """Hits (a start overlapping a true interval) and false alarms."""
    starts = [_interval(e, events) for e in _starts(events, kind)]
    hits = sum(any(_overlaps(s, t) for s in starts) for t in truth)
    false = sum(not any(_overlaps(s, t) for t in truth) for s in starts)
    return {"truth": len(truth), "hits": hits, "false": false}


def score_drive(labels: dict[str, Any], replay: Replay) -> dict[str, Any]:
    ev = replay.events
    off = [(a["start_ms"], a["end_ms"]) for a in labels["acts"]
           if a["kind"] == "turn" and (a["yaw_deg"], a["pitch_deg"]) in OFF_ROAD]  # fmt: skip
    long_closed = [(a, b) for a, b in labels["closed"] if b - a >= 1000.0]
    return {
        "blinks": blinks(labels["blinks"], ev),
        "perclos_err": perclos(labels["closed"], replay),
        "closure_delay_ms": closures(labels["closed"], ev),
        "microsleeps": episodes(long_closed, ev, "microsleep"),
        "yawns": episodes([tuple(y) for y in labels["yawns"]], ev, "yawn"),
        "distractions": episodes(off, ev, "distraction"),
    }


def alerts(events: list[dict[str, Any]]) -> dict[str, int]:
    """Alerts (starts of microsleeps, yawns, distractions) by kind."""
    kinds = ("microsleep", "yawn", "distraction")
    return {k: sum(1 for e in events if e["kind"] == k and e["phase"] == "start") for k in kinds}


def same_events(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """How two runs' events agree (colour and grey): kinds and phases in the same order,
    and the largest difference of their onsets."""
    ka = [(e["kind"], e["phase"]) for e in a]
    kb = [(e["kind"], e["phase"]) for e in b]
    same = ka == kb
    diffs = [abs(x["onset_ms"] - y["onset_ms"]) for x, y in zip(a, b)] if same else []
    return {"events": len(a), "events_grey": len(b), "same_order": same,
            "max_onset_diff_ms": round(max(diffs), 1) if diffs else None}  # fmt: skip
