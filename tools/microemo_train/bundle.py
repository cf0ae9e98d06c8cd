"""``microemo-train bundle``: pack the int8 model as the device's bundle (``Manifest`` of
``microemo.model.bundle``): ``manifest.json``, ``model.tflite``, ``selftest.npz`` and, when a key
is given, ``manifest.json.sig``. The device's own loader and runner check the result before
the command reports success, and print where it is and how big.

``selftest.npz`` holds reference windows and the probabilities this runner produced for
them: ``windows`` (n, window_frames, len(feature_names)) float32 in ``feature_names`` order
(the device's FRAME_FEATURES at training time), ``expected`` (n, len(labels)) float32,
``atol``. A device re-runs them after installing a bundle.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

import microemo
from microemo.model.bundle import (
    MANIFEST,
    SIGNATURE,
    Bundle,
    Manifest,
    TensorSpec,
    load_bundle,
    version_tuple,
)
from microemo.model.bundle import sha256_bytes as sha256
from microemo.model.runner import CnnClassifier
from microemo.vision.features import FRAME_FEATURES
from microemo_train import settings
from microemo_train.select import load_windows, read_selection
from microemo_train.windows import window_frames

logger = logging.getLogger(__name__)

SELFTEST_ATOL = 1e-4


def git_commit() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "tools", "device"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout
        return rev + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def tensor_specs(model_bytes: bytes) -> tuple[TensorSpec, TensorSpec]:
    from microemo.model.runner import interpreter_class

    cls, _ = interpreter_class()
    it = cls(model_content=model_bytes)
    specs = []
    for d in (it.get_input_details()[0], it.get_output_details()[0]):
        scale, zero = d["quantization"]
        specs.append(
            TensorSpec(
                shape=[int(v) for v in d["shape"]],
                dtype=np.dtype(d["dtype"]).name,
                scale=float(scale),
                zero_point=int(zero),
            )
        )
    return specs[0], specs[1]


def compact_metrics(wd: Path, m: dict[str, Any]) -> dict[str, Any]:
    """The manifest's figures: ``fit``'s (``m``, its metrics.json), parity, evaluation."""
    out: dict[str, Any] = {}
    if m:
        out["evaluation"] = m["scheme"]
        out["subjects"] = m["subjects"]
        out["windows"] = m["windows"]
        keys = ("accuracy", "uf1", "uar", "clip_accuracy", "last_window_accuracy")
        for name in ("cnn", "logreg", "blendshapes", "rules", "cnn+rules"):
            if name in m:
                out[name] = {k: round(m[name][k], 4) for k in keys if k in m[name]}
        if "fusion_weight" in m:
            out["fusion_weight"] = m["fusion_weight"]
    for name, key in (("parity.json", "int8_parity"), ("evaluation.json", "external")):
        if (wd / name).is_file():
            out[key] = json.loads((wd / name).read_text())
    return out


# What a runtime must know to run a bundle right; older runtimes refuse the bundle by
# min_runtime with a message saying so, instead of failing on a field or misreading a window.
NEEDS = (
    ("fusion_weight", "0.2.0"),  # a manifest field 0.1.0 refuses as unknown
    ("one_frame_window", "0.2.0"),  # 0.1.0 read the frame window_ms ago and skipped the first
    ("dbs_features", "0.2.0"),  # blendshape deviations from the face's neutral
)
BASE_RUNTIME = "0.1.0"


def min_runtime(fields: dict[str, Any]) -> str:
    """The oldest runtime that runs a bundle with these manifest fields as trained."""
    uses = {
        "fusion_weight": fields.get("fusion_weight") is not None,
        "one_frame_window": fields["window_frames"] == 1,
        "dbs_features": any(n.startswith("dbs_") for n in fields["features"]),
    }
    wanted = [BASE_RUNTIME] + [v for k, v in NEEDS if uses[k]]
    return max(wanted, key=version_tuple)


def fusion_weight(cfg: settings.TrainConfig, metrics: dict[str, Any]) -> float | None:
    """The configured weight, or the one ``fit`` chose on held-out subjects (``metrics``,
    its metrics.json), or None."""
    want = cfg.fit.fusion_weight
    if want == "none":
        return None
    if want != "fit":
        return float(want)
    weight = metrics.get("fusion_weight")
    if weight is None:
        raise FileNotFoundError(
            f"{cfg.workdir / 'metrics.json'}: no fusion_weight chosen; run `microemo-train fit` "
            "first (or set [fit] fusion_weight to a number or 'none')"
        )
    return float(weight)


def source(
    cfg: settings.TrainConfig,
    extracted: list[dict[str, Any]],
    windows: int,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """Where the model came from: the data (named, with its terms) and the code."""
    out: dict[str, Any] = {}
    if cfg.data.name:
        out["dataset"] = cfg.data.name
    if cfg.data.licence:
        out["licence"] = cfg.data.licence
    out.update(
        adapter=cfg.data.adapter,
        root=str(cfg.data.root),
        inputs=len(extracted),
        subjects=len({r["subject"] for r in extracted}),
        windows=windows,
        labels_from=f"windows: {cfg.windows.label}"
        + (f", rest {cfg.windows.rest_label!r}" if cfg.windows.label == "expressive" else ""),
        commit=git_commit(),
        runtime=microemo.__version__,
        au_calibration=au_calibration(cfg.extract.device_config),
    )
    if metrics:
        out["evaluated_on"] = (
            f"{metrics['scheme']} over the {metrics['subjects']} training subjects "
            "(figures in metrics)"
        )
    return out


def au_calibration(config_path: Path | None) -> dict[str, str]:
    """The AU calibration the features were read with: a device running another one reads
    the model's AU inputs differently."""
    from microemo.vision.calibration import calibration_digest, calibration_text
    from microemo_train.extract import device_config

    path = device_config(config_path).au.calibration
    return {"file": calibration_text(path)[1], "sha256": calibration_digest(path)}


def wd_metrics(wd: Path) -> dict[str, Any]:
    """``fit``'s metrics.json ({} before ``fit`` ran)."""
    path = wd / "metrics.json"
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def pick_selftest(y: np.ndarray, held: np.ndarray, n: int) -> np.ndarray:
    pool = np.flatnonzero(held) if held.any() else np.arange(len(y))
    firsts = [pool[y[pool] == c][0] for c in np.unique(y[pool])]
    return np.array(firsts[:n] if len(firsts) >= n else list(pool[:n]))


def write_bundle(cfg: settings.TrainConfig, sign: bool = True) -> Path:
    wd, out = cfg.workdir, cfg.bundle.out
    ws, names = load_windows(cfg), read_selection(wd)
    model_bytes = (wd / "model.tflite").read_bytes()
    fit = np.load(wd / "fit.npz")
    spec_in, spec_out = tensor_specs(model_bytes)
    extracted = json.loads((wd / "extracted.json").read_text())["items"]
    metrics = wd_metrics(wd)  # read once: figures, fusion weight and source all use it
    fields: dict[str, Any] = dict(
        name=cfg.bundle.name,
        version=cfg.bundle.version,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        labels=ws.labels,
        window_ms=cfg.windows.window_ms,
        hop_ms=cfg.windows.hop_ms,
        fps=cfg.windows.fps,
        window_frames=window_frames(cfg.windows),
        features=names,
        norm_mean=[float(v) for v in fit["mean"]],
        norm_std=[float(v) for v in fit["std"]],
        input=spec_in,
        output=spec_out,
        metrics=compact_metrics(wd, metrics),
        source=source(cfg, extracted, len(ws.y), metrics),
        fusion_weight=fusion_weight(cfg, metrics),
    )
    fields["min_runtime"] = min_runtime(fields)
    # expected outputs come from the device's own runner on the finished model
    probe = Manifest(**fields, files={"model.tflite": sha256(model_bytes)}, selftest_file=None)
    runner = CnnClassifier(Bundle(out, probe, "", model_bytes, None))
    idx = pick_selftest(ws.y, np.isin(ws.groups, fit["holdout"]), cfg.bundle.selftest_windows)
    windows = ws.x[idx]
    expected = np.array([runner.predict(w) for w in windows], np.float32)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.tflite").write_bytes(model_bytes)
    np.savez_compressed(
        out / "selftest.npz",
        windows=windows,
        expected=expected,
        feature_names=np.array(FRAME_FEATURES),
        atol=np.float32(SELFTEST_ATOL),
    )
    files = {n: sha256((out / n).read_bytes()) for n in ("model.tflite", "selftest.npz")}
    manifest = Manifest(**fields, files=files)
    (out / MANIFEST).write_text(manifest.model_dump_json(indent=1) + "\n")
    (out / SIGNATURE).unlink(missing_ok=True)  # an old signature never covers a new manifest
    if sign and cfg.bundle.key is not None:
        sign_with(out, cfg.bundle.key, cfg.bundle.public_key)
    load_bundle(out, require_signature=False)  # the device's loader accepts it
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    signed = "signed" if (out / SIGNATURE).is_file() else "UNSIGNED"
    print(
        f"bundle {out} ({signed}): {size / 1024:.1f} KB, model.tflite "
        f"{len(model_bytes) / 1024:.1f} KB, {len(names)} features, labels {ws.labels}"
    )
    return out


def sign_with(out: Path, key: Path, public_key: Path | None) -> None:
    from microemo_train import signing

    if not key.is_file():
        if public_key is None:
            raise FileNotFoundError(
                f"{key}: signing key not found (set [bundle] public_key to have one made)"
            )
        if public_key.exists():
            # the private half is not here (a fresh clone): a new pair replaces the public key
            logger.warning(
                "%s absent: making a new key pair and replacing %s; devices that "
                "trust the old key will refuse this bundle until they get the new "
                "public key",
                key,
                public_key,
            )
            public_key.unlink()
        pub = signing.generate_keypair(key, public_key)
        print(f"new signing key {key}; public key {public_key}: {pub}")
    signing.sign_bundle(out, key)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bundle", help="write (and sign) the device model bundle")
    settings.add_config_arg(p)
    p.add_argument("--out", type=Path, help="bundle directory")
    p.add_argument("--key", type=Path, help="ed25519 private key to sign with")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = settings.from_args(args)
    if args.out:
        cfg.bundle.out = args.out
    if args.key:
        cfg.bundle.key = args.key
    write_bundle(cfg)
    return 0
