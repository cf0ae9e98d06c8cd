"""RTSP and HTTP(S) streams through OpenCV's FFmpeg back-end (``source.type = "rtsp"``).

``source.path`` is the URL (``rtsp://user:pass@camera/stream1``). RTSP goes over TCP unless
``OPENCV_FFMPEG_CAPTURE_OPTIONS`` says otherwise, so a lossy Wi-Fi link costs latency rather
than smeared frames. Open and read time out after ``source.timeout_s`` so a dead camera is
noticed and reopened instead of hanging the capture thread. Passwords never reach the logs.

FFmpeg's own reason for a failed open goes to its log, which the daemon keeps quiet (one
line per retry otherwise), so a failed open says what a TCP connection to the camera tells:
no such host, nothing listening, no answer, or a camera that answers but did not give the
stream (the path or the credentials).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from microemo.config import SourceConfig
from microemo.sources.base import OpenCVSource, SourceError, open_capture, redact_url
from microemo.sources.check import check_stream_url

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
PROBE_TIMEOUT_S = 2.0


def open_rtsp(cfg: SourceConfig) -> OpenCVSource:
    import cv2

    url = cfg.path
    check_stream_url(url)  # what the daemon's start checked: refused the same way here
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    timeout_ms = int(cfg.timeout_s * 1000)
    shown = redact_url(url)
    try:
        return open_capture(
            url,
            cv2.CAP_FFMPEG,
            name=f"stream {shown}",
            fps=cfg.fps,
            params=[
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                timeout_ms,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                timeout_ms,
            ],
            error="",
            lost_hint="network or camera down",
        )
    except SourceError:
        why = why_not_open(url, min(cfg.timeout_s, PROBE_TIMEOUT_S))
        raise SourceError(
            f"cannot open stream {shown}: {why} (`ffprobe '{shown}'` shows FFmpeg's reason)"
        ) from None


def why_not_open(url: str, timeout_s: float) -> str:
    """What a TCP connection to the stream's host and port says about a failed open."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        host, port = None, None
    if not host or not port:
        return "check the URL"
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        return f"host {host} not found: check the host name (DNS) or use the camera's address"
    except ConnectionRefusedError:
        return f"connection refused: nothing listens on {where} (camera off, or another port?)"
    except TimeoutError:
        return f"no answer from {where} within {timeout_s:g} s: check the network and the address"
    except OSError as exc:
        return f"{where}: {exc.strerror or exc}: check the network and the address"
    return f"{where} answers but gave no stream: check the path and the credentials"
