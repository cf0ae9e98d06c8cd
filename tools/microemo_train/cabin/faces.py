"""Do the landmarker's confidence settings find turned and dropped faces better, and at what
cost? Each setting (``SETTINGS``: detection, presence, tracking confidence) reads:

- turned faces: real clips with the head turned to each of ``ANGLES`` and held there for 2 s
  (``synth --cabin`` turns): the share of the held frames with a face;
- no faces: real frames with the face painted over with the background around it, and the
  same frames mirrored and darkened: how many faces it finds where there is none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from microemo_train.spotting.cabin_synth import CabinAct, DepthClip, render

# (detection, presence, tracking) confidence
SETTINGS: tuple[tuple[float, float, float], ...] = (
    (0.5, 0.5, 0.5),  # the default
    (0.3, 0.5, 0.5),
    (0.5, 0.3, 0.3),
    (0.3, 0.3, 0.3),
    (0.2, 0.2, 0.2),
)
ANGLES: tuple[tuple[float, float], ...] = ((35, 0), (50, 0), (-65, 0), (0, -35), (0, -50))
HOLD_MS, RAMP_MS = 2000.0, 600.0


def turned_acts() -> list[CabinAct]:
    acts, t = [], 1000.0
    for yaw, pitch in ANGLES:
        acts.append(CabinAct("turn", t, t + HOLD_MS + 2 * RAMP_MS, yaw, pitch))
        t += HOLD_MS + 2 * RAMP_MS + 800.0
    return acts


def _held(acts: list[CabinAct], t_ms: float) -> int | None:
    """The angle held at ``t_ms`` (index into ``ANGLES``), None between holds."""
    for k, a in enumerate(acts):
        if a.start_ms + RAMP_MS + 150 <= t_ms <= a.end_ms - RAMP_MS - 150:
            return k
    return None


def faceless(clip: DepthClip) -> Iterator[np.ndarray]:
    """Each frame of the clip with the face (and hair) painted over by what surrounds it,
    then mirrored and darkened."""
    for img, pts in zip(clip.src.frames, clip.points):
        if pts is None:
            continue
        face = np.zeros(img.shape[:2], np.uint8)
        cv2.fillConvexPoly(face, cv2.convexHull(pts[:, :2].astype(np.int32)), 255)
        empty = cv2.inpaint(img, cv2.dilate(face, np.ones((31, 31), np.uint8)), 5,
                            cv2.INPAINT_TELEA)  # fmt: skip
        yield empty
        yield (cv2.flip(empty, 1) * 0.5).astype(np.uint8)


def sweep(clips: list[DepthClip], config: Any, fps: float = 29.97) -> list[dict[str, Any]]:
    from microemo.vision.landmarker import Landmarker

    acts = turned_acts()
    n = int((acts[-1].end_ms + 500) * fps / 1000.0)
    drawn = [[render(c, i * 1000.0 / fps, acts) for i in range(n)] for c in clips]
    empty = [img for c in clips for img in faceless(c)]
    rows = []
    for det, pres, track in SETTINGS:
        lm_cfg = config.landmarker.model_copy(
            update=dict(min_detection_confidence=det, min_presence_confidence=pres,
                        min_tracking_confidence=track, small_faces=False, num_faces=1)
        )  # fmt: skip
        held, found = np.zeros(len(ANGLES)), np.zeros(len(ANGLES))
        for frames in drawn:
            with Landmarker(lm_cfg) as lm:
                for i, img in enumerate(frames):
                    faces = _detect(lm, img, i, fps)
                    k = _held(acts, i * 1000.0 / fps)
                    if k is not None:
                        held[k] += 1
                        found[k] += bool(faces)
        with Landmarker(lm_cfg) as lm:
            false = sum(len(_detect(lm, img, i, fps)) for i, img in enumerate(empty))
        rows.append({
            "detection": det, "presence": pres, "tracking": track,
            "found": {f"{y:+g}/{p:+g}": round(float(f / h), 3)
                      for (y, p), f, h in zip(ANGLES, found, held)},
            "found_all": round(float(found.sum() / held.sum()), 3),
            "faceless_frames": len(empty), "false_faces": int(false),
        })  # fmt: skip
    return rows


def _detect(lm: Any, img: np.ndarray, i: int, fps: float) -> list:
    from microemo.types import Frame

    return lm.detect(Frame(img, i * 1000.0 / fps, i))


def sources(clips_dir: Path) -> list[Path]:
    return sorted(clips_dir.glob("*.flv")) or sorted(clips_dir.glob("*.mp4"))
