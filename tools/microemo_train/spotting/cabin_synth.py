"""``microemo-train synth --cabin``: eyes closed, yawns and head turns for set durations on
a real talking face, with their ground truth.

An act is ``KIND:START:END`` in ms of the output clip (``turn:START:END:YAW[:PITCH]`` in
degrees, + to the subject's left and up): ``eyes`` (closed; a short one is a blink),
``yawn``, ``turn``. Each eases in and out (``RAMPS``) inside its span. The source clip plays
back and forth as for AU episodes (``synth.SourceClip``), but a yawn or an eye closure of a
second or more holds the source on one frame (a person asleep or yawning does not talk) and
the clip takes up where it left off afterwards. The pictures are drawn by ``cabin_render``.

The label file (``.json`` beside the ``.avi``) gives the acts and, per kind, the intervals a
detector is scored against: eyes at least half closed (blinks), at least 80 % closed
(PERCLOS, microsleeps), the mouth open, the head beyond a given angle; blinks of the real
face (annotated by hand in ``tests/data/crema_d/blinks.csv``) are in them too, wherever the
playback shows those source frames.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from microemo_train.spotting.cabin_render import close_eyes, open_mouth, turn_head
from microemo_train.spotting.synth import SourceClip, write_lossless

KINDS = ("eyes", "yawn", "turn")
# ease in, ease out (ms): lids close in about 70 ms and open slower; a yawn opens slowly
RAMPS = {"eyes": (60.0, 100.0), "yawn": (600.0, 500.0), "turn": (300.0, 300.0)}
FREEZE_MS = 1000.0  # closures this long, and every yawn, hold the source still
BLINKS_CSV = Path(__file__).resolve().parents[3] / "tests" / "data" / "crema_d" / "blinks.csv"


@dataclass
class CabinAct:
    kind: str
    start_ms: float
    end_ms: float
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"cabin act {self.kind!r}: one of {', '.join(KINDS)}")
        if not 0 <= self.start_ms < self.end_ms:
            raise ValueError(f"cabin act {self.kind}: needs 0 <= start < end (ms), got {self}")

    @property
    def freeze(self) -> bool:
        return self.kind == "yawn" or (self.kind == "eyes" and self.span_ms >= FREEZE_MS)

    @property
    def span_ms(self) -> float:
        return self.end_ms - self.start_ms

    def weight(self, t_ms: float) -> float:
        """0 outside, eased up to 1 and back down inside the span (raised cosines, the
        ramps shortened to fit a short act)."""
        if t_ms <= self.start_ms or t_ms >= self.end_ms:
            return 0.0
        up, down = RAMPS[self.kind]
        scale = min(1.0, self.span_ms / (up + down))
        up, down = up * scale, down * scale
        x = min((t_ms - self.start_ms) / up, (self.end_ms - t_ms) / down, 1.0)
        return 0.5 - 0.5 * math.cos(math.pi * x)


def parse_act(spec: str) -> CabinAct:
    """``eyes:1000:2500``, ``yawn:3000:5500``, ``turn:6000:9000:35`` or ``...:35:-10``."""
    parts = spec.split(":")
    try:
        if len(parts) < 3 or (parts[0] != "turn" and len(parts) != 3) or len(parts) > 5:
            raise ValueError("wrong number of fields")
        nums = [float(p) for p in parts[1:]]
        return CabinAct(parts[0], *nums)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"--cabin {spec!r}: expected eyes|yawn:START:END or turn:START:END:YAW[:PITCH] "
            f"(ms, degrees) ({exc})"
        ) from None


def source_time(t_ms: float, acts: list[CabinAct]) -> float:
    """The source clip's playback time at output time ``t_ms``: held still through acts
    that freeze it, going on afterwards."""
    held = 0.0
    for act in sorted(acts, key=lambda a: a.start_ms):
        if not act.freeze or t_ms <= act.start_ms:
            continue
        held += min(t_ms, act.end_ms) - act.start_ms
    return t_ms - held


def amounts(t_ms: float, acts: list[CabinAct]) -> dict[str, float]:
    """Eyes closed, mouth open (0-1) and head yaw and pitch (degrees) at ``t_ms``."""
    out = {"eyes": 0.0, "yawn": 0.0, "yaw": 0.0, "pitch": 0.0}
    for act in acts:
        w = act.weight(t_ms)
        if act.kind == "turn":
            out["yaw"] += w * act.yaw_deg
            out["pitch"] += w * act.pitch_deg
        else:
            out[act.kind] = max(out[act.kind], w)
    return out


@dataclass
class DepthClip:
    """A ``SourceClip`` with each frame's 3D pixel landmarks (z too), which turning needs."""

    src: SourceClip
    points: list[np.ndarray | None]

    @classmethod
    def load(cls, path: str | Path) -> DepthClip:
        from microemo.config import LandmarkerConfig
        from microemo.types import Frame
        from microemo.vision.landmarker import Landmarker

        src = SourceClip.load(path)
        points: list[np.ndarray | None] = []
        with Landmarker(LandmarkerConfig()) as lm:
            for i, img in enumerate(src.frames):
                faces = lm.detect(Frame(img, i * 1000.0 / src.fps, i))
                h, w = img.shape[:2]
                scale = np.array([w, h, w], np.float32)
                points.append(faces[0].landmarks * scale if faces else None)
        return cls(src, points)


def render(clip: DepthClip, t_ms: float, acts: list[CabinAct]) -> np.ndarray:
    k = clip.src.source_index(source_time(t_ms, acts))
    image, pts3 = clip.src.frames[k], clip.points[k]
    if pts3 is None:
        return image
    a = amounts(t_ms, acts)
    pts = pts3[:, :2]
    image = close_eyes(image, pts, a["eyes"])
    image = open_mouth(image, pts3, a["yawn"])
    return turn_head(image, pts3, a["yaw"], a["pitch"])


def natural_blinks(path: Path, csv_path: Path = BLINKS_CSV) -> dict[int, float]:
    """Source frame -> how closed the real face's own eyes are on it (0.6 at least half
    closed, 0.9 at least 80 % closed), from the hand annotation; {} when it has none."""
    if not csv_path.is_file():
        return {}
    out: dict[int, float] = {}
    with csv_path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["clip"] != path.stem:
                continue
            for k in range(int(row["half_first"]), int(row["half_last"]) + 1):
                out[k] = 0.6
            for k in range(int(row["closed_first"]), int(row["closed_last"]) + 1):
                out[k] = 0.9
    return out


def runs(mask: np.ndarray, times: np.ndarray, step_ms: float) -> list[list[float]]:
    """[start, end) in ms of each run of True frames."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return [[round(float(times[a]), 1), round(float(times[b - 1] + step_ms), 1)]
            for a, b in zip(edges[::2], edges[1::2])]  # fmt: skip


def truth(clip: DepthClip, acts: list[CabinAct], fps: float, n: int) -> dict[str, list]:
    """What the clip shows, frame by frame, as intervals: eyes at least half closed
    (``blinks`` under a second), at least 80 % closed (``closed``), yawns and turns."""
    natural = natural_blinks(clip.src.path)
    times = np.arange(n) * 1000.0 / fps
    eyes = np.zeros(n)
    for i, t in enumerate(times):
        k = clip.src.source_index(source_time(t, acts))
        eyes[i] = max(amounts(t, acts)["eyes"], natural.get(k, 0.0))
    step = 1000.0 / fps
    half = runs(eyes >= 0.5, times, step)
    return {
        "blinks": [r for r in half if r[1] - r[0] < FREEZE_MS],
        "closed": runs(eyes >= 0.8, times, step),
        "yawns": [[a.start_ms, a.end_ms] for a in acts if a.kind == "yawn"],
        "turns": [[a.start_ms, a.end_ms, a.yaw_deg, a.pitch_deg] for a in acts if a.kind == "turn"],
    }


def write_cabin_clip(
    clip: DepthClip, out: Path, fps: float, duration_ms: float, acts: list[CabinAct]
) -> dict:
    """Write ``out`` (.avi, HuffYUV, lossless) and its .json labels; return the labels."""
    n = write_lossless(out, clip.src, fps, duration_ms, lambda t: render(clip, t, acts))
    labels = {
        "clip": out.name,
        "source": clip.src.path.name,
        "fps": fps,
        "n_frames": n,
        "duration_ms": n * 1000.0 / fps,
        "acts": [asdict(a) for a in acts],
        **truth(clip, acts, fps, n),
    }
    out.with_suffix(".json").write_text(json.dumps(labels, indent=1))
    return labels


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cabin",
        action="append",
        type=parse_act,
        default=[],
        metavar="ACT",
        help="cabin act instead of AU episodes: eyes:START:END (closed), yawn:START:END, "
        "turn:START:END:YAW[:PITCH] (ms, degrees: + to the subject's left, + up); repeat",
    )


def run(args: argparse.Namespace) -> int:
    if args.au:
        raise SystemExit("synth: --au and --cabin go in separate clips (give one or the other)")
    clip = DepthClip.load(args.clip)
    fps = args.fps or clip.src.fps
    duration = args.duration_ms or max(a.end_ms for a in args.cabin) + 1000.0
    labels = write_cabin_clip(clip, args.out, fps, duration, list(args.cabin))
    print(
        f"{args.out}: {labels['n_frames']} frames at {fps:.2f} fps, {len(args.cabin)} cabin "
        f"acts, labels {args.out.with_suffix('.json')}"
    )
    return 0
