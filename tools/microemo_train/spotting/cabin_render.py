"""The picture changes behind ``microemo-train synth --cabin``: eyes closed, a mouth opened
wide (a yawn) and the head turned, drawn on a real face from its landmarks.

- Eyes: in each eye's own frame (along the line between its corners), the upper lid comes
  down to the lower lid by the closure amount; the lid skin above it is stretched down to
  cover the eye (what is under the lid is hidden, not squeezed), and the lid margin is
  darkened where the lashes are.
- Mouth: in the face's frame, everything below the inner upper lip moves down by the jaw
  drop, full under the mouth and fading towards the jaw's corners and below the chin; the
  gap that opens between the lips is the mouth's inside (upper teeth, dark cavity, tongue).
- Head: the 3D mesh is rotated about a point behind the face and the picture warped piece
  by piece (an exact affine map per triangle of the rotated mesh) inside a fixed frame
  around the face, so hair, ears and background stay where they are.

Each is an inverse map (output pixel -> source pixel) sampled with ``cv2.remap``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# MediaPipe mesh contours, corner to corner: upper lid, lower lid (subject's right eye first)
EYES = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)),
)
INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
CHEEK_R, CHEEK_L, CHIN = 234, 454, 152
# colours of the mouth's inside (BGR): teeth, cavity, tongue
TEETH, CAVITY, TONGUE = (196, 206, 214), (22, 18, 36), (48, 44, 96)


def _frame(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit axis from ``a`` to ``b`` and the perpendicular pointing down the picture."""
    u = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
    v = np.array([-u[1], u[0]])
    return u, (v if v[1] >= 0 else -v)


def _contour(pts: np.ndarray, idx: tuple[int, ...], origin: np.ndarray, u: np.ndarray,
             v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A contour as (s, h) in the frame (u, v) at ``origin``, sorted along s."""
    d = pts[list(idx)] - origin
    s, h = d @ u, d @ v
    order = np.argsort(s)
    return s[order], h[order]


def _box(image: np.ndarray, corners: np.ndarray) -> tuple[int, int, int, int]:
    h, w = image.shape[:2]
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)


def close_eyes(image: np.ndarray, pts: np.ndarray, amount: float) -> np.ndarray:
    """Both eyes closed by ``amount`` (0 open, 1 shut) on pixel landmarks ``pts`` (478, 2)."""
    if amount <= 0.01:
        return image
    out = image.copy()
    for upper, lower in EYES:
        _close_eye(image, out, pts, upper, lower, min(amount, 1.0))
    return out


def _close_eye(image: np.ndarray, out: np.ndarray, pts: np.ndarray, upper: tuple[int, ...],
               lower: tuple[int, ...], amount: float) -> None:  # fmt: skip
    origin = pts[upper[0]]
    u, v = _frame(origin, pts[upper[-1]])
    su, hu = _contour(pts, upper, origin, u, v)
    sl, hl = _contour(pts, lower, origin, u, v)
    width = float(su[-1] - su[0])
    band = 0.45 * width  # the lid skin above the margin that comes down with it
    corners = np.array([origin + s * u + h * v for s in (su[0] - 2, su[-1] + 2)
                        for h in (hu.min() - band - 2, hl.max() + 3)])  # fmt: skip
    x0, y0, x1, y1 = _box(image, corners)
    xs, ys = np.meshgrid(np.arange(x0, x1 + 1, dtype=np.float32),
                         np.arange(y0, y1 + 1, dtype=np.float32))  # fmt: skip
    d = np.stack([xs - origin[0], ys - origin[1]], -1)
    s, h = d @ u, d @ v
    top, bottom = np.interp(s, su, hu), np.interp(s, sl, hl)
    lid = top + amount * 0.97 * np.maximum(bottom - top, 0.0)  # the margin's new place
    skin = top - band
    inside = (s > su[0]) & (s < su[-1]) & (h > skin) & (h < lid)
    src_h = np.where(inside, skin + (h - skin) * (top - skin) / np.maximum(lid - skin, 1e-3), h)
    src = origin + s[..., None] * u + src_h[..., None] * v
    patch = cv2.remap(image, src[..., 0].astype(np.float32), src[..., 1].astype(np.float32),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    lash = np.clip(1.0 - np.abs(h - lid) / max(0.05 * width, 0.8), 0.0, 1.0)
    lash *= (s > su[0] + 0.1 * width) & (s < su[-1] - 0.05 * width)
    shade = 1.0 - 0.55 * amount * lash
    out[y0 : y1 + 1, x0 : x1 + 1] = np.clip(patch * shade[..., None], 0, 255).astype(np.uint8)


def open_mouth(image: np.ndarray, pts3: np.ndarray, amount: float, gap: float = 0.34) -> np.ndarray:
    """The jaw dropped so that the lips part by ``amount`` x ``gap`` face widths, on pixel
    landmarks ``pts3`` (478, 3; z smaller nearer the camera). The jaw turns about the joints
    by the ears, so a point of it moves down as far as it stands forward of them: the lower
    lip and chin by the whole drop, the jaw's angles hardly; the cheeks beside the mouth
    stretch. The gap between the lips is the mouth's inside (teeth, dark throat, tongue)."""
    if amount <= 0.01:
        return image
    src = pts3[:, :2].astype(np.float64)
    fw = float(np.linalg.norm(src[CHEEK_L] - src[CHEEK_R]))
    drop = amount * gap * fw
    centre = (src[13] + src[14]) / 2
    u, v = _frame(src[CHEEK_R], src[CHEEK_L])
    d = src - centre
    s, h = d @ u, d @ v
    su, _ = _contour(src, INNER_UPPER, centre, u, v)
    sl, hl = _contour(src, INNER_LOWER, centre, u, v)
    lip = np.interp(s, sl, hl, left=hl[0], right=hl[-1])  # the inner lower lip above a point
    half = float(su[-1] - su[0]) / 2
    # the lips part as a lens narrower than the mouth (the corners stay, drawn in a little);
    # under them the jaw moves whole
    lens = np.sqrt(np.clip(1.0 - (s / (0.8 * half)) ** 2, 0.0, 1.0))
    k = np.clip((h - lip) / (0.15 * fw), 0.0, 1.0)
    corner = float(np.mean(h[[61, 291]]))
    jaw = np.where(
        (h >= lip - 0.25) & (np.abs(s) <= half),
        lens * (1 - k) + k,
        np.clip((h - corner) / (0.2 * fw), 0, 1),
    )
    jaw[list(INNER_UPPER)] = 0.0
    z = pts3[:, 2].astype(np.float64)
    joints = float(z[[CHEEK_R, CHEEK_L]].mean())
    forward = np.clip((joints - z) / max(joints - float(z[CHIN]), 1e-3), 0.0, 1.0)
    near = np.clip(1.0 - np.abs(h) / (0.3 * fw), 0.0, 1.0) * (np.abs(s) <= 1.2 * half)
    squeeze = -0.15 * amount * np.clip(s / half, -1.0, 1.0) * half * near  # corners come in
    dst = src + (drop * jaw * forward)[:, None] * v + squeeze[:, None] * u
    out = _mesh_warp(image, src, dst, z, fw, below=drop)
    _mouth_inside(out, dst, u, v)
    return out


def _mouth_inside(out: np.ndarray, dst: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Fill the parted lips: upper teeth under the upper lip, the dark throat, the tongue
    low in the mouth."""
    upper, lower = dst[list(INNER_UPPER)], dst[list(INNER_LOWER)][::-1]
    poly = np.vstack([upper, lower])
    x0, y0 = np.floor(poly.min(0)).astype(int)
    x1, y1 = np.ceil(poly.max(0)).astype(int)
    h, w = out.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, 2)
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
    c = upper.mean(0)
    s = (xs - c[0]) * u[0] + (ys - c[1]) * u[1]
    su = np.sort((upper - c) @ u)
    top = np.interp(s, np.sort((upper - c) @ u), ((upper - c) @ v)[np.argsort((upper - c) @ u)])
    low = np.interp(s, np.sort((lower - c) @ u), ((lower - c) @ v)[np.argsort((lower - c) @ u)])
    hh = (xs - c[0]) * v[0] + (ys - c[1]) * v[1]
    depth = np.clip((hh - top) / np.maximum(low - top, 1e-3), 0, 1)
    teeth_h = 0.09 * (su[-1] - su[0])  # about a tenth of the mouth's width
    dark = np.clip(1.1 - 0.4 * depth, 0.6, 1.0)[..., None]
    lower_teeth = (low - hh) < 0.6 * teeth_h
    inside = np.where((((hh - top) < teeth_h) | lower_teeth)[..., None], TEETH,
                      np.where((depth > 0.8)[..., None], TONGUE, CAVITY * dark))  # fmt: skip
    alpha = (mask.astype(np.float64) / 255.0)[..., None]
    region = out[y0 : y1 + 1, x0 : x1 + 1]
    out[y0 : y1 + 1, x0 : x1 + 1] = np.clip(region * (1 - alpha) + inside * alpha, 0, 255).astype(
        np.uint8
    )


DEPTH_SCALE = 1.5


def turn_head(image: np.ndarray, pts3: np.ndarray, yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """The head turned by ``yaw_deg`` (+: to the subject's left, the nose going to the
    picture's right) and ``pitch_deg`` (+: up) on pixel landmarks ``pts3`` (478, 3; z in
    pixels, smaller nearer the camera), about a point 0.6 face widths behind the face.

    The mesh's depth is stretched by ``DEPTH_SCALE`` first: MediaPipe's mesh is flatter
    than a head, and turned as it is, a turn reads about 0.7 of the angle asked; with it,
    the landmarker reads 0.9-1.1 of the angle up to 20-30 degrees, less beyond (measured on
    the CREMA-D actor: 40 degrees asked read 31-32)."""
    if abs(yaw_deg) < 0.2 and abs(pitch_deg) < 0.2:
        return image
    pts3 = pts3 * np.array([1.0, 1.0, DEPTH_SCALE])
    src = pts3[:, :2].astype(np.float64)
    fw = float(np.linalg.norm(src[CHEEK_L] - src[CHEEK_R]))
    pivot = pts3.mean(0) + np.array([0.0, 0.0, 0.6 * fw])
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    # nose (z < pivot) to +x for a + yaw; to -y (up) for a + pitch
    ry = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    moved = (pts3 - pivot) @ (rx @ ry).T + pivot
    return _mesh_warp(image, src, moved[:, :2], moved[:, 2], fw)


def _mesh_warp(
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    depth: np.ndarray,
    fw: float,
    below: float = 0.0,
) -> np.ndarray:
    """Move the mesh from ``src`` to ``dst`` (pixels), an exact affine map per triangle: the
    face's own triangles (as the camera saw them) drawn far ones first by ``depth`` (after
    the move), so what turns away is hidden; between the face and a fixed frame a quarter
    face width around it (``below`` more under it), triangles that stretch what is there."""
    from scipy.spatial import Delaunay

    h, w = image.shape[:2]
    lo, hi = np.minimum(src.min(0), dst.min(0)), np.maximum(src.max(0), dst.max(0))
    x0, y0 = np.maximum(np.floor(lo - 0.25 * fw), 0).astype(int)
    pad = np.array([0.25 * fw, 0.25 * fw + below])
    x1, y1 = np.minimum(np.ceil(hi + pad), [w - 1, h - 1]).astype(int)
    ring = np.array([[x, y] for x in np.linspace(x0, x1, 5) for y in (y0, y1)]
                    + [[x, y] for x in (x0, x1) for y in np.linspace(y0, y1, 5)[1:-1]])  # fmt: skip
    face = Delaunay(src).simplices
    face = face[np.argsort(-depth[face].mean(1))]
    around = Delaunay(np.vstack([dst, ring])).simplices
    src_all, dst_all = np.vstack([src, ring]), np.vstack([dst, ring])
    tris = np.vstack([around, face])
    label = np.full((y1 - y0 + 1, x1 - x0 + 1), -1, np.int32)
    polys = np.round((dst_all[tris] - [x0, y0]) * 4).astype(np.int32)  # 2 sub-pixel bits
    for k, poly in enumerate(polys):
        cv2.fillConvexPoly(label, poly, k, lineType=cv2.LINE_8, shift=2)
    maps = _affines(dst_all[tris], src_all[tris])  # (T, 2, 3): picture -> source
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
    m = maps[np.maximum(label, 0)]
    mx = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    my = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    outside = label < 0
    mx[outside], my[outside] = xs[outside], ys[outside]
    out = image.copy()
    out[y0 : y1 + 1, x0 : x1 + 1] = cv2.remap(
        image, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )  # fmt: skip
    return out


def _affines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The affine maps (T, 2, 3) taking each triangle of ``a`` (T, 3, 2) onto ``b``'s."""
    ones = np.ones((*a.shape[:2], 1))
    pa, pb = np.concatenate([a, ones], -1), b  # (T, 3, 3), (T, 3, 2)
    det = np.linalg.det(pa)
    pa[np.abs(det) < 1e-9] = np.eye(3)  # a degenerate triangle maps nothing (never drawn)
    return np.transpose(np.linalg.solve(pa, pb), (0, 2, 1))
