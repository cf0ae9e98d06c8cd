"""Real bundles for the update tests (fixtures in conftest.py): tiny Keras CNNs converted
to int8 TFLite, real manifests, self-tests computed by the device's own runner, ed25519
signatures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

from microemo.config import Config, parse_config
from microemo.model.bundle import Manifest, TensorSpec, load_bundle, sha256_bytes
from microemo.model.runner import CnnClassifier
from microemo.vision.features import FRAME_FEATURES
from microemo_train.signing import generate_keypair, sign_bundle

FEATURES = ["AU04", "AU06", "AU12", "AU15"]
LABELS = ["neutral", "happy", "sad"]
FRAMES = 8


def _int8_model(seed: int) -> bytes:
    import keras

    from microemo_train.quantize import convert_int8

    keras.utils.set_random_seed(seed)
    inp = keras.Input((FRAMES, len(FEATURES)))
    h = keras.layers.Conv1D(4, 3, padding="same", activation="relu")(inp)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inp, keras.layers.Dense(len(LABELS))(h))
    rng = np.random.default_rng(seed)
    windows = rng.normal(size=(32, FRAMES, len(FEATURES))).astype(np.float32)
    with warnings.catch_warnings():  # 32 calibration windows is plenty for a test model
        warnings.simplefilter("ignore")
        return convert_int8(model, windows)


def _specs(model_bytes: bytes) -> tuple[TensorSpec, TensorSpec]:
    from microemo.model.runner import interpreter_class

    cls, _ = interpreter_class()
    it = cls(model_content=model_bytes)
    it.allocate_tensors()
    out = []
    for d in (it.get_input_details()[0], it.get_output_details()[0]):
        s, z = d["quantization"]
        out.append(
            TensorSpec(
                shape=[int(v) for v in d["shape"]],
                dtype=str(np.dtype(d["dtype"])),
                scale=float(s),
                zero_point=int(z),
            )
        )
    return out[0], out[1]


def windows(n: int = 4, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(1.0, 1.0, size=(n, FRAMES, len(FRAME_FEATURES))).astype(np.float32)


def write_bundle(
    out: Path,
    model_bytes: bytes,
    version: str,
    key: Path | None,
    *,
    name: str = "test-core",
    break_selftest: bool = False,
    padding: int = 0,
) -> Path:
    """A complete bundle directory; ``padding`` adds an (pinned) extra file of that size."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "model.tflite").write_bytes(model_bytes)
    inp, outp = _specs(model_bytes)
    fields = dict(
        name=name,
        version=version,
        labels=LABELS,
        window_ms=800.0,
        hop_ms=200.0,
        fps=10.0,
        window_frames=FRAMES,
        features=FEATURES,
        norm_mean=[1.0] * len(FEATURES),
        norm_std=[1.0] * len(FEATURES),
        model_file="model.tflite",
        input=inp,
        output=outp,
        source={"test": "tests/updates"},
    )
    probe = Manifest(
        **fields, files={"model.tflite": sha256_bytes(model_bytes)}, selftest_file=None
    )
    (out / "manifest.json").write_text(probe.model_dump_json())
    runner = CnnClassifier(load_bundle(out, require_signature=False))
    w = windows()
    expected = np.array([runner.predict(x) for x in w], np.float32)
    if break_selftest:
        expected = np.roll(expected, 1, axis=1)  # another top label for every window
    np.savez(out / "selftest.npz", windows=w, expected=expected)
    files = {n: sha256_bytes((out / n).read_bytes()) for n in ("model.tflite", "selftest.npz")}
    if padding:
        (out / "padding.bin").write_bytes(os.urandom(padding))
        files["padding.bin"] = sha256_bytes((out / "padding.bin").read_bytes())
    manifest = Manifest(**fields, files=files, selftest_file="selftest.npz")
    (out / "manifest.json").write_text(json.dumps(manifest.model_dump(mode="json"), indent=1))
    if key is not None:
        sign_bundle(out, key)
    return out


class Kit:
    def __init__(self, root: Path) -> None:
        self.root = root
        keys = root / "keys"
        self.pub = generate_keypair(keys / "fleet.key", keys / "fleet.pub")
        self.key = keys / "fleet.key"
        generate_keypair(keys / "rogue.key", keys / "rogue.pub")
        self.rogue = keys / "rogue.key"
        self.model_a = _int8_model(0)
        self.model_b = _int8_model(1)
        self.default = write_bundle(root / "default", self.model_a, "0.1.0", None, name="builtin")
        self.v1 = write_bundle(root / "v1", self.model_a, "1.0.0", self.key)
        self.v2 = write_bundle(root / "v2", self.model_b, "2.0.0", self.key)

    def bundle(self, tag: str, model: bytes, version: str, **kw) -> Path:
        key = kw.pop("key", self.key)
        return write_bundle(self.root / "made" / tag, model, version, key, **kw)

    def config(self, state_dir: Path, **model: object) -> Config:
        return parse_config(
            {
                "device": {"id": "dev-1", "state_dir": str(state_dir)},
                "model": {"public_keys": [self.pub], **model},
            }
        )

    def config_toml(self, state_dir: Path) -> Path:
        path = state_dir.parent / f"{state_dir.name}.toml"
        path.write_text(
            f'[device]\nid = "dev-1"\nstate_dir = "{state_dir}"\n'
            f'[model]\npublic_keys = ["{self.pub}"]\n'
        )
        return path


def microemo(*args: str) -> subprocess.CompletedProcess[str]:
    """The device command line, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "microemo.cli", *args], capture_output=True, text=True, timeout=120
    )
