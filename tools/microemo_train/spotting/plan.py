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


# The per-AU suite (``spot-eval --suite per-au``): every clip holds one AU set only, so a
# spot on it that matches nothing is that AU set's false positive and each AU set gets its
# own precision, recall and F1. Defaults: the mouth AUs that speech hides, beside the brow
# and nose AUs that must not get worse.
PER_AU_SETS: tuple[tuple[str, ...], ...] = (
    ("AU12",),
    ("AU15",),
    ("AU17",),
    ("AU14",),
    ("AU01", "AU02"),
    ("AU04",),
    ("AU09",),
)
REGIONS: dict[str, str] = {
    "AU01+AU02": "brows",
    "AU01": "brows",
    "AU02": "brows",
    "AU04": "brows",
    "AU01+AU04": "brows",
    "AU05": "lids",
    "AU06": "lids",
    "AU07": "lids",
    "AU09": "nose",
}  # everything else: mouth


def region(aus: str) -> str:
    """Face region of an AU set written as in the report ("AU01+AU02")."""
    return REGIONS.get(aus, "mouth")


def parse_au_sets(text: str) -> tuple[tuple[str, ...], ...]:
    """``"AU12,AU01+AU02"`` -> (("AU12",), ("AU01", "AU02")); unknown AUs are named."""
    from microemo_train.spotting.warp import TEMPLATES

    sets = tuple(tuple(a.strip().upper() for a in s.split("+")) for s in text.split(",") if s)
    unknown = sorted({a for s in sets for a in s} - set(TEMPLATES))
    if not sets or unknown:
        raise ValueError(
            f"--aus {text!r}: unknown {unknown or 'empty'}; known: {', '.join(sorted(TEMPLATES))}"
        )
    return sets


def plan_per_au(
    seed: int,
    au_sets: tuple[tuple[str, ...], ...],
    levels: tuple[str, ...],
    clips_per_cell: dict[float, int],
    sources: list[Path],
    clip_ms: dict[float, float],
    micro_ms: tuple[float, float] = (250.0, 450.0),
) -> list[dict]:
    """One clip per (AU set, intensity, fps, k < clips_per_cell), each with micro episodes of
    that AU set only, on the sources in turn (offset by the seed, so another seed also puts
    another face under each cell)."""
    rng = np.random.default_rng(seed)
    plans: list[dict] = []
    k = seed
    for fps, n in clips_per_cell.items():
        for aus in au_sets:
            for level in levels:
                for _ in range(n):
                    src = sources[k % len(sources)]
                    k += 1
                    name = "+".join(aus)
                    plans.append(
                        {
                            "name": f"{len(plans):03d}_{src.stem}_{name}_{level}_{fps:.0f}fps.avi",
                            "source": src,
                            "fps": fps,
                            "duration_ms": clip_ms[fps],
                            "episodes": _one_au_set(rng, aus, level, clip_ms[fps], micro_ms),
                            "cell": {"fps": fps, "intensity": level, "kind": "micro", "aus": name},
                        }
                    )
    return plans


def _one_au_set(
    rng: np.random.Generator,
    aus: tuple[str, ...],
    level: str,
    duration_ms: float,
    micro_ms: tuple[float, float],
) -> list[Episode]:
    eps: list[Episode] = []
    t = 1500.0 + float(rng.uniform(0.0, 300.0))
    while True:
        d = float(rng.uniform(*micro_ms))
        if t + d + 300 > duration_ms:
            return eps
        apex = t + d * float(rng.uniform(0.3, 0.5))
        scale = INTENSITY_LEVELS[level]
        eps.append(Episode(t, apex, t + d, dict.fromkeys(aus, scale), intensity=level))
        t += d + SPACING["micro"] * float(rng.uniform(0.9, 1.4))


def untouched_joins(
    seed: int, sources: list[Path], fps_ms: dict[float, float | None]
) -> list[dict]:
    """Untouched talking faces longer than one clip: all the sources one after another (in
    an order drawn from the seed), each played forward once, the cut between two sentences
    as a file joined from them has it. A duration of None: the join's own length."""
    order = [sources[i] for i in np.random.default_rng(seed).permutation(len(sources))]
    return [
        {
            "name": f"join{seed}_{fps:.0f}fps.avi",
            "source": order,
            "fps": fps,
            "duration_ms": dur,
            "episodes": [],
            "cell": {"fps": fps, "intensity": "none", "kind": "untouched", "join": True},
        }
        for fps, dur in fps_ms.items()
    ]
