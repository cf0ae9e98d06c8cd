"""Training the appearance CNN on face crops: class-weighted, label-smoothed cross-entropy,
AdamW with a cosine schedule, fresh augmentation every epoch, batch-norm statistics
re-estimated at the end (``net.precise_bn``); then int8 and its parity with the float model.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from microemo_train.appearance.net import augment, build, precise_bn, standardize

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 30
    batch: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    width: float = 1.0
    class_weight_power: float = 0.5  # 0: none, 1: inverse frequency
    seed: int = 0
    degraded: float = 0.0  # share of faces shown as a poorer camera takes them (net.degrade)
    glasses: float = 0.0  # share of faces shown wearing glasses (net.wear_glasses)


def class_weights(y: np.ndarray, n: int, power: float) -> np.ndarray:
    """Per class, (largest class / this class) ** power, scaled to a mean of 1 per still."""
    counts = np.maximum(np.bincount(y, minlength=n), 1)
    w = (counts.max() / counts) ** power
    return w / (w * counts).sum() * counts.sum()


def train_cnn(
    crops: np.ndarray, y: np.ndarray, n_classes: int, st: TrainSettings, std_floor: float
) -> Any:
    """The fitted Keras model (float), logits over ``n_classes``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(st.seed)
    model = build(n_classes, crops.shape[1], st.width)
    steps = st.epochs * int(np.ceil(len(crops) / st.batch))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=st.learning_rate, warmup_steps=min(300, steps // 10)
    )
    return _fit(model, schedule, crops, y, n_classes, st, std_floor)


def fine_tune(
    model: Any, crops: np.ndarray, y: np.ndarray, st: TrainSettings, std_floor: float
) -> Any:
    """``model`` (trained on the same classes) trained ``st.epochs`` more, its learning rate
    falling from ``st.learning_rate`` to 0 without a warm-up: e.g. a few epochs at a tenth of
    the first training's rate with ``st.degraded`` faces, to read poorer cameras better
    without forgetting what it learned."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(st.seed)
    steps = st.epochs * int(np.ceil(len(crops) / st.batch))
    schedule = keras.optimizers.schedules.CosineDecay(st.learning_rate, steps)
    return _fit(model, schedule, crops, y, int(model.output_shape[-1]), st, std_floor)


def _fit(
    model: Any,
    schedule: Any,
    crops: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    st: TrainSettings,
    std_floor: float,
) -> Any:
    """AdamW on ``schedule``, fresh augmentation every epoch, class weights, label smoothing;
    batch-norm statistics re-estimated at the end (``precise_bn``)."""
    import keras
    from tqdm import tqdm

    rng = np.random.default_rng(st.seed)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=st.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=st.label_smoothing
        ),
        metrics=["accuracy"],
    )
    weight = class_weights(y, n_classes, st.class_weight_power)[y].astype(np.float32)
    target = np.eye(n_classes, dtype=np.float32)[y]
    with tqdm(range(st.epochs), desc="train", unit="epoch") as bar:
        for _ in bar:
            h = model.fit(
                augment(crops, rng, std_floor, st.degraded, st.glasses),
                target,
                sample_weight=weight,
                batch_size=st.batch,
                epochs=1,
                verbose=0,
                shuffle=True,
            )
            bar.set_postfix(
                loss=f"{h.history['loss'][-1]:.3f}", acc=f"{h.history['accuracy'][-1]:.3f}"
            )
    precise_bn(model, standardize(crops, std_floor))
    return model


def logits(model: Any, crops: np.ndarray, std_floor: float) -> np.ndarray:
    return np.asarray(model.predict(standardize(crops, std_floor), batch_size=512, verbose=0))


def to_int8(model: Any, representative: np.ndarray, std_floor: float) -> bytes:
    """The model as int8 TFLite, calibrated on ``representative`` crops."""
    from microemo_train.quantize import convert_int8

    return convert_int8(model, standardize(representative, std_floor))


def int8_logits(data: bytes, crops: np.ndarray, std_floor: float) -> np.ndarray:
    from microemo_train.quantize import run_int8

    return run_int8(data, standardize(crops, std_floor))


def int8_log_probs(
    data: bytes, crops: np.ndarray, std_floor: float, flips: tuple[bool, ...]
) -> np.ndarray:
    """Log-probabilities as the device reads them (``AppearanceModel.log_probs``, with its own
    ``read_views``): ``crops`` (n, views, size, size), every view read and, where ``flips``
    says, its mirror image too, the readings' probabilities averaged."""
    from microemo.model.appearance import log_softmax, read_views

    if crops.shape[1] != len(flips):
        raise ValueError(f"{crops.shape[1]} views of crops, {len(flips)} flips")
    views = [np.ascontiguousarray(crops[:, k]) for k in range(crops.shape[1])]
    return read_views(lambda c: log_softmax(int8_logits(data, c, std_floor)), views, flips)
