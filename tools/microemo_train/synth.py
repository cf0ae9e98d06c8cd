"""``microemo-train synth``: ground-truth micro-expressions added to real faces.

A real clip is run through the device's landmarker once; every output frame then gets its
face warped so that one or more Action Units rise from the onset to the apex and fall back
by the offset. The warp is piecewise affine: per-AU displacement templates on the
MediaPipe mesh (in face-width units, in the face's own axes) are spread smoothly to the
whole mesh, and the image is resampled over the Delaunay triangulation of the displaced
mesh (``scipy`` LinearNDInterpolator on a coarse grid + ``cv2.remap``).

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
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from microemo.types import FaceObservation

logger = logging.getLogger(__name__)

# MediaPipe mesh indices, (subject's right, subject's left) pairs; right is image-left.
_R_FACE, _L_FACE = 234, 454
_BRIDGE = 168

_Handles = list[tuple[int, int, float, float]]
TEMPLATES_FILE = Path(__file__).with_name("au_templates.toml")


def load_templates(path: Path = TEMPLATES_FILE) -> dict[str, tuple[float, _Handles]]:
    """AU -> (sigma in face widths, [(right idx, left idx, out, up), ...]) from the data
    table (``au_templates.toml``: displacement at template scale 1.0, face-width units,
    "out" away from the face midline). A malformed entry is a ``ValueError`` naming it."""
    table = tomllib.loads(path.read_text())
    out: dict[str, tuple[float, _Handles]] = {}
    for au, entry in table.items():
        try:
            handles = [
                (int(r), int(left), float(o), float(u)) for r, left, o, u in entry["handles"]
            ]
            out[au] = (float(entry["sigma"]), handles)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: [{au}] needs sigma and handles = [[right, left, out, up], ...] ({exc})"
            ) from None
    return out


TEMPLATES = load_templates()
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
    meshes: dict[int, _Mesh] = field(default_factory=dict, repr=False)
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


@functools.cache
def _still_columns() -> tuple[list[int], np.ndarray]:
    from microemo.vision.au import SIGNAL_NAMES, load_table

    cols = [i for i, n in enumerate(SIGNAL_NAMES) if n.startswith(_STILL)]
    return cols, load_table().full[: len(SIGNAL_NAMES)]


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


def displacement(pts: np.ndarray, aus: dict[str, float]) -> np.ndarray:
    """Pixel displacement of every mesh point for AU scales ``aus`` (template units)."""
    u = pts[_L_FACE] - pts[_R_FACE]
    fw = float(np.linalg.norm(u))
    u = u / fw
    up = np.array([u[1], -u[0]], np.float32)  # image y grows downwards
    mid = pts[_BRIDGE]
    disp = np.zeros_like(pts)
    for au, scale in aus.items():
        sigma, handles = TEMPLATES[au]
        idx, vec = [], []
        for r, left, out, upv in handles:
            for i in {r, left}:
                side = 1.0 if float((pts[i] - mid) @ u) >= 0 else -1.0
                idx.append(i)
                vec.append(fw * scale * (side * out * u + upv * up))
        hidx = np.array(idx)
        hvec = np.array(vec, np.float32)
        d2 = ((pts[:, None, :] - pts[None, hidx, :]) ** 2).sum(-1) / (sigma * fw) ** 2
        w = np.exp(-0.5 * d2)
        au_disp = (w @ hvec) / np.maximum(1.0, w.sum(1))[:, None]
        au_disp[hidx] = hvec  # handles (including zero anchors) move exactly as told
        disp += au_disp
    return disp


@dataclass
class _Mesh:
    """Piecewise-affine interpolation weights of one source frame's mesh on a coarse grid."""

    box: tuple[int, int, int, int]
    grid: tuple[int, int]  # (ny, nx)
    verts: np.ndarray  # (G, 3) vertex indices into mesh + ring
    bary: np.ndarray  # (G, 3) barycentric weights (0 outside the mesh)
    step: int

    @classmethod
    def build(cls, pts: np.ndarray, shape: tuple[int, ...], step: int = 3) -> _Mesh:
        from scipy.spatial import Delaunay

        h, w = shape[:2]
        x0, y0 = (int(v) for v in np.maximum(np.floor(pts.min(0)).astype(int) - 4, 0))
        x1, y1 = (int(v) for v in np.minimum(np.ceil(pts.max(0)).astype(int) + 4, [w - 1, h - 1]))
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        # a zero-displacement frame around the face keeps the warp inside the face box
        ring = np.array(
            [[x0, y0], [x1, y0], [x0, y1], [x1, y1], [xm, y0], [xm, y1], [x0, ym], [x1, ym]],
            np.float64,
        )
        tri = Delaunay(np.vstack([pts.astype(np.float64), ring]))
        gx = np.arange(x0, x1 + step, step, dtype=np.float64)
        gy = np.arange(y0, y1 + step, step, dtype=np.float64)
        g = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        simplex = tri.find_simplex(g)
        tr = tri.transform[np.maximum(simplex, 0)]
        b = np.einsum("ijk,ik->ij", tr[:, :2], g - tr[:, 2])
        bary = np.c_[b, 1.0 - b.sum(1)].astype(np.float32)
        bary[simplex < 0] = 0.0
        verts = tri.simplices[np.maximum(simplex, 0)]
        return cls((x0, y0, x1, y1), (len(gy), len(gx)), verts, bary, step)


def warp_face(image: np.ndarray, mesh: _Mesh, disp: np.ndarray) -> np.ndarray:
    """Move the mesh by ``disp`` (pixels per landmark); pixels off the face stay.

    Displacement is interpolated at the output pixel over the source triangulation and
    sampled backwards (q <- q - d(q)): exact inverse up to second order in the displacement,
    which is a few pixels here."""
    if not np.any(np.abs(disp) > 0.05):
        return image
    x0, y0, x1, y1 = mesh.box
    dall = np.vstack([disp, np.zeros((8, 2), np.float32)]).astype(np.float32)
    d = (dall[mesh.verts] * mesh.bary[..., None]).sum(1).reshape(*mesh.grid, 2)
    rw, rh = x1 - x0 + 1, y1 - y0 + 1
    size = (mesh.grid[1] * mesh.step, mesh.grid[0] * mesh.step)
    dx = cv2.resize(np.ascontiguousarray(d[..., 0]), size)[:rh, :rw]
    dy = cv2.resize(np.ascontiguousarray(d[..., 1]), size)[:rh, :rw]
    xs, ys = np.meshgrid(
        np.arange(x0, x1 + 1, dtype=np.float32), np.arange(y0, y1 + 1, dtype=np.float32)
    )
    out = image.copy()
    out[y0 : y1 + 1, x0 : x1 + 1] = cv2.remap(
        image, xs - dx, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return out


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
        mesh = src.meshes[k] = _Mesh.build(pts, image.shape)
    return warp_face(image, mesh, displacement(pts, aus))


def write_clip(
    src: SourceClip, out: Path, fps: float, duration_ms: float, episodes: list[Episode]
) -> dict:
    """Write ``out`` (.avi, HuffYUV, lossless) and ``out`` with .json labels; return labels."""
    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = src.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"HFYU"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"{out}: OpenCV cannot write HuffYUV AVI here")
    n = int(duration_ms * fps / 1000.0)
    for i in range(n):
        writer.write(render_frame(src, i * 1000.0 / fps, episodes))
    writer.release()
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
        required=True,
        help=f"AU to add, e.g. AU12 or AU12:0.7 (scale); one of {sorted(TEMPLATES)}",
    )
    p.add_argument("--onset-ms", type=float, required=True)
    p.add_argument("--apex-ms", type=float, required=True)
    p.add_argument("--offset-ms", type=float, required=True)
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
