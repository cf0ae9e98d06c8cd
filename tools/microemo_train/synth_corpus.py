"""``microemo-train synth-corpus``: AU-intensity trajectories generated from the FACS
prototypes of DESIGN.md, for training the default model when no labelled face set can be
shipped.

Each clip is one acted expression as CREMA-D records them (a sentence spoken with an
emotion): a per-subject neutral baseline and noise level, the prototype's AUs rising
(onset), holding (apex) and falling (offset) with per-AU timing jitter, sometimes one AU
missing or a stray AU added, blinks (AU45), speech moving the mouth (AU25/AU26 cycling at
syllable rate, leaking into AU10/17/23/24/28) and head motion drifting the brow channels.
Labels: the seven core emotions with a FACS prototype (happiness, sadness, anger, fear,
surprise, disgust, contempt) plus neutral; "repression" shares anger's AUs and is left out.
Each synthetic subject is one group for subject-independent evaluation.

The corpus is written as per-frame feature files in the same ``.npz`` layout extraction
writes (``t_ms``, ``features``, ``names``) plus ``index.csv`` (``file,label,subject``), read
by the ``features`` adapter. Only AU channels exist; other per-frame features are zero.
"""

from __future__ import annotations

import argparse
import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microemo.types import AU_INDEX, AU_NAMES

logger = logging.getLogger(__name__)

LABELS: tuple[str, ...] = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)
# core AUs (always present) and optional AUs (present with probability 0.6)
PROTOTYPES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "happiness": ((6, 12), (25,)),
    "sadness": ((1, 15), (17, 4)),
    "anger": ((4, 7), (5, 23)),
    "fear": ((1, 2, 4, 20), (5, 26)),
    "surprise": ((1, 2, 5), (26,)),
    "disgust": ((9, 10), (15, 4)),
    "contempt": ((14,), (24,)),
    "neutral": ((), ()),
}
SPEECH_LEAK = (10, 17, 23, 24, 28)


@dataclass(frozen=True)
class Subject:
    baseline: np.ndarray  # (n_au,) resting offsets
    gain: float  # expressivity
    noise: float  # per-frame measurement noise sd
    blink_hz: float
    head: float  # head-motion amplitude
    speaks: float  # probability a clip has speech


def make_subject(rng: np.random.Generator) -> Subject:
    base = np.where(rng.random(len(AU_NAMES)) < 0.3, rng.uniform(0, 0.6, len(AU_NAMES)), 0.0)
    return Subject(
        base,
        rng.uniform(0.5, 1.3),
        rng.uniform(0.05, 0.3),
        rng.uniform(0.1, 0.5),
        rng.uniform(0, 1),
        rng.uniform(0.5, 0.95),
    )


def envelope(t: np.ndarray, onset: float, rise: float, apex: float, fall: float) -> np.ndarray:
    """Onset-apex-offset shape in [0, 1]: smooth rise, hold, smooth fall (times in s)."""
    up = np.clip((t - onset) / rise, 0, 1)
    down = np.clip(1 - (t - onset - rise - apex) / fall, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))).astype(np.float32)


def make_clip(label: str, subj: Subject, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One clip: (t_ms (n,), AU intensities (n, n_au)) on the 0-5 scale."""
    fps = float(rng.choice([25.0, 29.97, 30.0]))
    dur = rng.uniform(1.8, 3.2)
    t = np.arange(int(dur * fps)) / fps
    x = np.tile(subj.baseline, (len(t), 1)).astype(np.float32)
    core, optional = PROTOTYPES[label]
    aus = list(core) + [a for a in optional if rng.random() < 0.6]
    if len(aus) > 2 and rng.random() < 0.2:
        aus.pop(int(rng.integers(len(aus))))  # partial expression
    level = rng.uniform(0.35, 1.0) * subj.gain  # CREMA-D's LO..HI levels
    onset, rise = rng.uniform(0.0, 0.6), rng.uniform(0.15, 0.5)
    fall = rng.uniform(0.2, 0.6)
    apex = max(0.2, rng.uniform(0.5, 1.0) * (dur - onset - rise - fall + 0.4))
    for au in aus:
        jitter = rng.normal(0, 0.06)
        x[:, AU_INDEX[au]] += (
            rng.uniform(1.5, 4.0) * level * envelope(t, onset + jitter, rise, apex, fall)
        )
    if rng.random() < 0.35:  # a stray AU, as real faces co-activate
        stray = int(rng.integers(len(AU_NAMES) - 1))
        x[:, stray] += rng.uniform(0.3, 1.3) * envelope(t, rng.uniform(0, 1), 0.3, 0.6, 0.3)
    if label == "neutral" and rng.random() < 0.5:  # brief twitches below expression level
        x[:, int(rng.integers(len(AU_NAMES) - 1))] += rng.uniform(0.2, 0.9) * envelope(
            t, rng.uniform(0, 1.5), 0.2, 0.2, 0.2
        )
    add_speech(x, t, subj, rng)
    add_blinks(x, t, subj, rng)
    add_head_motion(x, t, subj, rng)
    x += rng.normal(0, subj.noise, x.shape).astype(np.float32)
    return (t * 1000).astype(np.float64), np.clip(x, 0, 5).astype(np.float32)


def add_speech(x: np.ndarray, t: np.ndarray, subj: Subject, rng: np.random.Generator) -> None:
    if rng.random() > subj.speaks:
        return
    rate = rng.uniform(2.5, 5.0)  # syllables per second
    start, stop = rng.uniform(0, 0.5), t[-1] - rng.uniform(0, 0.5)
    on = ((t > start) & (t < stop)).astype(np.float32)
    phase = np.abs(np.sin(np.pi * rate * t + rng.uniform(0, np.pi)))
    x[:, AU_INDEX[25]] += on * rng.uniform(1.0, 4.0) * phase
    x[:, AU_INDEX[26]] += on * rng.uniform(0.5, 2.0) * phase**2
    for au in SPEECH_LEAK:
        x[:, AU_INDEX[au]] += (
            on * rng.uniform(0, 0.7) * np.abs(np.sin(np.pi * rate * t + rng.uniform(0, np.pi)))
        )


def add_blinks(x: np.ndarray, t: np.ndarray, subj: Subject, rng: np.random.Generator) -> None:
    n = rng.poisson(subj.blink_hz * t[-1])
    for c in rng.uniform(0, t[-1], n):
        x[:, AU_INDEX[45]] += rng.uniform(2.5, 5) * np.exp(-0.5 * ((t - c) / 0.05) ** 2)


def add_head_motion(x: np.ndarray, t: np.ndarray, subj: Subject, rng: np.random.Generator) -> None:
    pitch = np.cumsum(rng.normal(0, 0.03 * subj.head, len(t)))
    for au, k in ((1, 0.4), (2, 0.4), (4, -0.4), (7, 0.15)):
        x[:, AU_INDEX[au]] += np.maximum(0, k * pitch * 3).astype(np.float32)


def write_corpus(out: Path, n_subjects: int, clips_per_label: int, seed: int) -> Path:
    """Write the corpus; return the path of its ``index.csv``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in range(n_subjects):
        subj, name = make_subject(rng), f"s{s:03d}"
        for label in LABELS:
            for k in range(clips_per_label):
                t_ms, feats = make_clip(label, subj, rng)
                fname = f"{name}_{label}_{k:02d}.npz"
                np.savez_compressed(
                    out / fname, t_ms=t_ms, features=feats, names=np.array(AU_NAMES)
                )
                rows.append((fname, label, name))
    index = out / "index.csv"
    with index.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "subject"])
        w.writerows(rows)
    logger.info("synthetic corpus: %d clips of %d subjects in %s", len(rows), n_subjects, out)
    return index


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth-corpus", help="write a synthetic AU-trajectory corpus")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--subjects", type=int, default=24)
    p.add_argument("--clips-per-label", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    index = write_corpus(args.out, args.subjects, args.clips_per_label, args.seed)
    print(f"wrote {index}")
    return 0
