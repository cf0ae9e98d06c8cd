"""Can the configured source work on this machine? Decided before anything opens it.

``check_source(cfg, opencv)`` raises ``SourceError`` with one line saying what to do when the
source can never work here: an empty or missing file, a stream URL that cannot be dialled
(no host, a scheme OpenCV's FFmpeg back-end does not take, a port that is no number),
picamera2 that does not import, no such V4L2 device, or an OpenCV without the back-end the
source needs (GStreamer, FFmpeg, V4L2). ``microemo config check`` and the daemon's start (and
reload) run it, so the unit's ``ExecStartPre=`` fails on what the daemon would refuse.

A camera that is merely not there yet is another matter: the daemon started by hand waits
for a USB camera to be plugged in (``devices=False``), while ``config check`` says it is
missing (``devices=True``), so the unit does not start without it (and systemd tries again).
A stream that does not answer is never an error here: the daemon retries it.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import re
import stat
import sys
from pathlib import Path
from urllib.parse import urlsplit

from microemo.config import SourceConfig
from microemo.platform import OpenCV, first_line
from microemo.sources import FILE_TYPES
from microemo.sources.base import SourceError, redact_url

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
# no "scheme://user:pass@" in it: the masking of printed URLs would garble it
URL_FORM = "rtsp://HOST[:PORT]/PATH (or rtsps, http, https; a login as USER:PASSWORD@HOST)"
_HOST_NAME = re.compile(r"[A-Za-z0-9_~%-]+(\.[A-Za-z0-9_~%-]+)*\.?")


def check_stream_url(url: str) -> None:
    """Refuse a URL that can never be dialled; the message masks its password."""
    shown = redact_url(url)
    if not url.strip():
        raise SourceError(f"source.path is empty: set it to the camera's URL, {URL_FORM}")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise SourceError(
            "source.path has blanks or control characters: percent-encode them (a space is %20)"
        )
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise SourceError(
            f"source.path = {shown!r} is not a stream URL: write {URL_FORM} "
            '(a file is source.type = "file")'
        )
    if scheme.lower() not in STREAM_SCHEMES:
        raise SourceError(
            f"source.path = {shown!r}: {scheme}:// is not a stream OpenCV can open here: "
            f"write {URL_FORM}"
        )
    _check_authority(url, shown)


def _check_authority(url: str, shown: str) -> None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        # the text after the host may be part of the password: name the fault, not the value
        if "IPv6" in str(exc):
            fault = "an IPv6 host must be in closed brackets, e.g. rtsp://[::1]:554/stream"
        else:
            fault = (
                "the port after the host is not a number from 1 to 65535 (a password with "
                "'/', '@', ':' or '#' must be percent-encoded)"
            )
        raise SourceError(f"source.path = {shown!r}: {fault}") from None
    if not host:
        raise SourceError(
            f"source.path = {shown!r} has no host (it would dial this machine): write {URL_FORM}"
        )
    if port == 0:
        raise SourceError(f"source.path = {shown!r}: port 0 cannot be dialled: write a real one")
    if not _valid_host(host):
        raise SourceError(f"source.path = {shown!r}: {host!r} is not a host name or address")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
        return True
    except ValueError:
        return bool(_HOST_NAME.fullmatch(host))


def check_source(cfg: SourceConfig, opencv: OpenCV | None = None, *, devices: bool = True) -> None:
    """Everything about ``cfg`` that can be known without opening it; ``opencv`` is the
    ``cv2`` in use (``microemo.platform.inspect_opencv``), None to skip the back-end checks;
    ``devices=False`` lets a V4L2 device that is not there yet pass."""
    if cfg.type in FILE_TYPES:
        _check_file(cfg)
    elif cfg.type == "rtsp":
        check_stream_url(cfg.path)
        if opencv is not None and not opencv.ffmpeg:
            raise SourceError(
                f"source.type = rtsp needs FFmpeg, which the OpenCV in use lacks "
                f"({opencv.describe()}): use pip's opencv-python-headless, or a "
                "source.type = gstreamer pipeline with rtspsrc"
            )
    elif cfg.type == "v4l2":
        _check_v4l2(cfg, opencv, devices)
    elif cfg.type == "picamera2":
        _check_picamera2()
    elif cfg.type == "gstreamer" and opencv is not None and not opencv.gstreamer:
        raise SourceError(
            f"source.type = gstreamer, but the OpenCV in use has no GStreamer "
            f"({opencv.describe()}): on a Jetson install JetPack's OpenCV (`sudo apt install "
            "nvidia-opencv`; elsewhere python3-opencv) and re-run deploy/install.sh, whose "
            "venv then uses it instead of a pip build"
        )


def _check_file(cfg: SourceConfig) -> None:
    if not cfg.path:
        raise SourceError(
            f"source.path is empty (source.type = {cfg.type}): set it to a video file, a "
            "folder of frames or an image, or pass --source PATH"
        )
    path = Path(cfg.path)
    if not path.exists():
        hint = ' (a stream is source.type = "rtsp")' if "://" in cfg.path else ""
        raise SourceError(
            f"source.path = {redact_url(cfg.path)!r}: no such file or folder{hint}; "
            "set source.path or pass --source PATH"
        )
    if not os.access(path, os.R_OK):
        raise SourceError(f"source.path = {cfg.path!r}: permission denied: make it readable")


def _check_v4l2(cfg: SourceConfig, opencv: OpenCV | None, devices: bool) -> None:
    from microemo.sources.v4l2 import HINT, device_path

    if opencv is not None and not opencv.v4l2:
        raise SourceError(f"the OpenCV in use has no V4L2 back-end ({opencv.describe()})")
    where = device_path(cfg)
    try:
        mode = os.stat(where).st_mode
    except OSError:
        if not devices:
            return
        raise SourceError(f"no V4L2 device {where}: plug the camera in, or {HINT}") from None
    if not stat.S_ISCHR(mode):
        raise SourceError(f"{where} is not a V4L2 device node: {HINT}")
    if not os.access(where, os.R_OK | os.W_OK):
        raise SourceError(
            f"no permission to open {where}: add the user to the `video` group "
            "(the service runs with SupplementaryGroups=video)"
        )


def _check_picamera2() -> None:
    try:
        importlib.import_module("picamera2")
    except Exception as exc:  # ImportError, or ValueError from a numpy it was not built for
        first = first_line(exc)
        if "numpy" in first or "size changed" in first:
            what = (
                f"the venv's numpy is not the one Raspberry Pi OS built picamera2 for: "
                f"`{sys.prefix}/bin/pip install 'numpy<2'` (deploy/install.sh pins it)"
            )
        else:
            what = (
                "`sudo apt install python3-picamera2` and use a venv made with "
                "--system-site-packages (deploy/install.sh does both)"
            )
        raise SourceError(
            f"source.type = picamera2, but picamera2 does not import ({first}): {what}"
        ) from None
