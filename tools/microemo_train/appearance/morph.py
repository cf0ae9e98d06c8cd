"""Faces between a sequence's neutral and its apex, for training on expressions of every
intensity when a data set holds only the two ends (CK+'s development crops).

A face ``t`` of the way from the neutral to the apex is a morph, as in Beier & Neely (1992)
but over a mesh: the landmarks moved ``t`` of the way, both pictures warped to them
piecewise-affinely over a Delaunay mesh of the landmarks and the picture's edge, and the
warped pictures blended ``1 - t`` and ``t``. Unlike a cross-dissolve (the emotion benchmark's
subtle blends, ``0.6 neutral + 0.4 apex`` pixel by pixel) the face's shape moves with its
texture, so a mouth corner is drawn once, partway up, not twice.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

from microemo.vision.face_crop import CropSpec, aligned_crops, similarity
from microemo_train.appearance.data import StillSet, prepare
from microemo_train.appearance.extract import Extracted
from microemo_train.emotion_bench.inputs import BenchInputError


def _edge(w: int, h: int) -> np.ndarray:
    """Points along the picture's border that stay put, so the mesh covers every pixel."""
    xs, ys = np.linspace(0, w - 1, 5), np.linspace(0, h - 1, 5)
    top = np.stack([xs, np.zeros(5)], 1)
    bottom = np.stack([xs, np.full(5, h - 1.0)], 1)
    left = np.stack([np.zeros(3), ys[1:-1]], 1)
    right = np.stack([np.full(3, w - 1.0), ys[1:-1]], 1)
    return np.vstack([top, bottom, left, right])


def _warps(
    size: tuple[int, int], dst: np.ndarray, sources: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each of ``sources`` (points paired with ``dst``, pixels), the remap grids taking a
    picture whose points lie at the source to one whose points lie at ``dst``."""
    w, h = size
    mesh = Delaunay(dst)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    simplex = mesh.find_simplex(grid)
    inside = simplex >= 0
    t = mesh.transform[simplex[inside]]
    b = np.einsum("nij,nj->ni", t[:, :2], grid[inside] - t[:, 2])
    bary = np.column_stack([b, 1.0 - b.sum(axis=1)])
    corners = mesh.simplices[simplex[inside]]
    grids = []
    for src in sources:
        mapped = grid.copy()  # outside the mesh (none, but for rounding): the pixel itself
        mapped[inside] = np.einsum("nk,nkj->nj", bary, src[corners])
        maps = mapped.astype(np.float32).reshape(h, w, 2)
        grids.append((maps[..., 0], maps[..., 1]))
    return grids


def content(image: np.ndarray) -> np.ndarray:
    """255 inside the picture, 0 on the black band ``prepare`` pads small crops with (the
    rows and columns at the edge that are black throughout)."""
    lit = (image.max(axis=2) if image.ndim == 3 else image) > 0
    mask = np.zeros(lit.shape, np.uint8)
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    if len(rows):
        mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = 255
    return mask


def morph(
    a: np.ndarray,
    lm_a: np.ndarray,
    b: np.ndarray,
    lm_b: np.ndarray,
    t: float,
    b_inside: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The face ``t`` (0 to 1) of the way from picture ``a`` to picture ``b`` (same size)
    and its landmarks: ``lm_a`` and ``lm_b`` are (478, 3), x and y in 0-1 of the picture.
    Where ``b_inside`` (255 where ``b`` has picture) is 0, ``a`` alone is drawn, so one
    picture's padding does not fade into the other's face."""
    if a.shape != b.shape:
        raise ValueError(f"pictures of {a.shape} and {b.shape}: morph needs one size")
    h, w = a.shape[:2]
    lm = (1.0 - t) * lm_a + t * lm_b
    edge = _edge(w, h)
    pa, pb = (np.vstack([p[:, :2] * (w, h), edge]) for p in (lm_a, lm_b))
    dst = np.vstack([lm[:, :2] * (w, h), edge])
    (ax, ay), (bx, by) = _warps((w, h), dst, [pa, pb])
    wa = cv2.remap(a, ax, ay, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    wb = cv2.remap(b, bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    blend = (1.0 - t) * wa.astype(np.float32) + t * wb.astype(np.float32)
    if b_inside is not None:
        gone = cv2.remap(b_inside, bx, by, cv2.INTER_NEAREST, borderValue=0) == 0
        blend[gone] = wa[gone]
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8), lm.astype(np.float32)


def onto(
    b: np.ndarray, lm_b: np.ndarray, lm_a: np.ndarray, spec: CropSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Picture ``b`` and its landmarks moved into ``a``'s frame (``a``'s size) by the
    similarity that lays ``b``'s template points on ``a``'s (the crop's own fit), so what is
    left between the two is the expression, not where each picture's crop was cut; and
    where ``b`` has picture there (``content``, moved alike)."""
    h, w = b.shape[:2]
    pts = list(spec.points)
    m = similarity(lm_b[pts, :2] * (w, h), lm_a[pts, :2] * (w, h))
    moved = cv2.warpAffine(b, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    inside = cv2.warpAffine(content(b), m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    lm = lm_b.copy()
    lm[:, :2] = (lm_b[:, :2] * (w, h) @ m[:, :2].T + m[:, 2]) / (w, h)
    return moved, lm, inside


def between_faces(
    s: StillSet, ex: Extracted, take: np.ndarray, intensities: tuple[float, ...], spec: CropSpec
) -> tuple[np.ndarray, list[str]]:
    """For each of the set's neutral -> apex pairs whose two stills ``take`` keeps and the
    landmarker found, the face at each intensity, as the template's crop (the view the CNN
    trains on), labelled with the apex's emotion: (n, size, size) uint8 and the n labels."""
    crops, labels = [], []
    for i, j in s.pairs:
        if not (take[i] and take[j] and ex.ok[i] and ex.ok[j]):
            continue
        a, b = prepare(s.stills[i].path), prepare(s.stills[j].path)
        if b.shape != a.shape:
            b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_CUBIC)
        b, lm_b, inside = onto(b, ex.lm[j], ex.lm[i], spec)
        for t in intensities:
            image, lm = morph(a, ex.lm[i], b, lm_b, t, inside)
            crops.append(aligned_crops(image, lm, spec)[0])
            labels.append(s.stills[j].label)
    size = spec.size
    return (np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)), labels


def with_between(
    sets: list[tuple[StillSet, Extracted, np.ndarray]],
    classes: list[str],
    crops: np.ndarray,
    y: np.ndarray,
    intensities: tuple[float, ...],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The CNN's training faces (``crops``, class indices ``y``) with the faces between each
    pair of ``sets`` whose stills the set's mask keeps, and a line per set saying so."""
    more, ys, said = [crops], [y], []
    for s, ex, take in sets:
        got, labels = between_faces(s, ex, take, intensities, CropSpec())
        if len(got):
            more.append(got)
            ys.append(np.array([classes.index(v) for v in labels]))
            ts = ", ".join(f"{t:g}" for t in intensities)
            said.append(
                f"{s.name} train part: {len(got)} faces morphed between its "
                f"{len(got) // len(intensities)} neutral -> apex pairs at {ts}"
            )
            print(said[-1])
    if not said:
        raise BenchInputError(
            "--between: no --cnn set has neutral -> apex pairs in its train part (the CK+ "
            "layout's sequences, or a CSV with a sequence column); leave --between out or add "
            "such a set with --cnn"
        )
    return np.concatenate(more), np.concatenate(ys), said
