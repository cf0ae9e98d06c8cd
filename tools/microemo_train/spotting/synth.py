"""``microemo-train synth``: ground-truth micro-expressions added to real faces.

A real clip is run through the device's landmarker once; every output frame then gets its
face warped so that one or more Action Units rise from the onset to the apex and fall back
by the offset. The warp (``warp``) is piecewise affine: per-AU displacement templates on the
MediaPipe mesh (in face-width units, in the face's own axes; the data table
``au_templates.toml``) are spread smoothly to the whole mesh, and the image is resampled
over the Delaunay triangulation of the displaced mesh (``scipy`` LinearNDInterpolator on a
coarse grid + ``cv2.remap``).

Long clips are made by playing the source forward and backward (a continuous talking face,
no cut), turning at the stillest frames near its ends (``still_turns``) so that no movement
is played back into a fake expression. Clips above the source rate (e.g. 100 fps from
29.97) repeat the nearest earlier source frame; the expression itself is rendered at the full
output rate, so its onset and apex are as sharp as a real high-speed camera would see
them. Output is lossless HuffYUV AVI plus a JSON label file (episodes in ms and frames).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from microemo.types import FaceObservation
from microemo_train.spotting.warp import TEMPLATES, FaceMesh, displacement, warp_face

logger = logging.getLogger(__name__)

INTENSITY_LEVELS: dict[str, float] = {"subtle": 0.5, "medium": 1.0, "clear": 1.6}


@dataclass
class Episode:
    """One injected expression: times in ms on the output clip, AUs with template scale."""

    onset_ms: float
    apex_ms: float
    offset_ms: float
    aus: dict[str, float]
    intensity: str = ""
    kind: str = ""  # micro | macro, by duration (< 500 ms is micro)

    def __post_init__(self) -> None:
        if not self.onset_ms < self.apex_ms < self.offset_ms:
            raise ValueError(f"episode needs onset < apex < offset, got {self}")
        unknown = [a for a in self.aus if a not in TEMPLATES]
        if unknown:
            raise ValueError(f"no template for {unknown}; known: {sorted(TEMPLATES)}")
        self.kind = self.kind or ("micro" if self.offset_ms - self.onset_ms < 500 else "macro")

    def weight(self, t_ms: float) -> float:
        """Raised-cosine rise to the apex and fall to the offset, 0 outside."""
        if t_ms <= self.onset_ms or t_ms >= self.offset_ms:
            return 0.0
        if t_ms <= self.apex_ms:
            x = (t_ms - self.onset_ms) / (self.apex_ms - self.onset_ms)
        else:
            x = (self.offset_ms - t_ms) / (self.offset_ms - self.apex_ms)
        return 0.5 - 0.5 * math.cos(math.pi * x)


@dataclass
class SourceClip:
    """A real clip's frames and the landmarker's pixel landmarks on each (None: no face)."""

    path: Path
    fps: float
    frames: list[np.ndarray]
    landmarks: list[np.ndarray | None] = field(default_factory=list)
    meshes: dict[int, FaceMesh] = field(default_factory=dict, repr=False)
    loop: tuple[int, int] | None = None  # first and last source frame played; None: all

    @classmethod
    def load(cls, path: str | Path) -> SourceClip:
        from microemo.config import LandmarkerConfig
        from microemo.types import Frame
        from microemo.vision.landmarker import Landmarker

        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise FileNotFoundError(f"{path}: cannot open video (check the path and codec)")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        frames: list[np.ndarray] = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
        cap.release()
        if not frames:
            raise ValueError(f"{path}: no frames decoded")
        lms: list[np.ndarray | None] = []
        shapes: list[np.ndarray] = []
        with Landmarker(LandmarkerConfig()) as lm:
            for i, img in enumerate(frames):
                faces = lm.detect(Frame(img, i * 1000.0 / fps, i))
                if not faces:
                    lms.append(None)
                    continue
                h, w = img.shape[:2]
                lms.append(faces[0].landmarks[:, :2] * np.array([w, h], np.float32))
                shapes.append(face_signals(faces[0]))
        logger.info(
            "%s: %d frames at %.2f fps, face on %d",
            path,
            len(frames),
            fps,
            sum(x is not None for x in lms),
        )
        loop = still_turns(np.array(shapes), fps) if len(shapes) == len(frames) else None
        return cls(Path(path), fps, frames, lms, loop=loop)

    def source_index(self, t_ms: float) -> int:
        """Ping-pong playback: source frame shown at output time t (no cut at the loop),
        between the ``loop`` turning points."""
        first, last = self.loop or (0, len(self.frames) - 1)
        n = last - first + 1
        k = int(t_ms * self.fps / 1000.0 + 1e-6)
        period = max(2 * (n - 1), 1)
        k %= period
        return first + (k if k < n else period - k)


# What the device measures of an expression (not speech, gaze or blinks): where a movement
# played backwards at a turning point would look like one.
_STILL: tuple[str, ...] = (
    *("bs_brow", "bs_cheek", "bs_eyeSquint", "bs_eyeWide", "bs_mouthSmile", "bs_mouthFrown"),
    *("bs_mouthDimple", "bs_mouthPress", "bs_mouthShrug", "bs_mouthUpperUp"),
    *("bs_mouthStretch", "bs_noseSneer", "g_brow", "g_eye", "g_lower_lid", "g_cheek"),
    *("g_nose", "g_upper_lip", "g_mouth", "g_lip_thick", "g_chin", "g_corner"),
)


def face_signals(obs: FaceObservation) -> np.ndarray:
    """The device's AU inputs for one observation (blendshapes + geometric signals), each
    divided by its full-scale change, only those that show expression (see ``_STILL``)."""
    from microemo.vision.geometry import frontalize, geometry_signals

    points, _ = frontalize(obs)
    cols, full = _still_columns()
    return (np.concatenate([obs.blendshapes, geometry_signals(points)]) / full)[cols]


# How much each expression signal changes between rest and a full movement: the scales of
# the hand-set AU table the still-turn search was tuned with (kept fixed so that a new AU
# calibration does not change which clips spot-eval generates).
_STILL_SCALE: dict[str, float] = {
    "bs_browDownLeft": 0.6, "bs_browDownRight": 0.6, "bs_browInnerUp": 0.6,
    "bs_browOuterUpLeft": 0.6, "bs_browOuterUpRight": 0.6, "bs_cheekPuff": 1.0,
    "bs_cheekSquintLeft": 0.5, "bs_cheekSquintRight": 0.5, "bs_eyeSquintLeft": 0.6,
    "bs_eyeSquintRight": 0.6, "bs_eyeWideLeft": 0.4, "bs_eyeWideRight": 0.4,
    "bs_mouthDimpleLeft": 0.4, "bs_mouthDimpleRight": 0.4, "bs_mouthFrownLeft": 0.5,
    "bs_mouthFrownRight": 0.5, "bs_mouthPressLeft": 0.5, "bs_mouthPressRight": 0.5,
    "bs_mouthShrugLower": 0.6, "bs_mouthShrugUpper": 1.0, "bs_mouthSmileLeft": 0.8,
    "bs_mouthSmileRight": 0.8, "bs_mouthStretchLeft": 0.5, "bs_mouthStretchRight": 0.5,
    "bs_mouthUpperUpLeft": 0.6, "bs_mouthUpperUpRight": 0.6, "bs_noseSneerLeft": 0.4,
    "bs_noseSneerRight": 0.4, "g_brow_inner_h": 0.05, "g_brow_outer_h": 0.04, "g_brow_gap": 1.0,
    "g_eye_open": 0.02, "g_lower_lid_h": 0.01, "g_cheek_h": 0.04, "g_nose_ala_h": 0.015,
    "g_upper_lip_gap": 1.0, "g_mouth_corner_h": 0.06, "g_mouth_width": 0.06,
    "g_lip_thickness": 1.0, "g_chin_lip": 1.0, "g_corner_depth": 1.0, "g_mouth_asym": 1.0,
}  # fmt: skip


@functools.cache
def _still_columns() -> tuple[list[int], np.ndarray]:
    from microemo.vision.calibration import SIGNAL_NAMES

    cols = [i for i, n in enumerate(SIGNAL_NAMES) if n.startswith(_STILL)]
    full = np.array([_STILL_SCALE.get(n, 1.0) for n in SIGNAL_NAMES], np.float32)
    return cols, full


def still_turns(
    signals: np.ndarray, fps: float, reach: float = 0.4, settle_ms: float = 700.0
) -> tuple[int, int] | None:
    """Turning points for ping-pong playback. Played backwards from a turning point, any
    movement of the face near it comes back reversed, so a movement that only goes one way
    in the source (brows relaxing as an utterance starts) becomes a rise and fall that looks
    exactly like an expression, once per loop. Each turning point is therefore the frame,
    within the first (last) ``reach`` of the clip, from which the face's expression signals
    (``face_signals``: brows, cheeks, lids, lip corners, chin, nose; not jaw, lips apart,
    gaze or blinks) change least over the next (previous) ``settle_ms``."""
    x = np.asarray(signals, np.float64)
    n = len(x)
    if n < 8:
        return None
    w = max(1, round(settle_ms * fps / 1000.0))
    k = max(2, int(reach * n))

    def travel(i: int, lo: int, hi: int) -> float:
        return float(np.abs(x[max(lo, 0) : hi] - x[i]).max())

    first = min(range(k), key=lambda i: travel(i, i, i + w + 1))
    last = min(range(n - k, n), key=lambda i: travel(i, i - w, i + 1))
    return first, last


def join_clips(clips: list[SourceClip]) -> SourceClip:
    """Several source clips one after another, as a file joined from them plays (a cut from
    one sentence to the next; the first clip's rate). Played forward; a longer output turns
    at either end of the whole join."""
    if not clips:
        raise ValueError("join_clips needs at least one clip")
    first = clips[0]
    return SourceClip(
        Path("+".join(c.path.stem for c in clips)),
        first.fps,
        [f for c in clips for f in c.frames],
        [p for c in clips for p in c.landmarks],
    )


def render_frame(src: SourceClip, t_ms: float, episodes: list[Episode]) -> np.ndarray:
    k = src.source_index(t_ms)
    image, pts = src.frames[k], src.landmarks[k]
    aus: dict[str, float] = {}
    for ep in episodes:
        wgt = ep.weight(t_ms)
        if wgt > 0:
            for au, s in ep.aus.items():
                aus[au] = aus.get(au, 0.0) + wgt * s
    if pts is None or not aus:
        return image
    mesh = src.meshes.get(k)
    if mesh is None:
        mesh = src.meshes[k] = FaceMesh.build(pts, image.shape)
    return warp_face(image, mesh, displacement(pts, aus))


def write_lossless(
    out: Path, src: SourceClip, fps: float, duration_ms: float, frame: Callable[[float], np.ndarray]
) -> int:
    """Write ``out`` (.avi, HuffYUV, lossless, the source's size) from ``frame(t_ms)`` at
    ``fps`` for ``duration_ms``; return the number of frames written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = src.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"HFYU"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"{out}: OpenCV cannot write HuffYUV AVI here")
    n = int(duration_ms * fps / 1000.0)
    for i in range(n):
        writer.write(frame(i * 1000.0 / fps))
    writer.release()
    return n


def write_clip(
    src: SourceClip, out: Path, fps: float, duration_ms: float, episodes: list[Episode]
) -> dict:
    """Write ``out`` (.avi, HuffYUV, lossless) and ``out`` with .json labels; return labels."""
    n = write_lossless(out, src, fps, duration_ms, lambda t: render_frame(src, t, episodes))
    labels = {
        "clip": out.name,
        "source": src.path.name,
        "fps": fps,
        "n_frames": n,
        "duration_ms": n * 1000.0 / fps,
        "face": 0,
        "upsampling": "none"
        if abs(fps - src.fps) < 0.5
        else f"nearest earlier source frame repeated ({src.fps:.2f} -> {fps:.2f} fps); "
        "expression rendered at the output rate",
        "episodes": [
            dict(
                asdict(e),
                onset_frame=round(e.onset_ms * fps / 1000),
                apex_frame=round(e.apex_ms * fps / 1000),
                offset_frame=round(e.offset_ms * fps / 1000),
            )
            for e in episodes
        ],
    }
    out.with_suffix(".json").write_text(json.dumps(labels, indent=1))
    return labels


def apex_png(src: SourceClip, ep: Episode, path: Path) -> None:
    """Original and apex frame side by side (face crop, 2x) for a visual check."""
    k = src.source_index(ep.apex_ms)
    orig = src.frames[k]
    warped = render_frame(src, ep.apex_ms, [ep])
    pts = src.landmarks[k]
    if pts is not None:
        x0, y0 = np.maximum(pts.min(0).astype(int) - 10, 0)
        x1, y1 = pts.max(0).astype(int) + 10
        orig, warped = orig[y0:y1, x0:x1], warped[y0:y1, x0:x1]
    pair = np.hstack([orig, warped])
    pair = cv2.resize(pair, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), pair)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="add ground-truth AU episodes to a real face clip",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("clip", type=Path, help="real face video (e.g. a CREMA-D .flv)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output .avi (labels: .json)")
    p.add_argument(
        "--au",
        action="append",
        default=[],
        help=f"AU to add, e.g. AU12 or AU12:0.7 (scale); one of {sorted(TEMPLATES)}",
    )
    p.add_argument("--onset-ms", type=float, help="with --au")
    p.add_argument("--apex-ms", type=float, help="with --au")
    p.add_argument("--offset-ms", type=float, help="with --au")
    p.add_argument(
        "--intensity",
        default="clear",
        help=f"one of {INTENSITY_LEVELS} or a template scale",
    )
    p.add_argument("--fps", type=float, default=0.0, help="output fps (default: the source's)")
    p.add_argument(
        "--duration-ms",
        type=float,
        default=0.0,
        help="output length; longer than the source plays it back and forth",
    )
    p.add_argument("--png", type=Path, help="also write original|apex face crops here")
    from microemo_train.spotting import cabin_synth  # eyes closed, yawns, head turns

    cabin_synth.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.cabin:
        from microemo_train.spotting import cabin_synth

        return cabin_synth.run(args)
    if not args.au or None in (args.onset_ms, args.apex_ms, args.offset_ms):
        raise SystemExit("synth: give --au with --onset-ms, --apex-ms and --offset-ms, or --cabin")
    level = INTENSITY_LEVELS.get(args.intensity)
    scale = float(args.intensity) if level is None else level
    aus = {}
    for spec in args.au:
        name, _, s = spec.partition(":")
        aus[name.upper()] = float(s) if s else scale
    ep = Episode(
        args.onset_ms,
        args.apex_ms,
        args.offset_ms,
        aus,
        intensity=args.intensity if level is not None else "",
    )
    src = SourceClip.load(args.clip)
    fps = args.fps or src.fps
    duration = args.duration_ms or len(src.frames) * 1000.0 / src.fps
    labels = write_clip(src, args.out, fps, duration, [ep])
    if args.png:
        apex_png(src, ep, args.png)
    print(
        f"{args.out}: {labels['n_frames']} frames at {fps:.2f} fps, labels "
        f"{args.out.with_suffix('.json')}"
    )
    return 0
