"""Sliding windows over extracted per-frame features, cut by the DEVICE's ``WindowBuffer``
(imported, not copied), so training windows are the windows the device classifies.

An input shorter than one window (a still is one frame) is padded by holding its last frame
until the buffer emits: a still becomes a window of one repeated frame. Coding-sheet items
are trimmed to their onset..offset frames first. Windows of one input never straddle two
subjects.

Labels: with ``[windows] label = "input"`` every window carries its input's label (clip-level
labels, as CREMA-D's). A neutral->apex sequence (CK+, or a frame folder of neutral frames
then the expression) shows its label only at its end; with ``label = "expressive"`` a window
carries the input's label only when the frame it ends on shows the expression (its
blendshapes have moved at least ``expressive_share`` of the input's largest movement away
from the input's first 100 ms), and ``rest_label`` (``neutral``) or nothing before that. An
input that never moves (a still, an apex-only folder) keeps its label throughout.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
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
    # (n,) the label of each window's input (empty: the windows' own labels)
    input_y: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if len(self.input_y) != len(self.y):
            self.input_y = self.y.copy()

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
            input_y=self.input_y,
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
            d["input_y"] if "input_y" in d else np.zeros(0, np.int64),
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
    return [w for w, _ in ended_windows(t_ms, x, cfg)]


def ended_windows(
    t_ms: np.ndarray, x: np.ndarray, cfg: WindowConfig
) -> list[tuple[np.ndarray, int]]:
    """The device's windows over one input, each with the index of the frame it ends on."""
    buf = WindowBuffer(cfg.window_ms, cfg.hop_ms, window_frames(cfg))
    out = [
        (w, i)
        for i, (t, f) in enumerate(zip(t_ms, x, strict=True))
        if (w := buf.push(float(t), f)) is not None
    ]
    if not out and len(t_ms):
        step = 1000.0 / cfg.fps
        t = float(t_ms[-1])
        while (w := buf.push(t := t + step, x[-1])) is None:
            pass
        out.append((w, len(t_ms) - 1))
    return out


BLENDSHAPES = [i for i, n in enumerate(FRAME_FEATURES) if n.startswith("bs_")]
REST_MS = 100.0  # an input's first frames, taken as its own rest
STILL = 0.05  # blendshape movement (L2, 0-1 scores) below which an input never moves


def expressive(t_ms: np.ndarray, x: np.ndarray, share: float) -> np.ndarray:
    """Per frame: does it show the input's expression? Movement = distance of the raw
    blendshapes from their median over the input's first ``REST_MS``; a frame shows the
    expression from ``share`` of the input's largest movement. Every frame of an input
    that never moves does (a still, an apex-only folder)."""
    if not len(t_ms):
        return np.zeros(0, bool)
    bs = x[:, BLENDSHAPES]
    rest = np.median(bs[t_ms <= t_ms[0] + REST_MS], axis=0)
    move = np.linalg.norm(bs - rest, axis=1)
    peak = float(move.max())
    if peak < STILL:
        return np.ones(len(t_ms), bool)
    return np.asarray(move >= share * peak)


def window_labels(
    ends: list[int],
    t_ms: np.ndarray,
    x: np.ndarray,
    label: int,
    rest: int | None,
    cfg: WindowConfig,
) -> list[int | None]:
    """Each window's label index (None: left out), by the frame it ends on."""
    if cfg.label == "input":
        return [label] * len(ends)
    expr = expressive(t_ms, x, cfg.expressive_share)
    return [label if expr[i] else rest for i in ends]


def rest_index(labels: list[str], cfg: WindowConfig) -> int | None:
    if cfg.label == "input" or not cfg.rest_label:
        return None
    if cfg.rest_label not in labels:
        raise ValueError(
            f"[windows] rest_label {cfg.rest_label!r} is not among the labels {labels}: "
            "add it to [data] labels, or set rest_label = '' to leave those windows out"
        )
    return labels.index(cfg.rest_label)


def model_labels(found: list[str], configured: list[str], cfg: WindowConfig) -> list[str]:
    """The model's labels: ``[data] labels`` as given, else the labels found plus the
    rest label when windows before the expression get one."""
    if configured:
        return list(configured)
    return sorted(set(found) | set(cfg.produced_labels()))


def build(extracted: list[Extracted], labels: list[str], cfg: WindowConfig) -> WindowSet:
    xs, ys, iys, gs, its, paths = [], [], [], [], [], []
    lab_index = {lab: i for i, lab in enumerate(labels)}
    rest = rest_index(labels, cfg)
    empty = []
    for k, e in enumerate(extracted):
        d = np.load(e.features)
        x = to_frame_features([str(n) for n in d["names"]], d["features"])
        t, x = trim(e.item, d["t_ms"], x, d.get("frame_index", None))
        ws = ended_windows(t, x, cfg)
        if not ws:
            empty.append(str(e.item.path))
        own = lab_index[e.item.label]
        for (w, _), lab in zip(ws, window_labels([i for _, i in ws], t, x, own, rest, cfg)):
            if lab is None:
                continue
            xs.append(w)
            ys.append(lab)
            iys.append(own)
            gs.append(e.item.subject)
            its.append(k)
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
        np.array(iys, np.int64),
    )
