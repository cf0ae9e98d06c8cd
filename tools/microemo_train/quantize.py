"""``microemo-train quantize``: full-integer (int8) post-training quantization of the fitted
CNN with the TFLite converter, calibrated on a representative set of normalised training
windows, then float-vs-int8 parity on the held-out subjects' windows, printed and stored
(aim: >= 98 % agreement, <= 1 point of accuracy lost).
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from microemo_train import logs, settings
from microemo_train.fit import Norm, select_columns
from microemo_train.select import load_windows, read_selection

logger = logging.getLogger(__name__)

MIN_REPRESENTATIVE = 100


def convert_int8(model: Any, representative: np.ndarray) -> bytes:
    """int8 in, int8 out, int8 kernels only; ``representative`` is normalised windows."""
    import tensorflow as tf

    if len(representative) < MIN_REPRESENTATIVE:
        warnings.warn(
            f"only {len(representative)} representative windows for int8 calibration "
            f"(want >= {MIN_REPRESENTATIVE}): activation ranges may be off",
            stacklevel=2,
        )

    def gen() -> Any:
        for w in representative:
            yield [w[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with logs.chatter_to_debug("the TFLite converter"):
        return bytes(converter.convert())


def run_int8(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Dequantised logits of a quantised model for normalised windows ``x``."""
    from microemo.model.runner import interpreter_class

    cls, _ = interpreter_class()
    it = cls(model_content=model_bytes, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    s_in, z_in = inp["quantization"]
    s_out, z_out = out["quantization"]
    res = np.zeros((len(x), int(out["shape"][-1])), np.float32)
    for i, w in enumerate(x):
        it.set_tensor(
            inp["index"], np.clip(np.rint(w / s_in + z_in), -128, 127)[None].astype(np.int8)
        )
        it.invoke()
        res[i] = (it.get_tensor(out["index"])[0].astype(np.float32) - z_out) * s_out
    return res


def parity(float_logits: np.ndarray, int8_logits: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    pf, pq = float_logits.argmax(1), int8_logits.argmax(1)
    acc_f, acc_q = float((pf == y).mean()), float((pq == y).mean())
    return {
        "windows": len(y),
        "agreement": float((pf == pq).mean()),
        "accuracy_float": acc_f,
        "accuracy_int8": acc_q,
        "accuracy_delta": acc_q - acc_f,
    }


def run_step(cfg: settings.TrainConfig) -> dict[str, Any]:
    import keras

    wd = cfg.workdir
    ws, names = load_windows(cfg), read_selection(wd)
    model = keras.models.load_model(wd / "model.keras")
    f = np.load(wd / "fit.npz")
    norm = Norm(f["mean"], f["std"])
    held = np.isin(ws.groups, f["holdout"])
    x = norm.apply(select_columns(ws, names))
    rng = np.random.default_rng(cfg.fit.seed)
    train_idx = np.flatnonzero(~held)
    rep = x[rng.permutation(train_idx)[: cfg.quantize.representative]]
    tflite = convert_int8(model, rep)
    (wd / "model.tflite").write_bytes(tflite)
    test = held if held.any() else ~held
    p = parity(model.predict(x[test], verbose=0), run_int8(tflite, x[test]), ws.y[test])
    p["on"] = "held-out subjects" if held.any() else "training windows (no held-out subjects)"
    p["representative"] = len(rep)
    (wd / "parity.json").write_text(json.dumps(p, indent=1))
    print(
        f"int8 model {len(tflite)} bytes; parity on {p['windows']} {p['on']} windows: "
        f"agreement {100 * p['agreement']:.1f} %, accuracy float {p['accuracy_float']:.3f} "
        f"int8 {p['accuracy_int8']:.3f} (delta {100 * p['accuracy_delta']:+.1f} points)"
    )
    if p["agreement"] < 0.98 or p["accuracy_delta"] < -0.01:
        logger.warning("int8 parity below target (98 % agreement, <= 1 point lost)")
    return p


def read_parity(workdir: Path) -> dict[str, Any]:
    return dict(json.loads((workdir / "parity.json").read_text()))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="int8 post-training quantization and parity check")
    settings.add_config_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_step(settings.from_args(args))
    return 0
