"""The appearance CNN: a small residual network of separable convolutions on the 48 px grey
face crop (about 190k weights, 15M multiply-adds; int8 about 0.3 ms a face here), and the
augmentation it is trained with.

Batch normalisation's moving statistics lag a network whose weights still move fast, and a
model read with them can answer one class for every face: ``precise_bn`` re-estimates them
under the final weights before the model is evaluated or converted.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import cv2
import numpy as np


def _block(x: Any, filters: int, name: str) -> Any:
    from keras import layers

    r = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False, name=f"{name}_res")(x)
    r = layers.BatchNormalization(name=f"{name}_resbn")(r)
    for i in (1, 2):
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_s{i}")(
            x
        )
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        if i == 1:
            x = layers.ReLU(name=f"{name}_r1")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, r]))


def build(n_classes: int, size: int = 48, width: float = 1.0) -> Any:
    import keras
    from keras import layers

    def w(c: int) -> int:
        return max(8, int(c * width))

    inp = keras.Input((size, size, 1), name="face")
    x = layers.Conv2D(w(16), 3, padding="same", use_bias=False, name="c1")(inp)
    x = layers.ReLU(name="r1")(layers.BatchNormalization(name="bn1")(x))
    x = layers.Conv2D(w(32), 3, strides=2, padding="same", use_bias=False, name="c2")(x)
    x = layers.ReLU(name="r2")(layers.BatchNormalization(name="bn2")(x))
    for i, f in enumerate((64, 128, 256)):
        x = _block(x, w(f), f"b{i}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.4, name="drop")(x)
    return keras.Model(inp, layers.Dense(n_classes, name="logits")(x))


def standardize(crops: np.ndarray, std_floor: float) -> np.ndarray:
    """(n, s, s) grey crops -> (n, s, s, 1) float32, each at zero mean and unit contrast: what
    ``model.appearance.AppearanceModel.standardize`` does on the device, one crop at a time."""
    x = crops.astype(np.float32)
    m = x.mean(axis=(1, 2), keepdims=True)
    s = x.std(axis=(1, 2), keepdims=True)
    return ((x - m) / np.maximum(s, std_floor))[..., None]


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One poorer camera's picture of a (s, s) uint8 face: a dim, low-contrast exposure, a soft
    lens, a lower resolution, sensor noise or strong JPEG, one of them drawn at random."""
    s = img.shape[0]
    kind = int(rng.integers(5))
    if kind == 0:  # dim: a darker gamma and gain, then back to 8 bits (the levels it loses)
        x = 255.0 * (img / 255.0) ** rng.uniform(1.2, 1.8) * rng.uniform(0.35, 0.8)
        return np.round(x).astype(np.uint8)
    if kind == 1:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.2))
    if kind == 2:
        small = int(rng.integers(s // 3, (3 * s) // 4))
        shrunk = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.resize(shrunk, (s, s), interpolation=cv2.INTER_LINEAR))
    if kind == 3:
        noisy = img + rng.normal(0.0, rng.uniform(3.0, 10.0), img.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    quality = int(rng.integers(15, 50))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
    return img if decoded is None else np.asarray(decoded)


@cache
def _crop_face_points() -> np.ndarray:
    """Where the 48 px crop template puts the face's landmarks, as ``glasses.draw`` reads
    them (once: every training crop is aligned to the same template)."""
    from microemo.vision.face_crop import CROP_POINTS, CROP_TEMPLATE
    from microemo_train.glasses import template_points

    return template_points(CROP_POINTS, CROP_TEMPLATE)


def wear_glasses(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (s, s) uint8 aligned face crop wearing glasses drawn where the crop template puts
    its eyes (``microemo_train.glasses``): clear half of the time, else lenses stopping 50-95 %
    of the light; lenses 0.85-1.15 times the usual size."""
    from microemo_train.glasses import draw

    points = _crop_face_points() * (img.shape[0] / 48.0)
    tint = 0.0 if rng.random() < 0.5 else float(rng.uniform(0.5, 0.95))
    return draw(img, points, tint, lens=float(rng.uniform(0.85, 1.15)))


def augment(
    crops: np.ndarray,
    rng: np.random.Generator,
    std_floor: float,
    degraded: float = 0.0,
    glasses: float = 0.0,
) -> np.ndarray:
    """Random flips, small rotations, zooms and shifts, lighting (gamma, contrast,
    brightness) and an occluding patch on a quarter of the faces; with ``degraded`` > 0, that
    share of the faces as a poorer camera would take them (``degrade``); with ``glasses`` > 0,
    that share wearing glasses or sunglasses (``wear_glasses``); standardised. With both 0
    the random draws are exactly those of a network trained before either existed."""
    n, s = len(crops), crops.shape[1]
    out = np.empty(crops.shape, np.float32)
    angle = rng.uniform(-10, 10, n)
    zoom = rng.uniform(0.9, 1.1, n)
    shift = rng.uniform(-0.06, 0.06, (n, 2)) * s
    flip = rng.random(n) < 0.5
    gamma = rng.uniform(0.8, 1.25, n)
    contrast = rng.uniform(0.7, 1.3, n)
    bright = rng.uniform(-25, 25, n)
    c = (s - 1) / 2.0
    for i in range(n):
        m = cv2.getRotationMatrix2D((c, c), angle[i], zoom[i])
        m[:, 2] += shift[i]
        face = wear_glasses(crops[i], rng) if glasses and rng.random() < glasses else crops[i]
        img = cv2.warpAffine(face, m, (s, s), borderMode=cv2.BORDER_REPLICATE)
        if degraded and rng.random() < degraded:
            img = degrade(img, rng)
        x = (img[:, ::-1] if flip[i] else img).astype(np.float32)
        x = 255.0 * (x / 255.0) ** gamma[i]
        out[i] = (x - x.mean()) * contrast[i] + x.mean() + bright[i]
    for k in map(int, np.flatnonzero(rng.random(n) < 0.25)):
        h, w = (int(v) for v in rng.integers(s // 6, int(s / 2.4), 2))
        y0, x0 = int(rng.integers(0, s - h)), int(rng.integers(0, s - w))
        out[k, y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255)
    return standardize(out, std_floor)


def precise_bn(model: Any, x: np.ndarray, batch: int = 256, steps: int = 80) -> None:
    """Every BatchNormalization's moving mean and variance re-estimated as the plain average
    over ``steps`` batches of ``x`` under the model's current weights."""
    from keras import layers

    bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    momentum = [layer.momentum for layer in bns]
    rng = np.random.default_rng(0)
    for layer in bns:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
        layer.moving_variance.assign(np.zeros(layer.moving_variance.shape, "float32"))
    for i in range(steps):
        for layer in bns:
            layer.momentum = i / (i + 1.0)
        model(x[rng.choice(len(x), min(batch, len(x)), replace=False)], training=True)
    for layer, m in zip(bns, momentum):
        layer.momentum = m


def average(models: list[Any]) -> Any:
    """One model reading a crop with every one of ``models`` (trained alike from other random
    starts) and answering the mean of their log-probabilities: read by the device exactly as
    one network (its output goes through the same log-softmax, which leaves log-probabilities
    as they are), at the cost of all of them."""
    import keras
    from keras import layers

    if len(models) == 1:
        return models[0]
    inp = keras.Input(models[0].input_shape[1:], name="face")
    outs = []
    for k, m in enumerate(models):
        m.name = f"member{k}"  # nested models need names of their own
        outs.append(layers.Activation(keras.activations.log_softmax, name=f"logp{k}")(m(inp)))
    return keras.Model(inp, layers.Average(name="logits")(outs))
