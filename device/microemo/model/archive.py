"""Update archives: fetched over HTTP(S) into memory within a size and time limit, and
unpacked (top-level regular files only) for the store to verify.

Nothing here is trusted: the caller pins the archive's sha256 from a signed command before
unpacking, and the store verifies the bundle's own signature and hashes afterwards.
"""

from __future__ import annotations

import io
import logging
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from microemo.model.bundle import BundleError

logger = logging.getLogger(__name__)


def download(url: str, limit: int, timeout_s: float) -> bytes:
    """GET ``url`` (http or https) into memory; refuse past ``limit`` bytes or when the whole
    transfer takes over ten timeouts (a trickling server cannot hold the worker forever)."""
    if not url.startswith(("https://", "http://")):
        raise BundleError(f"url {url!r}: only http:// and https:// are fetched")
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            length = resp.headers.get("Content-Length")
            if length is not None and int(length) > limit:
                raise BundleError(f"{url}: {length} bytes, over model.max_bundle_bytes={limit}")
            buf = io.BytesIO()
            while block := resp.read(65536):
                buf.write(block)
                if buf.tell() > limit:
                    raise BundleError(f"{url}: more than model.max_bundle_bytes={limit} bytes")
                if time.monotonic() - t0 > 10 * timeout_s:
                    raise BundleError(f"{url}: download slower than 10 x {timeout_s} s, aborted")
            return buf.getvalue()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BundleError(f"{url}: download failed ({reason}); the running model is kept") from exc


def unpack(archive: bytes, dest: Path, limit: int) -> Path:
    """Extract the top-level regular files of a tar(.gz) into ``dest``; anything else (links,
    devices, paths) is refused, and the unpacked total is bounded by ``limit``."""
    dest.mkdir(parents=True)
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if member.isdir() and name in ("", "."):
                    continue
                if not member.isfile() or "/" in name or name in ("", ".", ".."):
                    raise BundleError(f"archive member {member.name!r}: only top-level files")
                total += member.size
                if total > limit:
                    raise BundleError(f"archive unpacks past model.max_bundle_bytes={limit}")
                src = tar.extractfile(member)
                assert src is not None
                (dest / name).write_bytes(src.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"archive is not a readable tar(.gz): {exc}") from exc
    return dest
