"""GStreamer pipelines through OpenCV (``source.type = "gstreamer"``), e.g. Jetson CSI cameras.

``source.pipeline`` must end in an ``appsink`` delivering BGR. On a Jetson Orin Nano with a
CSI camera::

    nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,
    framerate=30/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert !
    video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false

(one line in the TOML). When ``source.pipeline`` is empty that pipeline is built from
``source.width``, ``source.height`` and ``source.fps``. ``drop=true max-buffers=1`` keeps the
newest frame only. The pip wheels of OpenCV are built without GStreamer: use the system's
OpenCV (JetPack's ``python3-opencv``) through a venv made with ``--system-site-packages``.
"""

from __future__ import annotations

from microemo.config import SourceConfig
from microemo.sources.base import OpenCVSource, SourceError, open_capture


def default_pipeline(cfg: SourceConfig) -> str:
    return (
        f"nvarguscamerasrc sensor-id={cfg.device if isinstance(cfg.device, int) else 0} ! "
        f"video/x-raw(memory:NVMM),width={cfg.width},height={cfg.height},"
        f"framerate={round(cfg.fps)}/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! "
        "video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"
    )


def has_gstreamer() -> bool:
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def open_gstreamer(cfg: SourceConfig) -> OpenCVSource:
    import cv2

    if not has_gstreamer():
        raise SourceError(
            "source.type = gstreamer, but this OpenCV was built without GStreamer (the pip "
            "wheels are): install the system OpenCV (`sudo apt install python3-opencv`, JetPack "
            "ships one) and create the venv with --system-site-packages"
        )
    pipeline = cfg.pipeline or default_pipeline(cfg)
    return open_capture(
        pipeline,
        cv2.CAP_GSTREAMER,
        name="gstreamer",
        fps=cfg.fps,
        error=f"GStreamer pipeline did not start: try it with `gst-launch-1.0 {pipeline}` "
        "(replace appsink by fakesink) and check source.pipeline",
        lost_hint="the GStreamer pipeline stopped (camera or nvargus-daemon)",
    )
