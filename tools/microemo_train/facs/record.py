"""The landmarker's observations of every frame of every item, recorded once and cached.

One ``.npz`` per item under the cache folder, named by the item's frames (bytes, order,
preparation) and the landmarker's settings, so a re-run with another calibration replays in
seconds and a changed frame or setting is recorded again. Recording runs the DEVICE's
landmarker in VIDEO mode, one stream per item, in parallel worker processes. An item whose
frames cannot be read is reported by name and left out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microemo.types import FaceObservation
from microemo_train.facs.items import FacsItem

logger = logging.getLogger(__name__)

RECORD_VERSION = "1"


@dataclass
class Recording:
    """Per frame: the main face's observation, or None where no face was found."""

    item: FacsItem
    faces: list[FaceObservation | None]

    @property
    def found(self) -> int:
        return sum(f is not None for f in self.faces)


def landmarker_signature() -> str:
    from importlib.metadata import version

    from microemo.config import LandmarkerConfig

    # the installed version, without importing MediaPipe (which imports TensorFlow: seconds)
    blob = json.dumps(
        [RECORD_VERSION, version("mediapipe"), LandmarkerConfig().model_dump(mode="json")],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def record_one(item: FacsItem, out: str) -> str | None:
    """Landmark ``item`` into ``out``; the error text when its frames cannot be read."""
    from microemo.config import LandmarkerConfig
    from microemo.types import Frame
    from microemo.vision.landmarker import Landmarker, largest

    lm, bs, pose, ok, size = [], [], [], [], (0, 0)
    try:
        with Landmarker(LandmarkerConfig()) as landmarker:
            for i, image in enumerate(item.images()):
                t_ms = i * 1000.0 / item.fps
                face = largest(landmarker.detect(Frame(image, t_ms, i)))
                size = image.shape[1::-1]
                ok.append(face is not None)
                lm.append(face.landmarks if face else np.zeros((478, 3), np.float32))
                bs.append(face.blendshapes if face else np.zeros(52, np.float32))
                pose.append(face.pose if face else np.eye(4, dtype=np.float32))
    except Exception as exc:  # every reason an item cannot be read is reported by name
        return f"{type(exc).__name__}: {exc}"
    tmp = f"{out}.{os.getpid()}.tmp.npz"
    np.savez_compressed(
        tmp,
        lm=np.array(lm),
        bs=np.array(bs),
        pose=np.array(pose),
        ok=np.array(ok),
        size=np.array(size),
    )
    os.replace(tmp, out)
    return None


def _load(item: FacsItem, path: Path) -> Recording:
    with np.load(path) as d:
        size = (int(d["size"][0]), int(d["size"][1]))
        faces: list[FaceObservation | None] = [
            FaceObservation(d["lm"][i], d["bs"][i], d["pose"][i], size) if d["ok"][i] else None
            for i in range(len(d["ok"]))
        ]
    return Recording(item, faces)


def record_items(
    items: list[FacsItem], cache: Path, jobs: int = 2, progress: bool = True
) -> tuple[list[Recording], list[tuple[FacsItem, str]]]:
    """Recordings of every item, from the cache where present; and the failures."""
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    sig = landmarker_signature()
    paths = {it.key: cache / f"{it.fingerprint()}-{sig}.npz" for it in items}
    # the same frames in two items (two protocols, two rows) are landmarked once
    todo = list({paths[it.key]: it for it in items if not paths[it.key].is_file()}.values())
    failed: dict[Path, str] = {}
    if todo:
        logger.info("landmarking %d items (%d cached)", len(todo), len(items) - len(todo))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(record_one, it, str(paths[it.key])): it for it in todo}
            done = as_completed(futures)
            for fut in tqdm(
                done, total=len(todo), desc="landmark", unit="item", disable=not progress
            ):
                error = fut.result()
                if error is not None:
                    it = futures[fut]
                    logger.error("%s: left out: %s", it.key, error)
                    failed[paths[it.key]] = error
    good = [_load(it, paths[it.key]) for it in items if paths[it.key] not in failed]
    return good, [(it, failed[paths[it.key]]) for it in items if paths[it.key] in failed]
