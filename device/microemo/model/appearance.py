"""The appearance model: an int8 TFLite CNN that reads a core emotion from the aligned grey
face crop (``vision.face_crop``), where landmarks alone cannot tell (a smile in a 48-pixel
face, a resting face unlike the ones the AU calibration was fitted on).

It travels as a folder with ``appearance.json`` (its manifest: labels, the crop it was trained
on, input and output quantization, the model file's sha256, how its reading is fused with the
AU evidence, the data it was trained on and its figures) and the ``.tflite`` file. The built-in
one lives in this package (``appearance/``); ``model.appearance`` points to another folder, or
``"off"``. A folder whose file does not match its manifest is refused with the reason.

Only the crop goes in and only class scores come out; nothing of the face leaves the device.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from microemo.model.bundle import BundleError, TensorSpec, refuse_newer
from microemo.vision.face_crop import CENTRED, CropSpec, CropView, aligned_crops

logger = logging.getLogger(__name__)

FORMAT = "microemo.appearance/1"
MANIFEST = "appearance.json"
BUILTIN = "builtin"


class ViewModel(BaseModel):
    """One more view of the face the model reads (``vision.face_crop.CropView``)."""

    model_config = ConfigDict(extra="forbid")
    dx: float = Field(0.0, ge=-8, le=8, description="template moved right, crop pixels")
    dy: float = Field(0.0, ge=-8, le=8, description="template moved down, crop pixels")
    scale: float = Field(1.0, ge=0.5, le=2.0, description="template scaled about its centre")
    mirror: bool = Field(False, description="read this view's mirror image too")


class CropModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=16, le=256)
    points: list[int] = Field(min_length=2, description="landmark indices the crop aligns")
    template: list[tuple[float, float]] = Field(description="where they go in the crop")
    std_floor: float = Field(
        10.0,
        gt=0,
        description="grey levels: contrast is divided by "
        "max(std, this), so a flat crop is not blown up to noise",
    )
    mirror: bool = Field(
        False,
        description="read the crop and its mirror image and average their probabilities "
        "(the template is symmetric: the two sides of the face count alike; twice the CNN)",
    )
    views: list[ViewModel] = Field(
        default_factory=list,
        description="more views read besides the template's own, every reading's "
        "probabilities averaged alike (one more CNN pass each, two with its mirror)",
    )

    def spec(self) -> CropSpec:
        return CropSpec(self.size, tuple(self.points), tuple(self.template))

    def crop_views(self) -> tuple[CropView, ...]:
        """The views a face is cut through: the template's own first."""
        return CENTRED + tuple(CropView(v.dx, v.dy, v.scale) for v in self.views)

    def flips(self) -> tuple[bool, ...]:
        """Per view (``crop_views``): whether its mirror image is read too."""
        return (self.mirror, *(v.mirror for v in self.views))


class FusionSpec(BaseModel):
    """How the appearance reading and the AU evidence make one core emotion: a softmax of
    ``weights @ inputs + bias`` over ``classes``, divided by a temperature. Inputs are named
    log-probabilities: ``app:<label>`` (this model), ``au:<class>`` (the FACS prototypes over
    the AU intensities) and ``trust*au:<class>`` (the same, times how far the face's own
    neutral baseline is trusted: 0 on a first glance or a photo, towards 1 once it has been
    seen at rest). The temperature is ``temperature * exp(temperature_slope * margin)``, the
    margin the top logit less the next: with a slope below 0 a clear reading is sharpened
    more than a close one (never less, so a score still rises with the margin); 0 is one
    temperature for every face. Neither can change which class is on top."""

    model_config = ConfigDict(extra="forbid")
    classes: list[str] = Field(min_length=2)
    inputs: list[str] = Field(min_length=1)
    weights: list[list[float]]
    bias: list[float]
    temperature: float = Field(1.0, gt=0)
    temperature_slope: float = Field(
        0.0, ge=-2.0, le=0.0, description="per unit of the top logits' margin (log scale)"
    )

    @model_validator(mode="after")
    def _shapes(self) -> FusionSpec:
        n, k = len(self.classes), len(self.inputs)
        if len(self.bias) != n or len(self.weights) != n or any(len(r) != k for r in self.weights):
            raise ValueError(f"fusion: weights must be {n} rows of {k}, bias {n} numbers")
        for name in self.inputs:
            kind = name.split(":", 1)[0]
            if kind not in ("app", "au", "trust*au") or ":" not in name:
                raise ValueError(f"fusion input {name!r}: use app:X, au:X or trust*au:X")
        return self


class AppearanceManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str = FORMAT
    name: str = Field(min_length=1, max_length=64)
    version: str
    created: str = ""
    labels: list[str] = Field(min_length=2, description="output classes in model order")
    crop: CropModel
    model_file: str = "appearance.tflite"
    files: dict[str, str] = Field(description="file name -> sha256")
    input: TensorSpec
    output: TensorSpec
    fusion: FusionSpec
    metrics: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict, description="data, licence, commit")
    min_runtime: str = "0.3.0"

    @model_validator(mode="after")
    def _known(self) -> AppearanceManifest:
        if self.format != FORMAT:
            raise ValueError(f"format {self.format!r}; this runtime reads {FORMAT}")
        if self.model_file not in self.files:
            raise ValueError(f"files does not pin the model file {self.model_file!r}")
        missing = [
            n for n in self.fusion.inputs if n.startswith("app:") and n[4:] not in self.labels
        ]
        if missing:
            raise ValueError(f"fusion input {missing[0]!r} is not one of the labels")
        return self


def appearance_dir(setting: str) -> Path | None:
    """The folder ``model.appearance`` names: the built-in one, another, or None (off)."""
    if setting == "off":
        return None
    if setting == BUILTIN:
        return Path(str(resources.files("microemo.model").joinpath("appearance")))
    folder = Path(setting).expanduser()
    if not folder.is_dir():
        raise BundleError(
            f"{setting!r} is not a folder: give a folder written by microemo-train appearance, "
            f'"{BUILTIN}" or "off"'
        )
    return folder


class AppearanceFiles(NamedTuple):
    """An appearance model folder, read and verified (``read_appearance``)."""

    manifest: AppearanceManifest
    data: bytes  # the TFLite model
    manifest_sha256: str  # tells apart two models that share a network (a refit's fusion)


def read_appearance(folder: Path) -> AppearanceFiles:
    """The manifest and the model's bytes, verified; ``BundleError`` naming what is wrong."""
    path = folder / MANIFEST
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise BundleError(
            f"{path}: cannot read the appearance model's manifest ({exc.strerror}); point "
            "model.appearance at a folder written by microemo-train appearance, or set it to "
            '"off"'
        ) from None
    refuse_newer(path, text, "point model.appearance at a model made for it")
    try:
        manifest = AppearanceManifest.model_validate_json(text)
    except ValidationError as exc:
        raise BundleError(f"{path}: invalid appearance manifest: {exc}") from None
    model = folder / manifest.model_file
    try:
        data = model.read_bytes()
    except OSError as exc:
        raise BundleError(
            f"{model}: listed in {MANIFEST} but unreadable ({exc.strerror})"
        ) from None
    got = hashlib.sha256(data).hexdigest()
    if got != manifest.files[manifest.model_file]:
        raise BundleError(f"{model}: sha256 {got} does not match {MANIFEST}'s")
    return AppearanceFiles(manifest, data, hashlib.sha256(text).hexdigest())


class AppearanceModel:
    """Class log-probabilities from one face crop. Not thread-safe: one per frame loop."""

    def __init__(self, folder: Path) -> None:
        from microemo.model.runner import interpreter_class

        self.folder = folder
        self.manifest, data, self.manifest_sha256 = read_appearance(folder)
        self.labels = list(self.manifest.labels)
        self.crop_spec = self.manifest.crop.spec()
        self.views = self.manifest.crop.crop_views()
        self.flips = self.manifest.crop.flips()
        self.std_floor = self.manifest.crop.std_floor
        cls, self.runtime = interpreter_class()
        try:
            self.interpreter = cls(model_content=data, num_threads=1)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{folder}: not a usable TFLite model: {exc}") from None
        inp = self.interpreter.get_input_details()[0]
        out = self.interpreter.get_output_details()[0]
        size = self.crop_spec.size
        if tuple(int(v) for v in inp["shape"]) != (1, size, size, 1):
            raise BundleError(f"{folder}: model input {list(inp['shape'])} is not a {size} px crop")
        if int(out["shape"][-1]) != len(self.labels):
            raise BundleError(
                f"{folder}: {int(out['shape'][-1])} outputs for {len(self.labels)} labels"
            )
        self._in, self._out = inp["index"], out["index"]
        self._in_dtype = inp["dtype"]
        self._in_q, self._out_q = inp["quantization"], out["quantization"]
        logger.info(
            "appearance model %s %s loaded (%s)",
            self.manifest.name,
            self.manifest.version,
            self.runtime,
        )

    @property
    def describe(self) -> dict[str, str]:
        """Which model: name, version, the network's sha256 and the manifest's (a refit keeps
        the network and changes only the manifest's fusion)."""
        m = self.manifest
        return {
            "name": m.name,
            "version": m.version,
            "sha256": m.files[m.model_file],
            "manifest_sha256": self.manifest_sha256,
        }

    def crop(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The face's crops through the model's views: (views, size, size) uint8."""
        return aligned_crops(image, landmarks, self.crop_spec, self.views)

    def standardize(self, crop: np.ndarray) -> np.ndarray:
        """The crop as the model was trained to see it: zero mean, unit contrast."""
        x = crop.astype(np.float32)
        return (x - x.mean()) / max(float(x.std()), self.std_floor)

    def log_probs(self, crops: np.ndarray) -> np.ndarray:
        """(len(labels),) log-probabilities of the face in ``crops`` (``crop``'s stack, or
        one square crop for a model with one view): every view read, with its mirror image
        where the manifest says so, their probabilities averaged."""
        if crops.ndim == 2:
            crops = crops[None]
        if len(crops) != len(self.views):
            raise ValueError(f"{len(crops)} crops for a model that reads {len(self.views)} views")
        return read_views(self._log_probs, list(crops), self.flips)

    def _log_probs(self, crop: np.ndarray) -> np.ndarray:
        x = self.standardize(crop)[None, :, :, None]
        scale, zero = self._in_q
        if scale:
            x = np.clip(np.rint(x / scale + zero), -128, 127)
        self.interpreter.set_tensor(self._in, x.astype(self._in_dtype))
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out)[0].astype(np.float32)
        scale, zero = self._out_q
        if scale:
            y = (y - zero) * scale
        return log_softmax(y)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Log-probabilities from the model's outputs, along the last axis (one crop or many:
    the training tool reads its test crops in batches exactly as the device reads one)."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def read_views(
    read: Callable[[np.ndarray], np.ndarray], views: list[np.ndarray], flips: tuple[bool, ...]
) -> np.ndarray:
    """A face's reading through a model's views: each view's crop (or, in the training tool,
    a batch of them) read, and its mirror image where ``flips`` says, every reading's
    probabilities averaged (``mean_reading``). ``read``: crops -> log-probabilities."""
    readings = []
    for crop, flip in zip(views, flips, strict=True):
        readings.append(read(crop))
        if flip:
            readings.append(read(np.ascontiguousarray(crop[..., ::-1])))
    return mean_reading(readings)


def mean_reading(readings: list[np.ndarray]) -> np.ndarray:
    """The log of the mean of several readings' probabilities (a face's views and mirror
    images), each a log-probability array of the same shape."""
    if len(readings) == 1:
        return readings[0]
    stack = np.stack(readings)
    top = stack.max(axis=0)
    return top + np.log(np.exp(stack - top).mean(axis=0))


def load_appearance(setting: str) -> AppearanceModel | None:
    """The model ``model.appearance`` names (None when it is ``"off"``)."""
    folder = appearance_dir(setting)
    return None if folder is None else AppearanceModel(folder)
