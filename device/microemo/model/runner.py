"""The device-side runner of a bundle's int8 TFLite CNN over one window of frame features.

The interpreter comes from ``ai_edge_litert`` (LiteRT), else ``tflite_runtime``, else
TensorFlow Lite: imported on first use, in one place, so a device without TensorFlow starts.
Column selection is by feature NAME from the manifest, so a bundle trained on an older or
newer feature vector either maps cleanly or is refused with a ``BundleError``; never silently
shifted. Output probabilities are in ``manifest.labels`` order.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from microemo.model.bundle import Bundle, BundleError
from microemo.vision.features import columns

logger = logging.getLogger(__name__)


def interpreter_class() -> tuple[Any, str]:
    """The first TFLite interpreter available here, and the package it came from."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite_runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter, "tensorflow"
    except ImportError as exc:
        raise BundleError(
            "no TFLite interpreter: install ai-edge-litert (or tflite-runtime) on this device"
        ) from exc


def feature_columns(wanted: list[str], available: tuple[str, ...] | list[str]) -> np.ndarray:
    """Indices of ``wanted`` names in ``available``; BundleError naming any unknown one."""
    try:
        return columns(wanted, available)
    except KeyError as exc:
        raise BundleError(
            f"bundle needs a per-frame feature this device does not compute: {exc.args[0]}; "
            "update the device software or retrain on its feature vector"
        ) from None


class CnnClassifier:
    """Core-emotion probabilities for one window of per-frame features.

    ``predict`` takes the (window_frames, len(FRAME_FEATURES)) window of ``WindowBuffer``.
    Not thread-safe: one classifier per frame loop.
    """

    def __init__(self, bundle: Bundle, feature_names: tuple[str, ...] | None = None) -> None:
        if feature_names is None:
            from microemo.vision.features import FRAME_FEATURES

            feature_names = tuple(FRAME_FEATURES)
        m = bundle.manifest
        self.bundle = bundle
        self.labels: list[str] = list(m.labels)
        self.window_frames = m.window_frames
        self.columns = feature_columns(m.features, feature_names)
        self.n_features = len(feature_names)
        self.mean = np.asarray(m.norm_mean, dtype=np.float32)
        std = np.asarray(m.norm_std, dtype=np.float32)
        self.inv_std = np.where(std > 1e-6, 1.0 / np.maximum(std, 1e-6), 1.0).astype(np.float32)
        cls, self.runtime = interpreter_class()
        try:
            self.interpreter = cls(model_content=bundle.model_bytes, num_threads=1)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BundleError(
                f"{bundle.path}: {m.model_file} is not a usable TFLite model: {exc}"
            ) from exc
        inp = self.interpreter.get_input_details()[0]
        out = self.interpreter.get_output_details()[0]
        self._check(inp, out)
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype = inp["dtype"]
        self._in_scale, self._in_zero = inp["quantization"]
        self._out_scale, self._out_zero = out["quantization"]
        logger.info(
            "model %s %s loaded (%s, %d features)",
            m.name,
            m.version,
            self.runtime,
            len(self.columns),
        )

    def _check(self, inp: dict[str, Any], out: dict[str, Any]) -> None:
        m = self.bundle.manifest
        want = (1, m.window_frames, len(m.features))
        if tuple(int(v) for v in inp["shape"]) != want:
            raise BundleError(
                f"{self.bundle.path}: model input shape {list(inp['shape'])} "
                f"does not match the manifest's {list(want)}"
            )
        if int(out["shape"][-1]) != len(m.labels):
            raise BundleError(
                f"{self.bundle.path}: model has {int(out['shape'][-1])} outputs, "
                f"the manifest {len(m.labels)} labels"
            )

    def predict(self, window: np.ndarray) -> np.ndarray:
        """Probabilities (len(labels),) float32, summing to 1, in ``labels`` order."""
        if window.shape != (self.window_frames, self.n_features):
            raise ValueError(
                f"window shape {window.shape}, expected {(self.window_frames, self.n_features)}"
            )
        x = np.nan_to_num((window[:, self.columns] - self.mean) * self.inv_std)
        if self._in_scale:
            x = np.clip(np.rint(x / self._in_scale + self._in_zero), -128, 127)
        self.interpreter.set_tensor(self._in_index, x[None].astype(self._in_dtype))
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out_index)[0].astype(np.float32)
        if self._out_scale:
            y = (y - self._out_zero) * self._out_scale
        e = np.exp(y - y.max())
        return (e / e.sum()).astype(np.float32)
