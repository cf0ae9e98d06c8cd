"""The on-device model store: install, switch, keep the previous, roll back.

Layout under ``<state_dir>/models/``::

    staging/<random>/                 a bundle being checked; never loaded from
    bundles/<name>-<version>-<sha8>/  verified, self-tested bundles (sha8: manifest sha256)
    current -> bundles/...            the running bundle (a relative symlink)
    previous -> bundles/...           the one before it, for roll-back
    status.json                       last step, result and timings, for status displays

A bundle becomes ``current`` only after its signature, hashes, size, version and self-test
pass. Each symlink is switched by creating a temporary link and ``os.replace``-ing it over the
old one (atomic on POSIX), then fsyncing the directory, ``previous`` first and ``current``
second, so a kill -9 or power loss at any point leaves ``current`` on either the old or the new
bundle, both complete on disk. ``current()`` verifies again at start-up and falls back to
``previous``, then to ``model.bundle`` or the built-in default, so a device always starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from microemo.assets import REPO_ROOT
from microemo.config import Config
from microemo.model.bundle import Bundle, BundleError, load_bundle, version_tuple
from microemo.model.selftest import PredictorFactory, default_predictor, run_selftest

logger = logging.getLogger(__name__)

DEFAULT_BUNDLE_DIRS = (
    Path(os.environ.get("MICROEMO_DEFAULT_BUNDLE", "/nonexistent")),
    REPO_ROOT / "models" / "default",
    Path("/usr/share/microemo/models/default"),
)
# Test hook: stop at the named step (after writing <dir>/<step>) so a test can kill -9 there.
PAUSE_ENV = "MICROEMO_STORE_PAUSE_AT"


def bundle_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:64]


class ModelStore:
    """Bundles on disk and which one runs. Safe against concurrent use by the daemon and the
    ``microemo model`` command (an flock serialises installs and roll-backs)."""

    def __init__(
        self,
        config: Config,
        *,
        predictor: PredictorFactory | None = None,
        default_bundle: Path | None = None,
    ) -> None:
        self.config = config
        self.root = Path(config.device.state_dir) / "models"
        self.staging = self.root / "staging"
        self.bundles = self.root / "bundles"
        self.current_link = self.root / "current"
        self.previous_link = self.root / "previous"
        self.status_file = self.root / "status.json"
        self.predictor = predictor or default_predictor
        self._default = default_bundle
        self.running_source = "none"  # which link (or fallback) current() used
        # directories are made by the first install, so `microemo model status` reads only

    # -- reading -----------------------------------------------------------------------------

    def _load(self, path: Path) -> Bundle:
        m = self.config.model
        return load_bundle(path, m.public_keys, require_signature=m.require_signature)

    def fallback_path(self) -> Path | None:
        if self.config.model.bundle is not None:
            return Path(self.config.model.bundle)
        if self._default is not None:
            return self._default
        return next((d for d in DEFAULT_BUNDLE_DIRS if (d / "manifest.json").is_file()), None)

    def current(self) -> Bundle | None:
        """The bundle to run: ``current``, else ``previous``, else ``model.bundle`` or the
        built-in default, each verified (signature, hashes). None when nothing verifies."""
        for label, link in (("current", self.current_link), ("previous", self.previous_link)):
            if not link.is_symlink():
                continue
            try:
                bundle = self._load(link.resolve())
            except BundleError as exc:
                logger.error("model store: %s bundle refused, falling back: %s", label, exc)
                continue
            self.running_source = label
            return bundle
        path = self.fallback_path()
        if path is None:
            self.running_source = "none"
            return None
        try:
            # The built-in default ships with the code and is trusted like it; a configured
            # model.bundle follows model.require_signature.
            if self.config.model.bundle is None:
                bundle = load_bundle(path, self.config.model.public_keys, require_signature=False)
            else:
                bundle = self._load(path)
        except BundleError as exc:
            logger.error("model store: fallback bundle refused: %s", exc)
            self.running_source = "none"
            return None
        self.running_source = "config" if self.config.model.bundle is not None else "default"
        return bundle

    def status(self) -> dict[str, Any]:
        """The running model and the last install or roll-back, for CLI and MQTT status."""
        out: dict[str, Any] = {"running": None, "source": "none", "previous": None}
        bundle = self.current()
        if bundle is not None:
            out["running"] = {**bundle.describe, "path": str(bundle.path)}
        out["source"] = self.running_source
        if self.previous_link.is_symlink():
            out["previous"] = self.previous_link.resolve().name
        try:
            out["last"] = json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            out["last"] = None
        return out

    # -- changing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        for d in (self.staging, self.bundles):
            d.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _step(self, name: str, report: Callable[[str], None] | None = None) -> None:
        logger.info("model store: %s", name)
        if report is not None:
            report(name)
        pause = os.environ.get(PAUSE_ENV, "")
        if pause and pause.split(":", 1)[0] == name:
            Path(pause.split(":", 1)[1]).write_text(name)
            while True:  # held here until the test kills the process
                time.sleep(1)

    def _write_status(self, **fields: Any) -> None:
        fields["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(fields, indent=1, sort_keys=True))
        os.replace(tmp, self.status_file)

    def _link(self, link: Path, target: Path) -> None:
        tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}")
        os.symlink(os.path.relpath(target, link.parent), tmp)
        self._step(f"link-{link.name}-tmp")
        os.replace(tmp, link)
        _fsync_dir(link.parent)

    def _stage(self, src: Path) -> Path:
        size = bundle_size(src)
        limit = self.config.model.max_bundle_bytes
        if size > limit:
            raise BundleError(f"{src}: bundle is {size} bytes, over model.max_bundle_bytes={limit}")
        dest = self.staging / uuid.uuid4().hex
        dest.mkdir()
        for p in Path(src).iterdir():
            if p.is_symlink() or not p.is_file():
                continue  # only regular top-level files; the manifest pins what matters
            shutil.copyfile(p, dest / p.name)
            with (dest / p.name).open("rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(dest)
        return dest

    def clean_staging(self) -> None:
        for p in self.staging.iterdir() if self.staging.is_dir() else ():
            shutil.rmtree(p, ignore_errors=True)

    def install(
        self,
        src: Path,
        *,
        allow_downgrade: bool = False,
        report: Callable[[str], None] | None = None,
    ) -> Bundle:
        """Verify, self-test and switch to the bundle in ``src``; return it.

        Raises ``BundleError`` (``SelfTestError`` for a failed self-test) naming the reason;
        then nothing has changed and the running bundle stays current. Installing the bundle
        that already runs is a no-op, so a re-delivered command is harmless.
        """
        with self._locked():
            timings: dict[str, float] = {}
            t0 = time.monotonic()
            try:
                bundle = self._install(Path(src), allow_downgrade, report, timings)
            except BundleError as exc:
                self._write_status(step="refused", ok=False, reason=str(exc), source=str(src))
                raise
            finally:
                self.clean_staging()
            timings["total_ms"] = round((time.monotonic() - t0) * 1000, 2)
            self._write_status(
                step="installed",
                ok=True,
                bundle=bundle.describe,
                source=str(src),
                timings_ms=timings,
            )
            return bundle

    def _install(
        self,
        src: Path,
        allow_downgrade: bool,
        report: Callable[[str], None] | None,
        timings: dict[str, float],
    ) -> Bundle:
        def lap(name: str, since: float) -> float:
            now = time.monotonic()
            timings[name] = round((now - since) * 1000, 2)
            self._step(name, report)
            return now

        t = time.monotonic()
        self.clean_staging()
        staged = self._stage(src)
        t = lap("staged", t)
        bundle = self._load(staged)
        t = lap("verified", t)
        running = self.current()
        if running is not None:
            same = running.manifest_sha256 == bundle.manifest_sha256
            if same:
                logger.info("model store: %s already runs", bundle.describe)
                return running
            new_v, old_v = bundle.manifest.version, running.manifest.version
            if version_tuple(new_v) <= version_tuple(old_v) and not allow_downgrade:
                raise BundleError(
                    f"{src}: version {new_v} is not newer than the running {old_v}; refusing a "
                    "downgrade (a signed command may set allow_downgrade)"
                )
        try:
            predict = self.predictor(bundle)
        except BundleError:
            raise
        except Exception as exc:  # the interpreter's own errors: a model that will not load
            raise BundleError(f"{src}: the model does not load in the interpreter: {exc}") from exc
        stats = run_selftest(bundle, predict, self.config.model.selftest_tolerance)
        timings["selftest_windows"] = stats["windows"]
        timings["selftest_max_abs_diff"] = stats["max_abs_diff"]
        t = lap("selftested", t)
        m = bundle.manifest
        final = self.bundles / f"{_slug(m.name)}-{_slug(m.version)}-{bundle.manifest_sha256[:8]}"
        if final.exists() and self._verifies(final):
            shutil.rmtree(staged)  # the same bundle is kept already (e.g. as previous)
        else:
            if final.exists():
                shutil.rmtree(final)  # a broken leftover of an interrupted install
            os.rename(staged, final)
            _fsync_dir(self.bundles)
        t = lap("stored", t)
        if running is not None and self._in_store(running.path):
            self._link(self.previous_link, running.path)
        elif self.previous_link.is_symlink():
            self.previous_link.unlink()  # the built-in default ran; roll-back returns to it
            _fsync_dir(self.root)
        t = lap("previous-linked", t)
        self._link(self.current_link, final)
        lap("switched", t)
        self._gc()
        return self._load(final)

    def _verifies(self, path: Path) -> bool:
        try:
            self._load(path)
            return True
        except BundleError:
            return False

    def rollback(self, report: Callable[[str], None] | None = None) -> Bundle:
        """Make ``previous`` current again (and the current one previous); with no previous,
        return to ``model.bundle`` or the built-in default. Raises ``BundleError`` when there
        is nothing to roll back or the previous bundle no longer verifies."""
        with self._locked():
            cur = self.current_link.resolve() if self.current_link.is_symlink() else None
            if not self.previous_link.is_symlink():
                if cur is None:
                    raise BundleError(f"{self.root}: no installed bundle to roll back from")
                self.current_link.unlink()  # back to model.bundle or the built-in default
                _fsync_dir(self.root)
                self._step("rolled-back", report)
                bundle = self.current()
                if bundle is None:
                    raise BundleError(f"{self.root}: rolled back but no default bundle verifies")
                self._write_status(step="rolled-back", ok=True, bundle=bundle.describe)
                return bundle
            prev = self.previous_link.resolve()
            try:
                bundle = self._load(prev)
            except BundleError as exc:
                self._write_status(step="rollback-refused", ok=False, reason=str(exc))
                raise
            self._link(self.current_link, prev)
            self._step("rolled-back", report)
            if cur is not None and cur != prev:
                self._link(self.previous_link, cur)
            self._write_status(step="rolled-back", ok=True, bundle=bundle.describe)
            return bundle

    def _in_store(self, path: Path) -> bool:
        return Path(path).resolve().parent == self.bundles.resolve()

    def _gc(self) -> None:
        keep = {
            link.resolve() for link in (self.current_link, self.previous_link) if link.is_symlink()
        }
        for p in self.bundles.iterdir():
            if p.resolve() not in keep:
                shutil.rmtree(p, ignore_errors=True)
