"""What ``microemo run`` checks before it opens the camera, runnable on its own.

``check_start(config)`` is what the daemon runs at start and on reload: the OpenCV in use, a
MediaPipe this CPU can run (``microemo.platform``), the source (``microemo.sources.check``),
the AU calibration and appearance model files, and the status page's preview
(``daemon.status.check``). ``preflight(config)`` is ``microemo config check``, the unit's
``ExecStartPre=``: the same, then, without side effects, what the start would trip over next:
the state folder and the JSON-lines file can be created, the MQTT TLS files can be read, and
the pipeline is built once (MediaPipe's landmarker and the TFLite models), so a missing native
library such as libEGL shows here and not when the service starts; and the versions of the
libraries whose builds differ by board. Each failure is ``PreflightError``: one line, what to
do. A full state folder is no failure (the daemon starts degraded): ``state_space`` says so,
in the same words from ``config check`` and from the daemon's start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from microemo.config import Config, MqttConfig
from microemo.daemon import status
from microemo.platform import (
    OpenCV,
    PlatformError,
    check_mediapipe_cpu,
    first_line,
    inspect_opencv,
    native_library_hint,
    runtime_versions,
)
from microemo.sources.base import SourceError
from microemo.sources.check import check_source

logger = logging.getLogger(__name__)


class PreflightError(RuntimeError):
    """The configuration cannot run on this machine; the message says what to change."""


@dataclass(frozen=True)
class Report:
    opencv: OpenCV
    model: str  # the model the daemon would start with
    build_s: float  # seconds to build the pipeline (landmarker + model)
    versions: str  # mediapipe, numpy, opencv, litert (their builds differ by board)


def check_start(config: Config, *, devices: bool = False) -> OpenCV:
    """The OpenCV in use, a MediaPipe this CPU runs, the source and the AU calibration file,
    as the daemon checks them before it opens anything (a V4L2 camera not plugged in yet
    passes unless ``devices``)."""
    try:
        opencv = inspect_opencv()
        check_mediapipe_cpu()
        check_source(config.source, opencv, devices=devices)
    except (PlatformError, SourceError) as exc:
        raise PreflightError(str(exc)) from None
    check_calibration(config)
    check_first_glance(config)
    check_appearance(config)
    try:
        status.check(config)  # the preview never goes to the network unprotected
    except status.StatusError as exc:
        raise PreflightError(str(exc)) from None
    return opencv


def check_calibration(config: Config) -> None:
    """``au.calibration`` names a file this runtime reads (a reload keeps the running one)."""
    if config.au.calibration is None:
        return
    from microemo.vision.calibration import CalibrationError, load_calibration

    try:
        load_calibration(config.au.calibration)
    except CalibrationError as exc:
        raise PreflightError(f"au.calibration: {exc}") from None


def check_first_glance(config: Config) -> None:
    """``au.first_glance`` is builtin, off, or a file this runtime reads."""
    from microemo.vision.first_glance import FirstGlanceError, load_first_glance

    try:
        load_first_glance(config.au.first_glance)
    except FirstGlanceError as exc:
        raise PreflightError(f"au.first_glance: {exc}") from None


def check_appearance(config: Config) -> None:
    """``model.appearance`` names a model folder whose file matches its manifest."""
    from microemo.model.appearance import appearance_dir, read_appearance
    from microemo.model.bundle import BundleError

    try:
        folder = appearance_dir(config.model.appearance)
        if folder is not None:
            read_appearance(folder)
    except BundleError as exc:
        raise PreflightError(f"model.appearance: {exc}") from None


def preflight(config: Config, *, build: bool = True) -> Report:
    """Everything ``run`` checks before the camera; ``build=False`` leaves the pipeline out."""
    opencv = check_start(config, devices=True)
    _check_writable("device.state_dir", config.device.state_dir, folder=True)
    if config.output.jsonl not in ("", "-"):
        _check_writable("output.jsonl", Path(config.output.jsonl), folder=False)
    if config.mqtt.enabled:
        _check_mqtt(config.mqtt)
    versions = runtime_versions(opencv)
    if not build:
        return Report(opencv, "not loaded", 0.0, versions)
    t0 = time.monotonic()
    model = _build_pipeline(config)
    return Report(opencv, model, time.monotonic() - t0, versions)


LOW_SPACE_BYTES = 1 << 20  # less than this free in the state folder: treated as full


def state_space(config: Config) -> str | None:
    """One line when the state folder's disk is (nearly) full, else None."""
    folder = config.device.state_dir
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    if free >= LOW_SPACE_BYTES:
        return None
    limit = config.spool.handoff
    return (
        f"device.state_dir {config.device.state_dir}: the disk is full ({free} bytes free): "
        "the daemon runs degraded: events are still made and published from memory while "
        f"the broker is up (up to spool.handoff = {limit} wait in memory, then the oldest "
        "are dropped and counted), nothing new is kept across a restart; free space there"
    )


def _check_writable(key: str, path: Path, *, folder: bool) -> None:
    """``path`` can be written, or created in its nearest existing parent."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing == path and folder != path.is_dir():
        kind = "a folder" if folder else "a file"
        raise PreflightError(f"{key} = {str(path)!r} is not {kind}: set {key} to {kind}")
    if existing != path and not existing.is_dir():
        raise PreflightError(
            f"{key} = {str(path)!r} cannot be created: {existing} is a file: set {key} to a "
            "writable place"
        )
    if not os.access(existing, os.W_OK):
        what = "cannot be written" if existing == path else f"cannot be created in {existing}"
        raise PreflightError(
            f"{key} = {str(path)!r} {what} (permission denied): set {key} to a writable "
            "place, or run as its owner"
        )


def _check_mqtt(m: MqttConfig) -> None:
    try:
        import paho.mqtt  # noqa: F401  (the sink's one dependency)
    except ImportError:
        raise PreflightError(
            "mqtt.enabled = true but paho-mqtt is not installed: reinstall microemo "
            "(deploy/install.sh) or set mqtt.enabled = false"
        ) from None
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(m, key)
        if path is not None and not os.access(path, os.R_OK):
            why = "no such file" if not Path(path).exists() else "permission denied"
            raise PreflightError(f"mqtt.{key} = {str(path)!r}: {why}: fix the path or its mode")


def _build_pipeline(config: Config) -> str:
    """Build and close the pipeline the daemon would run; say which model it holds."""
    from microemo.assets import AssetError
    from microemo.daemon.wiring import initial_bundle
    from microemo.pipeline import Pipeline

    bundle = initial_bundle(config)
    try:
        with _native_stderr_kept_back():
            pipeline = Pipeline(config, bundle=bundle)
            reader = pipeline.classifier.appearance
            pipeline.close()
    except AssetError as exc:
        raise PreflightError(str(exc)) from None
    except (ImportError, OSError, RuntimeError) as exc:
        hint = native_library_hint(exc) or "run `microemo -v config check` to see its log"
        raise PreflightError(
            f"the face landmarker does not start ({first_line(exc)}): {hint}"
        ) from None
    face = "AU prototypes only (model.appearance off)"
    if reader is not None:
        m = reader.model.manifest
        face = f"appearance {m.name} {m.version} + AU prototypes"
    if bundle is None:
        return f"none verifies: {face}"
    return f"{bundle.describe.get('name')} {bundle.describe.get('version')}; {face}"


@contextlib.contextmanager
def _native_stderr_kept_back() -> Iterator[None]:
    """MediaPipe and TFLite print their start-up chatter straight to file descriptor 2; keep
    it out of a check whose answer is one line (``microemo -v config check`` shows it)."""
    if logging.getLogger("microemo").isEnabledFor(logging.INFO):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
