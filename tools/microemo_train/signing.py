"""Signing keys, bundle signatures and signed device commands (``microemo-train keygen``,
``microemo-train sign``).

Private keys live only here, on the desktop. The device holds the public half in
``model.public_keys`` (base64 of the raw 32 bytes, as ``NAME.pub`` contains) and verifies with
``microemo.model.bundle.load_bundle`` and ``microemo.model.updates``; the signed bytes are
defined once on the device side (the exact ``manifest.json`` bytes, ``canonical_message`` for
commands).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from microemo.model.bundle import MANIFEST, SIGNATURE, load_bundle
from microemo.model.chunks import chunk_topics
from microemo.model.commands import SIGNATURE_FIELD, canonical_message

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
    # milliseconds: the device ignores commands not issued after the last one it handled
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    msg.setdefault("issued", now.replace("+00:00", "Z"))
    sig = load_private_key(private_key_path).sign(canonical_message(msg))
    msg[SIGNATURE_FIELD] = base64.b64encode(sig).decode()
    return msg


def pack_bundle(bundle_dir: Path, out: Path) -> str:
    """Write the bundle's top-level files as a reproducible .tar.gz; return its sha256."""
    import gzip
    import hashlib
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(Path(bundle_dir).iterdir()):
            if not p.is_file() or p.is_symlink():
                continue
            info = tarfile.TarInfo(p.name)
            info.size = p.stat().st_size
            info.mode = 0o644
            with p.open("rb") as f:
                tar.addfile(info, f)
    data = gzip.compress(raw.getvalue(), mtime=0)
    Path(out).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def update_message(
    bundle_dir: Path,
    archive: Path,
    private_key_path: Path,
    *,
    url: str | None = None,
    chunks_topic: str | None = None,
    chunk_size: int = 64_000,
    allow_downgrade: bool = False,
) -> dict[str, Any]:
    """Pack ``bundle_dir`` into ``archive`` and return the signed update command for it,
    fetched from ``url`` or from ``chunks_topic/0..N-1`` (retained chunks of ``chunk_size``)."""
    import json

    manifest = json.loads((Path(bundle_dir) / MANIFEST).read_text())
    sha = pack_bundle(bundle_dir, archive)
    msg: dict[str, Any] = {
        "type": "update",
        "name": manifest["name"],
        "version": manifest["version"],
        "sha256": sha,
        "allow_downgrade": allow_downgrade,
    }
    if url:
        msg["url"] = url
    elif chunks_topic:
        size = Path(archive).stat().st_size
        msg["chunks"] = {"topic": chunks_topic, "count": max(1, -(-size // chunk_size))}
    else:
        raise ValueError("an update command needs --url or --chunks-topic")
    return sign_message(msg, private_key_path)


def chunk_payloads(archive: Path, topic: str, chunk_size: int = 64_000) -> list[tuple[str, bytes]]:
    """(topic, bytes) of each retained chunk message for ``update_message(chunks_topic=...)``."""
    data = Path(archive).read_bytes()
    parts = [data[i : i + chunk_size] for i in range(0, max(len(data), 1), chunk_size)]
    return list(zip(chunk_topics(topic, len(parts)), parts))


def _run_update_msg(args: argparse.Namespace) -> int:
    import json

    if args.rollback:
        msg = sign_message({"type": "rollback"}, Path(args.key))
    else:
        archive = Path(args.archive or f"{Path(args.bundle).name}.tar.gz")
        msg = update_message(
            Path(args.bundle),
            archive,
            Path(args.key),
            url=args.url,
            chunks_topic=args.chunks_topic,
            chunk_size=args.chunk_size,
            allow_downgrade=args.allow_downgrade,
        )
        print(f"archive: {archive} ({archive.stat().st_size} bytes)", file=sys.stderr)
        if args.chunks_topic:
            for topic, _ in chunk_payloads(archive, args.chunks_topic, args.chunk_size):
                print(f"  publish retained: {topic}", file=sys.stderr)
    print(json.dumps(msg))
    return 0


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
    from microemo.model.bundle import BundleError

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
    u = sub.add_parser("update-msg", help="pack a bundle and print a signed update command")
    u.add_argument("bundle", nargs="?", default="", help="signed bundle directory")
    u.add_argument("--key", required=True, help="private key file")
    u.add_argument("--url", help="where devices download the archive (http/https)")
    u.add_argument("--chunks-topic", help="retained-chunk topic for broker-only devices")
    u.add_argument("--chunk-size", type=int, default=64_000)
    u.add_argument("--archive", help="archive path to write (default BUNDLE_NAME.tar.gz)")
    u.add_argument("--allow-downgrade", action="store_true")
    u.add_argument("--rollback", action="store_true", help="a signed rollback command instead")
    u.set_defaults(func=_run_update_msg)
