"""Every still through the device's landmarker and face crop, once, cached.

Per still: the main face's observation (landmarks, blendshapes, head pose) or none, and the
aligned grey crops the appearance model reads (``vision.face_crop``, the device's own code;
one per view). Two caches per set in ``cache``: the observations, keyed by the stills (paths,
sizes and times) and the landmarker's settings and version; and the crops, keyed by those and
the crop and its views. A second run with another model or fusion reads both in seconds; one
with other views re-cuts the crops from the pictures without landmarking them again.
Landmarking and cutting run in ``jobs`` worker processes, one landmarker each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microemo.types import FaceObservation
from microemo.vision.face_crop import CENTRED, CropSpec, CropView, aligned_crops
from microemo_train.appearance.data import StillSet, prepare
from microemo_train.facs.record import landmarker_signature

logger = logging.getLogger(__name__)

CHUNK = 100


@dataclass
class Extracted:
    """Per still (the set's order): found, observation arrays and the crops (one a view)."""

    ok: np.ndarray  # (n,) bool
    lm: np.ndarray  # (n, 478, 3)
    bs: np.ndarray  # (n, 52)
    pose: np.ndarray  # (n, 4, 4)
    size: np.ndarray  # (n, 2) width, height the landmarks are relative to
    crops: np.ndarray  # (n, views, size, size) uint8

    def observation(self, i: int) -> FaceObservation | None:
        if not self.ok[i]:
            return None
        w, h = (int(v) for v in self.size[i])
        return FaceObservation(self.lm[i], self.bs[i], self.pose[i], (w, h))


OBSERVED = ("ok", "lm", "bs", "pose", "size")
_worker = None


def _work(args: tuple[list[str], CropSpec, tuple[CropView, ...]]) -> list[tuple | None]:
    global _worker
    from microemo.config import LandmarkerConfig
    from microemo.daemon.cli import keep_training_libraries_out
    from microemo.vision.landmarker import StillLandmarker, largest

    keep_training_libraries_out()
    if _worker is None:
        _worker = StillLandmarker(LandmarkerConfig())
    paths, spec, views = args
    out: list[tuple | None] = []
    for p in paths:
        try:
            image = prepare(Path(p))
        except Exception as exc:  # one unreadable still is left out, named
            logger.warning("%s: left out: %s", p, exc)
            out.append(None)
            continue
        face = largest(_worker.detect(image))
        if face is None:
            out.append(None)
            continue
        crops = aligned_crops(image, face.landmarks, spec, views)
        out.append((face.landmarks, face.blendshapes, face.pose, face.image_size, crops))
    return out


def _cut(args: tuple[list[str], np.ndarray, CropSpec, tuple[CropView, ...]]) -> np.ndarray:
    """The crops of stills whose landmarks are known: the pictures read again, not landmarked."""
    paths, lms, spec, views = args
    return np.stack([aligned_crops(prepare(Path(p)), lm, spec, views) for p, lm in zip(paths, lms)])


def _keys(s: StillSet, spec: CropSpec, views: tuple[CropView, ...]) -> tuple[str, str]:
    """The observations' key and the crops'."""
    h = hashlib.sha256(landmarker_signature().encode())
    for st in s.stills:
        stat = st.path.stat()
        h.update(f"{st.path}\0{stat.st_size}\0{int(stat.st_mtime)}\n".encode())
    seen = h.hexdigest()[:16]
    blob = json.dumps(
        [seen, spec.size, spec.points, spec.template, [dataclasses.astuple(v) for v in views]]
    )
    return seen, hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save(path: Path, arrays: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def extract(
    s: StillSet,
    spec: CropSpec,
    cache: Path,
    jobs: int = 2,
    views: tuple[CropView, ...] = CENTRED,
) -> Extracted:
    """The set's observations and crops through ``views``, from the cache when it has them."""
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    seen, cut = _keys(s, spec, views)
    seen_path, cut_path = cache / f"{s.name}-{seen}.npz", cache / f"{s.name}-crops-{cut}.npz"
    n = len(s.stills)
    paths = [str(st.path) for st in s.stills]
    if seen_path.is_file():
        with np.load(seen_path) as d:
            observed = {k: d[k] for k in OBSERVED}
        if cut_path.is_file():
            with np.load(cut_path) as d:
                return Extracted(**observed, crops=d["crops"])
        crops = np.zeros((n, len(views), spec.size, spec.size), np.uint8)
        idx = np.flatnonzero(observed["ok"])
        cuts = [
            (
                [paths[i] for i in idx[k : k + CHUNK]],
                observed["lm"][idx[k : k + CHUNK]],
                spec,
                views,
            )
            for k in range(0, len(idx), CHUNK)
        ]
        with (
            ProcessPoolExecutor(max(1, jobs)) as pool,
            tqdm(total=len(idx), desc=f"crop {s.name}", unit="face") as bar,
        ):
            for k, got in zip(range(0, len(idx), CHUNK), pool.map(_cut, cuts), strict=True):
                crops[idx[k : k + len(got)]] = got
                bar.update(len(got))
        _save(cut_path, {"crops": crops})
        return Extracted(**observed, crops=crops)
    ok = np.zeros(n, bool)
    lm = np.zeros((n, 478, 3), np.float32)
    bs = np.zeros((n, 52), np.float32)
    pose = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    size = np.zeros((n, 2), np.int32)
    crops = np.zeros((n, len(views), spec.size, spec.size), np.uint8)
    chunks = [(paths[i : i + CHUNK], spec, views) for i in range(0, n, CHUNK)]
    with (
        ProcessPoolExecutor(max(1, jobs)) as pool,
        tqdm(total=n, desc=f"landmark {s.name}", unit="still") as bar,
    ):
        for c, results in enumerate(pool.map(_work, chunks)):
            for j, r in enumerate(results):
                i = c * CHUNK + j
                if r is not None:
                    ok[i] = True
                    lm[i], bs[i], pose[i], size[i], crops[i] = r
            bar.update(len(results))
    out = Extracted(ok, lm, bs, pose, size, crops)
    _save(seen_path, {k: getattr(out, k) for k in OBSERVED})
    _save(cut_path, {"crops": crops})
    logger.info("%s: face found in %d of %d stills", s.name, ok.sum(), n)
    return out
