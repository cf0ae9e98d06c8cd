"""What ``spot-eval`` generates: one cell per (intensity, duration class, fps), several
clips per cell with single- or two-AU episodes spaced in time, and untouched clips (the same
sources played back and forth, nothing added) that count false alarms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microemo_train.spotting.synth import INTENSITY_LEVELS, Episode

AU_SETS: tuple[tuple[str, ...], ...] = (
    ("AU12",),
    ("AU04",),
    ("AU01", "AU02"),
    ("AU15",),
    ("AU09",),
    ("AU10",),
    ("AU14",),
    ("AU01",),
    ("AU05",),
    ("AU17",),
    ("AU06", "AU12"),
    ("AU20",),
    ("AU01", "AU04"),
)

DURATIONS = {"micro": (200.0, 450.0), "macro": (600.0, 1400.0)}

SPACING = {"micro": 700.0, "macro": 1200.0}

CLIP_MS = {"micro": 8000.0, "macro": 10000.0}


def plan_clip(
    rng: np.random.Generator, kind: str, level: str, duration_ms: float, start_ms: float = 1500.0
) -> list[Episode]:
    """Episodes of one cell, one after another with a quiet gap between them."""
    eps: list[Episode] = []
    t = start_ms
    lo, hi = DURATIONS[kind]
    while True:
        d = float(rng.uniform(lo, hi))
        if t + d + 300 > duration_ms:
            return eps
        apex = t + d * float(rng.uniform(0.3, 0.5))
        aus = AU_SETS[int(rng.integers(len(AU_SETS)))]
        eps.append(
            Episode(
                t,
                apex,
                t + d,
                dict.fromkeys(aus, INTENSITY_LEVELS[level]),
                intensity=level,
                kind=kind,
            )
        )
        t += d + SPACING[kind] * float(rng.uniform(0.8, 1.2))


def plan(
    seed: int,
    clips_per_cell: dict[float, int],
    sources: list[Path],
    untouched_ms: dict[float, float],
) -> list[dict]:
    """Every clip to make: name, source, fps, duration, episodes and its cell."""
    rng = np.random.default_rng(seed)
    plans: list[dict] = []
    k = 0
    for fps, n in clips_per_cell.items():
        for level in INTENSITY_LEVELS:
            for kind in DURATIONS:
                for _ in range(n):
                    src = sources[k % len(sources)]
                    k += 1
                    dur = CLIP_MS[kind]
                    plans.append(
                        {
                            "name": f"{len(plans):03d}_{src.stem}_{level}_{kind}_{fps:.0f}fps.avi",
                            "source": src,
                            "fps": fps,
                            "duration_ms": dur,
                            "episodes": plan_clip(rng, kind, level, dur),
                            "cell": {"fps": fps, "intensity": level, "kind": kind},
                        }
                    )
    for fps, dur in untouched_ms.items():
        for src in sources:
            plans.append(
                {
                    "name": f"{len(plans):03d}_{src.stem}_untouched_{fps:.0f}fps.avi",
                    "source": src,
                    "fps": fps,
                    "duration_ms": dur,
                    "episodes": [],
                    "cell": {"fps": fps, "intensity": "none", "kind": "untouched"},
                }
            )
    return plans
