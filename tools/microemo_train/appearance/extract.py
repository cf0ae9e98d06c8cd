"""Every still through the device's landmarker and face crop, once, cached.

Per still: the main face's observation (landmarks, blendshapes, head pose) or none, and the
aligned grey crop the appearance model reads (``vision.face_crop``, the device's own code).
The cache is one ``.npz`` per set, keyed by the stills (paths and sizes), the landmarker's
settings and version, and the crop: a second run with another model or fusion reads it in
seconds. Landmarking runs in ``jobs`` worker processes, one landmarker each.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microemo.types import FaceObservation
from microemo.vision.face_crop import CropSpec, aligned_crop
from microemo_train.appearance.data import StillSet, prepare
from microemo_train.facs.record import landmarker_signature

logger = logging.getLogger(__name__)

CHUNK = 100


@dataclass
class Extracted:
    """Per still (the set's order): found, observation arrays and the crop."""

    ok: np.ndarray  # (n,) bool
    lm: np.ndarray  # (n, 478, 3)
    bs: np.ndarray  # (n, 52)
    pose: np.ndarray  # (n, 4, 4)
    size: np.ndarray  # (n, 2) width, height the landmarks are relative to
    crops: np.ndarray  # (n, size, size) uint8

    def observation(self, i: int) -> FaceObservation | None:
        if not self.ok[i]:
            return None
        w, h = (int(v) for v in self.size[i])
        return FaceObservation(self.lm[i], self.bs[i], self.pose[i], (w, h))


_worker = None


def _work(args: tuple[list[str], CropSpec]) -> list[tuple | None]:
    global _worker
    from microemo.config import LandmarkerConfig
    from microemo.daemon.cli import keep_training_libraries_out
    from microemo.vision.landmarker import StillLandmarker

    keep_training_libraries_out()
    if _worker is None:
        _worker = StillLandmarker(LandmarkerConfig())
    paths, spec = args
    out: list[tuple | None] = []
    for p in paths:
        try:
            image = prepare(Path(p))
        except Exception as exc:  # one unreadable still is left out, named
            logger.warning("%s: left out: %s", p, exc)
            out.append(None)
            continue
        faces = _worker.detect(image)
        if not faces:
            out.append(None)
            continue
        face = max(faces, key=lambda f: float(np.ptp(f.landmarks[:, 0])))
        crop = aligned_crop(image, face.landmarks, spec)
        out.append((face.landmarks, face.blendshapes, face.pose, face.image_size, crop))
    return out


def _key(s: StillSet, spec: CropSpec) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([landmarker_signature(), spec.size, spec.points, spec.template]).encode())
    for st in s.stills:
        stat = st.path.stat()
        h.update(f"{st.path}\0{stat.st_size}\0{int(stat.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def extract(s: StillSet, spec: CropSpec, cache: Path, jobs: int = 2) -> Extracted:
    """The set's observations and crops, from the cache when it has them."""
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{s.name}-{_key(s, spec)}.npz"
    if path.is_file():
        with np.load(path) as d:
            return Extracted(**{k: d[k] for k in Extracted.__dataclass_fields__})
    n = len(s.stills)
    ok = np.zeros(n, bool)
    lm = np.zeros((n, 478, 3), np.float32)
    bs = np.zeros((n, 52), np.float32)
    pose = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    size = np.zeros((n, 2), np.int32)
    crops = np.zeros((n, spec.size, spec.size), np.uint8)
    paths = [str(st.path) for st in s.stills]
    chunks = [(paths[i : i + CHUNK], spec) for i in range(0, n, CHUNK)]
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
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: getattr(out, k) for k in Extracted.__dataclass_fields__})
    tmp.replace(path)
    logger.info("%s: face found in %d of %d stills", s.name, ok.sum(), n)
    return out
