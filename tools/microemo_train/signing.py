"""Signing keys, bundle signatures and signed device commands (``microemo-train keygen``,
``microemo-train sign``).

Private keys live only here, on the desktop. The device holds the public half in
``model.public_keys`` (base64 of the raw 32 bytes, as ``NAME.pub`` contains) and verifies with
``microemo.models.load_bundle`` and ``microemo.updates``; the signed bytes are defined once on
the device side (the exact ``manifest.json`` bytes, ``canonical_message`` for commands).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from microemo.models import MANIFEST, SIGNATURE, load_bundle
from microemo.updates import SIGNATURE_FIELD, canonical_message

logger = logging.getLogger(__name__)


def generate_keypair(private_path: Path, public_path: Path) -> str:
    """Write a new ed25519 key pair; return the public key text (base64 raw 32 bytes).

    The private key is PEM (PKCS8, unencrypted) created with mode 0600; an existing file is
    never overwritten, so a fleet's key cannot be lost by a repeated command.
    """
    private_path, public_path = Path(private_path), Path(public_path)
    for p in (private_path, public_path):
        if p.exists():
            raise FileExistsError(f"{p}: already exists; move it away or choose another --name")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pub = base64.b64encode(raw).decode()
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_text(pub + "\n")
    return pub


def load_private_key(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an ed25519 key; create one with `microemo-train keygen`")
    return key


def public_key_text(private_key_path: Path) -> str:
    """The base64 public key for a private key file, as the device config holds it."""
    raw = (
        load_private_key(private_key_path)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def sign_bundle(bundle_dir: Path, private_key_path: Path) -> Path:
    """Sign the exact bytes of ``bundle_dir/manifest.json``; write ``manifest.json.sig``
    (base64) and return its path. The manifest pins every file's sha256, so this signs the
    bundle. The result is checked with the device's own verifier before returning."""
    bundle_dir = Path(bundle_dir)
    mpath = bundle_dir / MANIFEST
    try:
        manifest_bytes = mpath.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"{mpath}: no manifest to sign ({exc.strerror})") from exc
    key = load_private_key(private_key_path)
    sig = key.sign(manifest_bytes)
    spath = bundle_dir / SIGNATURE
    tmp = spath.with_suffix(".sig.tmp")
    tmp.write_text(base64.b64encode(sig).decode() + "\n")
    os.replace(tmp, spath)
    load_bundle(bundle_dir, [public_key_text(private_key_path)])  # hashes and signature
    return spath


def sign_message(payload: dict[str, Any], private_key_path: Path) -> dict[str, Any]:
    """Return ``payload`` plus ``issued`` (if absent) and ``signature``: base64 ed25519 over
    ``canonical_message`` of everything else."""
    msg = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    msg.setdefault("issued", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    sig = load_private_key(private_key_path).sign(canonical_message(msg))
    msg[SIGNATURE_FIELD] = base64.b64encode(sig).decode()
    return msg


def _run_keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    priv, pub = out / f"{args.name}.key", out / f"{args.name}.pub"
    try:
        text = generate_keypair(priv, pub)
    except FileExistsError as exc:
        print(f"error: {exc}")
        return 1
    print(f"private key: {priv} (keep it off devices and out of git)")
    print(f"public key:  {pub}")
    print(f'device config:\n  [model]\n  public_keys = ["{text}"]')
    return 0


def _run_sign(args: argparse.Namespace) -> int:
    from microemo.models import BundleError

    try:
        spath = sign_bundle(Path(args.bundle), Path(args.key))
    except (OSError, ValueError, BundleError) as exc:
        print(f"error: {exc}")
        return 1
    print(f"signed {args.bundle}: {spath}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("keygen", help="create an ed25519 signing key pair")
    p.add_argument("--out", required=True, help="directory for NAME.key and NAME.pub")
    p.add_argument("--name", default="microemo-signing", help="file name stem")
    p.set_defaults(func=_run_keygen)
    s = sub.add_parser("sign", help="sign a model bundle (writes manifest.json.sig)")
    s.add_argument("bundle", help="bundle directory holding manifest.json")
    s.add_argument("--key", required=True, help="private key file from `microemo-train keygen`")
    s.set_defaults(func=_run_sign)
