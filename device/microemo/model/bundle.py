"""Model bundles: the manifest contract, loading and verification.

A bundle is a directory holding ``manifest.json``, the files it lists (``model.tflite``,
``selftest.npz``) and ``manifest.json.sig``, a detached ed25519 signature over the exact
bytes of ``manifest.json``. The manifest pins every file by sha256, so verifying the
signature and then the hashes proves the whole bundle. A label or feature-order mismatch
between training and device is impossible because both read them from this manifest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from microemo import RUNTIME_VERSION

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "microemo.bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"


class BundleError(Exception):
    """A bundle that must not be used, with the reason in words a fleet operator can act on."""


class TensorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shape: list[int]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = Field(BUNDLE_FORMAT, description="bundle format version")
    name: str = Field(min_length=1, max_length=64)
    version: str = Field(description="semantic version, compared for downgrades")
    created: str = ""
    labels: list[str] = Field(min_length=2, description="output classes in model order")
    window_ms: float = Field(gt=0, le=10_000)
    hop_ms: float = Field(gt=0, le=10_000)
    fps: float = Field(gt=0, le=1000, description="rate windows are resampled to")
    window_frames: int = Field(ge=1, le=1024)
    features: list[str] = Field(min_length=1, description="per-frame feature names, model order")
    norm_mean: list[float]
    norm_std: list[float]
    files: dict[str, str] = Field(description="file name -> sha256 of every file in the bundle")
    model_file: str = "model.tflite"
    input: TensorSpec
    output: TensorSpec
    metrics: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict, description="training data and commit")
    min_runtime: str = "0.1.0"
    selftest_file: str | None = "selftest.npz"
    fusion_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="how far the device trusts this CNN against the fitted FACS prototypes "
        "(the training tool sets it from held-out subjects); None: the rule table's cnn_weight",
    )

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        if v != BUNDLE_FORMAT:
            raise ValueError(f"unknown bundle format {v!r}; this runtime reads {BUNDLE_FORMAT}")
        return v

    def check_shapes(self) -> None:
        n = len(self.features)
        if len(self.norm_mean) != n or len(self.norm_std) != n:
            raise BundleError(
                f"manifest lists {n} features but {len(self.norm_mean)} means and "
                f"{len(self.norm_std)} standard deviations"
            )
        if self.model_file not in self.files:
            raise BundleError(f"manifest does not pin the model file {self.model_file!r}")


def version_tuple(v: str) -> tuple[int, ...]:
    parts = []
    for p in v.split("+")[0].split("-")[0].split("."):
        parts.append(int(p) if p.isdigit() else 0)
    return tuple(parts)


def refuse_newer(path: Path, text: bytes, instead: str) -> None:
    """A manifest (``text``, as read) made for a newer runtime is refused as that, before its
    fields are validated: a field this runtime does not know would otherwise read as a
    broken manifest. ``instead``: what else the owner can do."""
    try:
        wanted = json.loads(text).get("min_runtime")
    except (ValueError, AttributeError):
        return  # not a JSON object: validation names what is wrong
    if isinstance(wanted, str) and version_tuple(wanted) > version_tuple(RUNTIME_VERSION):
        raise BundleError(
            f"{path}: needs runtime {wanted}, this is {RUNTIME_VERSION}: update microemo on "
            f"this device, or {instead}"
        )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_public_key(text: str) -> Any:
    """A public key as configured: base64 raw 32 bytes, or PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = text.strip()
    if text.startswith("-----BEGIN"):
        return serialization.load_pem_public_key(text.encode())
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def verify_signature(manifest_bytes: bytes, signature: bytes, public_keys: list[str]) -> int:
    """Return the index of the key that signed ``manifest_bytes``; raise if none did."""
    from cryptography.exceptions import InvalidSignature

    if not public_keys:
        raise BundleError("no trusted public keys configured (model.public_keys)")
    for i, key_text in enumerate(public_keys):
        try:
            load_public_key(key_text).verify(signature, manifest_bytes)
            return i
        except InvalidSignature:
            continue
        except ValueError as exc:
            raise BundleError(f"trusted key #{i} in config is not an ed25519 key: {exc}") from exc
    raise BundleError("signature does not verify with any trusted key")


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest
    manifest_sha256: str
    model_bytes: bytes
    signed_by: int | None  # index of the trusted key, None when unsigned bundles are allowed

    @property
    def describe(self) -> dict[str, Any]:
        return {
            "name": self.manifest.name,
            "version": self.manifest.version,
            "sha256": self.manifest.files[self.manifest.model_file],
        }


def load_bundle(
    path: Path, public_keys: list[str] | None = None, *, require_signature: bool = True
) -> Bundle:
    """Read and verify a bundle directory; raise ``BundleError`` naming what is wrong.

    Verification order: signature over the manifest bytes, runtime version (before the
    schema, which a newer runtime's fields would fail), manifest schema, then every listed
    file's sha256. Nothing is trusted before the signature.
    """
    path = Path(path)
    mpath = path / MANIFEST
    try:
        manifest_bytes = mpath.read_bytes()
    except OSError as exc:
        raise BundleError(f"{mpath}: cannot read the manifest ({exc.strerror})") from exc
    signed_by: int | None = None
    spath = path / SIGNATURE
    if require_signature:
        if not spath.is_file():
            raise BundleError(f"{spath}: missing signature; sign with `microemo-train sign`")
        sig = spath.read_bytes().strip()
        try:
            sig = base64.b64decode(sig, validate=True) if len(sig) != 64 else sig
        except ValueError as exc:
            raise BundleError(f"{spath}: signature is not base64 or raw 64 bytes") from exc
        try:
            signed_by = verify_signature(manifest_bytes, sig, public_keys or [])
        except BundleError as exc:
            raise BundleError(f"{spath}: {exc}") from exc
    refuse_newer(mpath, manifest_bytes, "keep the bundle it runs (send it one made for it)")
    try:
        manifest = Manifest.model_validate_json(manifest_bytes)
    except ValidationError as exc:
        raise BundleError(f"{mpath}: invalid manifest: {exc}") from exc
    manifest.check_shapes()
    model_bytes = b""
    for name, want in manifest.files.items():
        fpath = path / name
        if Path(name).name != name:
            raise BundleError(f"{mpath}: file name {name!r} must not contain a path")
        try:
            data = fpath.read_bytes()
        except OSError as exc:
            raise BundleError(f"{fpath}: listed in the manifest but unreadable") from exc
        got = sha256_bytes(data)
        if got != want:
            raise BundleError(f"{fpath}: sha256 {got} does not match the manifest's {want}")
        if name == manifest.model_file:
            model_bytes = data
    return Bundle(path, manifest, sha256_bytes(manifest_bytes), model_bytes, signed_by)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest as plain data, unverified (for messages; ``load_bundle`` checks it): {}
    when it is missing, unreadable or not a JSON object."""
    try:
        data = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def calibration_mismatch(bundle: Bundle | None, calibration: Path | str | None) -> str | None:
    """What to tell the owner when ``bundle`` was trained on AU features read with another AU
    calibration than ``calibration`` (the device's ``au.calibration``); None when they match
    or the bundle does not say (bundles made before it was recorded)."""
    from microemo.vision.calibration import calibration_digest, calibration_text

    if bundle is None:
        return None
    recorded = bundle.manifest.source.get("au_calibration") or {}
    if not isinstance(recorded, dict) or not recorded.get("sha256"):
        return None
    digest = calibration_digest(calibration)
    if recorded["sha256"] == digest:
        return None
    return (
        f"model {bundle.manifest.name} {bundle.manifest.version} was trained on AUs read with "
        f"the calibration {recorded.get('file', '?')} (sha256 {str(recorded['sha256'])[:12]}), "
        f"this device reads them with {calibration_text(calibration)[1]} (sha256 "
        f"{digest[:12]}): its AU inputs may read differently; set "
        "au.calibration to the calibration it was trained with, or retrain with "
        "[extract] device_config pointing at this device's config"
    )
