"""RTSP and HTTP(S) streams through OpenCV's FFmpeg back-end (``source.type = "rtsp"``).

``source.path`` is the URL (``rtsp://user:pass@camera/stream1``). RTSP goes over TCP unless
``OPENCV_FFMPEG_CAPTURE_OPTIONS`` says otherwise, so a lossy Wi-Fi link costs latency rather
than smeared frames. Open and read time out after ``source.timeout_s`` so a dead camera is
noticed and reopened instead of hanging the capture thread. Passwords never reach the logs.
"""

from __future__ import annotations

import os

from microemo.config import SourceConfig
from microemo.sources.base import OpenCVSource, SourceError, open_capture, redact_url


def open_rtsp(cfg: SourceConfig) -> OpenCVSource:
    import cv2

    url = cfg.path
    if not url.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        raise SourceError(
            f"source.path = {redact_url(url)!r} is not a stream URL: expected rtsp:// or "
            'http(s):// (use source.type = "file" for files)'
        )
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    timeout_ms = int(cfg.timeout_s * 1000)
    shown = redact_url(url)
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
        error=f"cannot open stream {shown}: check the URL, the credentials and that the camera "
        f"answers (`ffprobe '{shown}'`)",
        lost_hint="network or camera down",
    )
