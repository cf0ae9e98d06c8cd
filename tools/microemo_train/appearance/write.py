"""The model folder the device reads: ``appearance.tflite`` and ``appearance.json``, the
manifest validated by the device's own model of it before it is written."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from microemo.model.appearance import MANIFEST, AppearanceManifest, CropModel, FusionSpec
from microemo.model.bundle import TensorSpec


def _spec(detail: dict[str, Any]) -> TensorSpec:
    scale, zero = detail["quantization"]
    return TensorSpec(
        shape=[int(v) for v in detail["shape"]],
        dtype=str(detail["dtype"].__name__),
        scale=float(scale),
        zero_point=int(zero),
    )


# What a runtime must know to read a model folder right; older runtimes refuse it by
# min_runtime with a message saying so (``model.appearance.read_appearance``).
BASE_RUNTIME = "0.2.0"  # the first with appearance models
SLOPE_RUNTIME = "0.2.1"  # a temperature that follows the margin (``temperature_slope``)


def min_runtime(fusion: FusionSpec) -> str:
    """The oldest runtime that reads a model with this fusion as it was fitted."""
    return SLOPE_RUNTIME if fusion.temperature_slope else BASE_RUNTIME


def write_folder(
    out: Path,
    tflite: bytes,
    labels: list[str],
    fusion: FusionSpec,
    metrics: dict[str, Any],
    source: dict[str, Any],
    name: str,
    version: str,
    crop: CropModel,
) -> Path:
    from microemo.model.runner import interpreter_class

    cls, _ = interpreter_class()
    it = cls(model_content=tflite)
    it.allocate_tensors()
    manifest = AppearanceManifest(
        name=name,
        version=version,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        labels=labels,
        crop=crop,
        files={"appearance.tflite": hashlib.sha256(tflite).hexdigest()},
        input=_spec(it.get_input_details()[0]),
        output=_spec(it.get_output_details()[0]),
        fusion=fusion,
        metrics=metrics,
        source=source,
        min_runtime=min_runtime(fusion),
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "appearance.tflite").write_bytes(tflite)
    # a fusion with one temperature stays readable by runtimes before its slope existed
    skip = None if fusion.temperature_slope else {"fusion": {"temperature_slope"}}
    text = json.dumps(manifest.model_dump(mode="json", exclude=skip), indent=1)
    (out / MANIFEST).write_text(text + "\n")
    return out
