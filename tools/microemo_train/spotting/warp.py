"""The AU warp behind ``microemo-train synth``: per-AU displacement templates on the
MediaPipe mesh (a data table, ``au_templates.toml``), spread smoothly over the whole mesh, and
the image resampled over the Delaunay triangulation of the displaced mesh (``scipy``
Delaunay on a coarse grid + ``cv2.remap``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# MediaPipe mesh indices, (subject's right, subject's left) pairs; right is image-left.
_R_FACE, _L_FACE = 234, 454
_BRIDGE = 168

_Handles = list[tuple[int, int, float, float]]
TEMPLATES_FILE = Path(__file__).with_name("au_templates.toml")
SIDES = ("R", "L")  # a one-sided AU's suffix, as FACS prefixes it (R14, L14): subject's side


def base_au(au: str) -> str:
    """The AU a one-sided template adds (``AU14R`` -> ``AU14``): what the device names."""
    return au[:-1] if au[-1:] in SIDES else au


def load_templates(path: Path = TEMPLATES_FILE) -> dict[str, tuple[float, _Handles]]:
    """AU -> (sigma in face widths, [(right idx, left idx, out, up), ...]) from the data
    table (``au_templates.toml``: displacement at template scale 1.0, face-width units,
    "out" away from the face midline), with ``AUnnR`` / ``AUnnL`` (one side only, both
    indices that side's) for the AUs marked ``one_sided``. A malformed entry is a
    ``ValueError`` naming it."""
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
        one_sided = entry.get("one_sided", False)
        if not isinstance(one_sided, bool):
            raise ValueError(f"{path}: [{au}] one_sided must be true or false")
        if one_sided:
            on_right, on_left = (au + side for side in SIDES)  # each handle moves one side's point
            out[on_right] = (out[au][0], [(r, r, o, u) for r, _, o, u in handles])
            out[on_left] = (out[au][0], [(lf, lf, o, u) for _, lf, o, u in handles])
    return out


TEMPLATES = load_templates()


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
class FaceMesh:
    """Piecewise-affine interpolation weights of one source frame's mesh on a coarse grid."""

    box: tuple[int, int, int, int]
    grid: tuple[int, int]  # (ny, nx)
    verts: np.ndarray  # (G, 3) vertex indices into mesh + ring
    bary: np.ndarray  # (G, 3) barycentric weights (0 outside the mesh)
    step: int

    @classmethod
    def build(cls, pts: np.ndarray, shape: tuple[int, ...], step: int = 3) -> FaceMesh:
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


def warp_face(image: np.ndarray, mesh: FaceMesh, disp: np.ndarray) -> np.ndarray:
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
