"""``microemo-train select``: ReliefF (skrebate) ranks per-frame features on window-level
summaries (each feature's mean, spread and peak over the window) and keeps the best
``n_features`` NAMES; a feature's score is the best score of its summaries. The names go
into the bundle manifest and the device selects its columns by them.

ReliefF's cost is quadratic in samples, so at most ``max_samples`` distinct windows are
scored, drawn evenly across labels (repeats of one window are scored once: a frame folder
holding one picture 15 times gives 15 identical windows, each the others' nearest hit).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from microemo.vision.features import FRAME_FEATURES
from microemo_train import settings
from microemo_train.windows import WindowSet

logger = logging.getLogger(__name__)

SUMMARIES = ("mean", "std", "max")


def summarize(x: np.ndarray) -> np.ndarray:
    """(n, frames, f) windows -> (n, 3 f) summaries in SUMMARIES order, feature-major."""
    s = np.stack([x.mean(1), x.std(1), x.max(1)], axis=2)
    return s.reshape(len(x), -1).astype(np.float32)


def candidate_columns(prefixes: list[str]) -> list[int]:
    cols = [i for i, n in enumerate(FRAME_FEATURES) if any(n.startswith(p) for p in prefixes)]
    if not cols:
        raise ValueError(f"no per-frame feature starts with {prefixes}; see docs/features.md")
    return cols


def balanced_sample(y: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = max(1, max_samples // len(classes))
    idx = [rng.permutation(np.flatnonzero(y == c))[:per] for c in classes]
    return np.sort(np.concatenate(idx))


def relieff_select(
    ws: WindowSet, cfg: settings.SelectConfig, seed: int = 0
) -> tuple[list[str], dict[str, float]]:
    from skrebate import ReliefF

    cols = candidate_columns(cfg.candidates)
    live = [c for c in cols if np.ptp(ws.x[:, :, c]) > 0]  # constant columns carry nothing
    if len(live) < len(cols):
        logger.info(
            "ReliefF: %d candidate features are constant here and ignored", len(cols) - len(live)
        )
    all_summaries = summarize(ws.x[:, :, live])
    # repeated windows (a held frame, a still) would be each other's nearest hits
    _, first = np.unique(all_summaries, axis=0, return_index=True)
    first = np.sort(first)
    idx = first[balanced_sample(ws.y[first], cfg.max_samples, seed)]
    summaries = all_summaries[idx]
    k = min(cfg.n_neighbors, max(1, int(np.bincount(ws.y[idx]).min()) - 1))
    if k < cfg.n_neighbors:
        logger.warning(
            "ReliefF: %d neighbours requested, the smallest class allows %d", cfg.n_neighbors, k
        )
    r = ReliefF(
        n_features_to_select=min(cfg.n_features, summaries.shape[1]), n_neighbors=k, n_jobs=1
    )
    r.fit(summaries, ws.y[idx])
    per_feature = np.asarray(r.feature_importances_).reshape(len(live), len(SUMMARIES)).max(1)
    order = np.argsort(per_feature)[::-1]
    scores = {FRAME_FEATURES[live[i]]: float(per_feature[i]) for i in order}
    chosen = [FRAME_FEATURES[live[i]] for i in order[: cfg.n_features]]
    # keep the device's column order: stable across retrains with the same choice
    chosen.sort(key=FRAME_FEATURES.index)
    return chosen, scores


def windows_path(workdir: Path) -> Path:
    return workdir / "windows.npz"


def load_windows(cfg: settings.TrainConfig) -> WindowSet:
    """The window set of the extracted inputs, built (and cached) on first use."""
    from microemo_train import windows
    from microemo_train.extract import read_index

    path = windows_path(cfg.workdir)
    if path.is_file():
        return WindowSet.load(path)
    extracted = read_index(cfg.workdir)
    found = sorted({e.item.label for e in extracted})
    labels = windows.model_labels(found, cfg.data.labels, cfg.windows)
    ws = windows.build(extracted, labels, cfg.windows)
    ws.save(path)
    logger.info("%d windows of %d inputs -> %s", len(ws.y), len(extracted), path)
    return ws


def run_step(cfg: settings.TrainConfig) -> list[str]:
    ws = load_windows(cfg)
    chosen, scores = relieff_select(ws, cfg.select, cfg.fit.seed)
    out = cfg.workdir / "selection.json"
    out.write_text(
        json.dumps(
            {
                "features": chosen,
                "scores": scores,
                "n_neighbors": cfg.select.n_neighbors,
                "windows": len(ws.y),
            },
            indent=1,
        )
    )
    print("ReliefF kept:", ", ".join(chosen))
    return chosen


def read_selection(workdir: Path) -> list[str]:
    path = workdir / "selection.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run `microemo-train select` first")
    return list(json.loads(path.read_text())["features"])


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("select", help="ReliefF feature selection on window summaries")
    settings.add_config_arg(p)
    p.add_argument("--n-features", type=int)
    p.add_argument("--n-neighbors", type=int)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = settings.from_args(args)
    if args.n_features:
        cfg.select.n_features = args.n_features
    if args.n_neighbors:
        cfg.select.n_neighbors = args.n_neighbors
    run_step(cfg)
    return 0
