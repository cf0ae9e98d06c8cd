"""Per-face emotion state: the face's evidence (the appearance model's reading of the face
crop fused with the FACS prototypes over its AUs, or the prototypes alone), mixed with the
int8 CNN over sliding windows; the FACS rules give the micro-emotion and the AUs behind it.

Without an appearance model (``model.appearance = "off"``, or a frame without its picture:
recorded landmarks) the prototypes are the evidence; without a model bundle (or while a
face's first window is still filling) the evidence decides alone. Results say which
(``core_source``). A model swap is picked up at the next window boundary, never in the
middle of one.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from microemo.emotion.appearance import AppearanceReader
from microemo.emotion.fusion import Fusion
from microemo.emotion.rules import CORE_EMOTIONS, classify_aus, core_scores
from microemo.emotion.windows import WindowBuffer
from microemo.model.appearance import AppearanceModel
from microemo.model.bundle import Bundle
from microemo.types import Classification

logger = logging.getLogger(__name__)

# Without a bundle the windows still run (for the state topic and the CSV's window columns).
DEFAULT_WINDOW = {"window_ms": 1000.0, "hop_ms": 250.0, "window_frames": 16}


class EmotionClassifier:
    def __init__(
        self,
        bundle: Bundle | None = None,
        appearance: AppearanceModel | None = None,
        appearance_hz: float = 15.0,
    ) -> None:
        self.appearance = (
            None if appearance is None else AppearanceReader(appearance, appearance_hz)
        )
        self._fusion = (
            None if appearance is None else Fusion(appearance.manifest.fusion, appearance.labels)
        )
        self._lock = threading.Lock()
        self._pending: tuple[Bundle | None, Any] | None = None
        self._windows: dict[int, WindowBuffer] = {}
        self._probs: dict[int, dict[str, float]] = {}
        self._cnn: Any = None
        self.bundle: Bundle | None = None
        self._install(bundle, self._load(bundle))

    @property
    def appearance_info(self) -> dict[str, Any] | None:
        """The appearance model's name, version and sha256 (None when it is off)."""
        return None if self.appearance is None else dict(self.appearance.model.describe)

    @property
    def model_info(self) -> dict[str, Any]:
        if self.bundle is None:
            return {"name": "facs-rules", "version": "builtin", "sha256": None}
        return dict(self.bundle.describe)

    @staticmethod
    def _load(bundle: Bundle | None) -> Any:
        if bundle is None:
            return None
        from microemo.model.runner import CnnClassifier  # the TFLite runtime, on demand

        cnn = CnnClassifier(bundle)
        unknown = [lab for lab in bundle.manifest.labels if lab not in CORE_EMOTIONS]
        if unknown:
            logger.warning("model labels %s are not core emotions; reported as given", unknown)
        return cnn

    def _install(self, bundle: Bundle | None, cnn: Any) -> None:
        self._cnn, self.bundle = cnn, bundle
        self._windows.clear()
        self._probs.clear()

    def swap_model(self, bundle: Bundle | None) -> None:
        """Thread-safe; takes effect at the next window of any face. The interpreter is
        built here, in the caller's thread, so a bundle that fails to load raises to the
        updater (which rolls back) and never reaches the frame loop."""
        cnn = self._load(bundle)
        with self._lock:
            self._pending = (bundle, cnn)

    def _window_shape(self) -> dict[str, float]:
        if self.bundle is None:
            return DEFAULT_WINDOW
        m = self.bundle.manifest
        return {"window_ms": m.window_ms, "hop_ms": m.hop_ms, "window_frames": m.window_frames}

    def push(self, face_id: int, t_ms: float, features: np.ndarray) -> bool:
        """Feed one frame of one face; True when a new window was classified."""
        buf = self._windows.get(face_id)
        if buf is None:
            shape = self._window_shape()
            buf = WindowBuffer(shape["window_ms"], shape["hop_ms"], int(shape["window_frames"]))
            self._windows[face_id] = buf
        window = buf.push(t_ms, features)
        if window is None:
            return False
        if self._pending is not None:
            with self._lock:
                (bundle, cnn), self._pending = self._pending, None
            self._install(bundle, cnn)
            logger.info("model now %s", self.model_info)
            return False
        if self._cnn is not None:
            probs = self._cnn.predict(window)
            labels = self.bundle.manifest.labels if self.bundle else []
            self._probs[face_id] = {lab: float(p) for lab, p in zip(labels, probs)}
        return True

    def see(self, face_id: int, t_ms: float, image: np.ndarray, landmarks: np.ndarray) -> None:
        """The face's picture on this frame: the appearance model reads it when due."""
        if self.appearance is not None:
            self.appearance.update(face_id, t_ms, image, landmarks)

    def appearance_logp(self, face_id: int) -> np.ndarray | None:
        return None if self.appearance is None else self.appearance.logp(face_id)

    def classify(
        self,
        face_id: int,
        intensity: np.ndarray,
        trust: float = 0.0,
        appearance: np.ndarray | None = None,
    ) -> Classification:
        """The face's emotions from ``intensity``, its baseline ``trust`` (0-1) and its
        appearance reading (``appearance``, else the face's latest one)."""
        logp = self.appearance_logp(face_id) if appearance is None else appearance
        face = None
        if logp is not None and self._fusion is not None:
            face = self._fusion(logp, core_scores(intensity), trust)
        weight = self.bundle.manifest.fusion_weight if self.bundle is not None else None
        return classify_aus(intensity, self._probs.get(face_id), cnn_weight=weight, face=face)

    def forget(self, face_id: int) -> None:
        self._windows.pop(face_id, None)
        self._probs.pop(face_id, None)
        if self.appearance is not None:
            self.appearance.forget(face_id)
