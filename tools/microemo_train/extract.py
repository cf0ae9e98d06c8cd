"""``microemo-train extract``: run the DEVICE's pipeline over every input and cache its
per-frame feature vectors, one ``.npz`` per input keyed by the input's content hash.

The work function is the same for local worker processes and a Dask cluster; only the
executor differs (``concurrent.futures.ProcessPoolExecutor`` or ``distributed``'s
``Client.get_executor()``). Results are written atomically, so an interrupted run resumes
where it stopped. An unreadable input is reported by name and skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import microemo
from microemo_train import settings
from microemo_train.datasets import Item, load_items

if TYPE_CHECKING:
    from microemo.config import Config

logger = logging.getLogger(__name__)

EXTRACT_VERSION = "1"  # bump when what is stored per input changes


def content_hash(path: Path) -> str:
    """sha256 over a file's bytes, or over the names and bytes of a folder's files."""
    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode() if path.is_dir() else b"")
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def device_config(path: Path | str | None) -> Config:
    """The device config extraction runs with (its defaults when ``path`` is None); its AU
    calibration must load. Raises ``ConfigError`` or ``CalibrationError`` naming the file."""
    from microemo.config import load_config
    from microemo.vision.calibration import load_calibration

    config = load_config(path)
    load_calibration(config.au.calibration)
    return config


def pipeline_signature(config_path: Path | str | None = None) -> str:
    """What the features depend on besides the input: runtime version, the device config and
    the AU calibration's content (a re-fitted calibration is new features, not a cache hit)."""
    from microemo.vision.calibration import calibration_digest
    from microemo.vision.features import FRAME_FEATURES

    config = device_config(config_path)
    blob = json.dumps(
        [
            EXTRACT_VERSION,
            microemo.__version__,
            list(FRAME_FEATURES),
            config.model_dump(mode="json"),
            calibration_digest(config.au.calibration),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def extract_one(
    path: str, fps: float | None, out: str, config_path: str | None = None
) -> dict[str, Any]:
    """Run the device pipeline (configured by ``config_path``, or its defaults) over one
    input; write ``t_ms``, ``features``, ``names``, ``frame_index`` of its main face (the one
    seen on most frames) to ``out``."""
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source
    from microemo.vision.features import FRAME_FEATURES

    start = time.monotonic()
    try:
        source = open_file_source(path, fps=fps)
    except Exception as exc:  # every reason an input cannot be opened is reported by name
        return {"path": path, "ok": False, "error": str(exc)}
    per_face: dict[int, list[tuple[float, int, np.ndarray]]] = {}
    n = 0
    pipeline = Pipeline(device_config(config_path))
    try:
        for frame in source:
            n += 1
            for au in pipeline.process(frame).faces:
                per_face.setdefault(au.face_id, []).append((au.t_ms, frame.index, au.features))
    except Exception as exc:
        return {"path": path, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        source.close()
        pipeline.close()
    rows = max(per_face.values(), key=len) if per_face else []
    feats = np.array([r[2] for r in rows], np.float32).reshape(len(rows), len(FRAME_FEATURES))
    tmp = out + f".{os.getpid()}.tmp.npz"
    np.savez_compressed(
        tmp,
        t_ms=np.array([r[0] for r in rows], np.float64),
        features=feats,
        frame_index=np.array([r[1] for r in rows], np.int64),
        names=np.array(FRAME_FEATURES),
        frames=np.int64(n),
    )
    os.replace(tmp, out)
    return {
        "path": path,
        "ok": True,
        "frames": n,
        "face_frames": len(rows),
        "faces": len(per_face),
        "seconds": time.monotonic() - start,
    }


@contextmanager
def make_executor(jobs: int, scheduler: str) -> Iterator[Executor]:
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            logger.info("extracting on the Dask cluster at %s", scheduler)
            yield client.get_executor()
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            yield pool


@dataclass
class Extracted:
    item: Item
    features: Path  # the cached .npz


def extract_items(
    items: list[Item],
    cache: Path,
    jobs: int = 2,
    scheduler: str = "",
    config_path: Path | None = None,
) -> tuple[list[Extracted], list[tuple[Item, str]]]:
    """Features for every item (from cache when present), read with the device config at
    ``config_path``; also the failures, by item."""
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    sig = pipeline_signature(config_path)
    config = None if config_path is None else str(config_path)
    done: list[Extracted] = []
    todo: dict[str, tuple[Item, Path]] = {}
    for it in items:
        if it.kind == "features":
            done.append(Extracted(it, it.path))
            continue
        out = cache / f"{content_hash(it.path)}-{sig}.npz"
        if out.is_file():
            done.append(Extracted(it, out))
        else:
            todo.setdefault(str(it.path), (it, out))
    failed: list[tuple[Item, str]] = []
    if todo:
        logger.info("extracting %d inputs (%d cached)", len(todo), len(done))
        with make_executor(jobs, scheduler) as ex:
            futures: dict[Future[dict[str, Any]], tuple[Item, Path]] = {
                ex.submit(extract_one, str(it.path), it.fps, str(out), config): (it, out)
                for it, out in todo.values()
            }
            for fut in tqdm(
                as_completed(futures), total=len(futures), desc="extract", unit="input"
            ):
                it, out = futures[fut]
                res = fut.result()
                if res["ok"]:
                    done.append(Extracted(it, out))
                else:
                    logger.error("%s: skipped: %s", it.path, res["error"])
                    failed.append((it, res["error"]))
    # the same item may appear under several labels/subjects only once per path
    by_path = {str(e.item.path): e.features for e in done}
    result = [Extracted(it, by_path[str(it.path)]) for it in items if str(it.path) in by_path]
    return result, failed


def write_index(workdir: Path, extracted: list[Extracted], failed: list[tuple[Item, str]]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "path": str(e.item.path),
            "label": e.item.label,
            "subject": e.item.subject,
            "kind": e.item.kind,
            "fps": e.item.fps,
            "first_frame": e.item.first_frame,
            "last_frame": e.item.last_frame,
            "features": str(e.features),
        }
        for e in extracted
    ]
    index = workdir / "extracted.json"
    index.write_text(
        json.dumps(
            {"items": rows, "failed": [{"path": str(it.path), "error": err} for it, err in failed]},
            indent=1,
        )
    )
    return index


def read_index(workdir: Path) -> list[Extracted]:
    index = workdir / "extracted.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index}: run `microemo-train extract` first")
    rows = json.loads(index.read_text())["items"]
    return [
        Extracted(
            Item(
                Path(r["path"]),
                r["label"],
                r["subject"],
                r["kind"],
                r["fps"],
                r["first_frame"],
                r["last_frame"],
            ),
            Path(r["features"]),
        )
        for r in rows
    ]


def run_step(cfg: settings.TrainConfig, items: list[Item] | None = None) -> list[Extracted]:
    items = load_items(cfg.data, cfg.windows.produced_labels()) if items is None else items
    extracted, failed = extract_items(
        items, cfg.extract.cache, cfg.extract.jobs, cfg.extract.scheduler, cfg.extract.device_config
    )
    for it, err in failed:
        print(f"skipped {it.path}: {err}")
    if not extracted:
        raise RuntimeError("no input could be extracted; see the errors above")
    index = write_index(cfg.workdir, extracted, failed)
    print(f"extracted {len(extracted)} inputs ({len(failed)} skipped) -> {index}")
    return extracted


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="per-frame features of every input (device pipeline)")
    settings.add_config_arg(p)
    settings.add_missing_arg(p)
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786)")
    p.add_argument("--jobs", type=int, help="local worker processes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = settings.from_args(args)
    if args.scheduler:
        cfg.extract.scheduler = args.scheduler
    if args.jobs:
        cfg.extract.jobs = args.jobs
    run_step(cfg)
    return 0
