"""Sliding windows over extracted per-frame features, cut by the DEVICE's ``WindowBuffer``
(imported, not copied), so training windows are the windows the device classifies.

An input shorter than one window (a still is one frame) is padded by holding its last frame
until the buffer emits: a still becomes a window of one repeated frame. Coding-sheet items
are trimmed to their onset..offset frames first. Every window carries its input's label
and subject; windows of one input never straddle two subjects.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microemo.emotion.windows import WindowBuffer
from microemo.vision.features import FRAME_FEATURES
from microemo_train.datasets import IMAGE_EXT, Item
from microemo_train.extract import Extracted
from microemo_train.settings import WindowConfig

logger = logging.getLogger(__name__)


@dataclass
class WindowSet:
    x: np.ndarray  # (n, window_frames, len(FRAME_FEATURES)) float32
    y: np.ndarray  # (n,) int label index
    groups: np.ndarray  # (n,) subject strings
    item: np.ndarray  # (n,) index of the input each window came from
    labels: list[str]
    paths: list[str]

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            x=self.x,
            y=self.y,
            groups=self.groups,
            item=self.item,
            labels=np.array(self.labels),
            paths=np.array(self.paths),
            names=np.array(FRAME_FEATURES),
        )

    @classmethod
    def load(cls, path: Path) -> WindowSet:
        d = np.load(path)
        if list(d["names"]) != list(FRAME_FEATURES):
            raise ValueError(f"{path}: built for another feature vector; rebuild the windows")
        return cls(
            d["x"],
            d["y"],
            d["groups"],
            d["item"],
            [str(v) for v in d["labels"]],
            [str(v) for v in d["paths"]],
        )


def window_frames(cfg: WindowConfig) -> int:
    return max(1, round(cfg.window_ms * cfg.fps / 1000.0))


def to_frame_features(names: list[str], feats: np.ndarray) -> np.ndarray:
    """Re-lay a stored feature matrix in FRAME_FEATURES order (absent columns are 0)."""
    if names == list(FRAME_FEATURES):
        return feats
    out = np.zeros((len(feats), len(FRAME_FEATURES)), np.float32)
    index = {n: i for i, n in enumerate(FRAME_FEATURES)}
    for j, n in enumerate(names):
        if n in index:
            out[:, index[n]] = feats[:, j]
    return out


def frame_numbers(folder: Path) -> list[int]:
    """The numbers in a frame folder's image names, in the order the device reads them."""
    nums = []
    for p in folder.iterdir():
        if p.suffix.lower() in IMAGE_EXT:
            digits = re.findall(r"\d+", p.stem)
            nums.append(int(digits[-1]) if digits else -1)
    return sorted(nums)


def trim(
    item: Item, t_ms: np.ndarray, x: np.ndarray, index: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if item.first_frame is None and item.last_frame is None:
        return t_ms, x
    nums = np.array(frame_numbers(item.path)) if item.path.is_dir() else np.arange(10**7)
    idx = index if index is not None else np.arange(len(t_ms))
    num = nums[np.clip(idx, 0, len(nums) - 1)]
    lo = item.first_frame if item.first_frame is not None else -1
    hi = item.last_frame if item.last_frame is not None else 10**9
    keep = (num >= lo) & (num <= hi)
    return t_ms[keep], x[keep]


def item_windows(t_ms: np.ndarray, x: np.ndarray, cfg: WindowConfig) -> list[np.ndarray]:
    buf = WindowBuffer(cfg.window_ms, cfg.hop_ms, window_frames(cfg))
    out = [w for t, f in zip(t_ms, x, strict=True) if (w := buf.push(float(t), f)) is not None]
    if not out and len(t_ms):
        step = 1000.0 / cfg.fps
        t = float(t_ms[-1])
        while (w := buf.push(t := t + step, x[-1])) is None:
            pass
        out.append(w)
    return out


def build(extracted: list[Extracted], labels: list[str], cfg: WindowConfig) -> WindowSet:
    xs, ys, gs, its, paths = [], [], [], [], []
    lab_index = {lab: i for i, lab in enumerate(labels)}
    empty = []
    for k, e in enumerate(extracted):
        d = np.load(e.features)
        x = to_frame_features([str(n) for n in d["names"]], d["features"])
        t, x = trim(e.item, d["t_ms"], x, d.get("frame_index", None))
        ws = item_windows(t, x, cfg)
        if not ws:
            empty.append(str(e.item.path))
        xs += ws
        ys += [lab_index[e.item.label]] * len(ws)
        gs += [e.item.subject] * len(ws)
        its += [k] * len(ws)
        paths.append(str(e.item.path))
    if empty:
        logger.warning("%d inputs gave no face frames, e.g. %s", len(empty), empty[0])
    if not xs:
        raise ValueError("no windows: no input had a face the pipeline could track")
    n, f = len(xs), len(FRAME_FEATURES)
    return WindowSet(
        np.array(xs, np.float32).reshape(n, window_frames(cfg), f),
        np.array(ys, np.int64),
        np.array(gs),
        np.array(its, np.int64),
        list(labels),
        paths,
    )
