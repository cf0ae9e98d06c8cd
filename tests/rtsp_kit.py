"""A real RTSP camera for tests that need one: ``tests/rtsp_camera.py`` (GStreamer's RTSP
server) in its own process, serving frames of a real CREMA-D clip, which a test stops (an
outage: the process is killed), starts again (the camera back), freezes or makes trickle.

OpenCV's FFmpeg back-end reads it exactly as it reads an IP camera (RTSP over TCP, RTP/JPEG),
so the daemon's whole stream path runs: open and read timeouts, reconnects, back-off. The
server needs Debian's python3-gst-1.0, gir1.2-gst-rtsp-server-1.0 and the good and bad
plug-ins (``.ci/run`` installs them); without them these tests skip with one line.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

SERVER = Path(__file__).with_name("rtsp_camera.py")
SYSTEM_PYTHON = "/usr/bin/python3"
PACKAGES = (
    "python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
)
PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
    "assert Gst.ElementFactory.find('rtpjpegpay') and Gst.ElementFactory.find('jpegparse')"
)


@functools.cache
def missing() -> str | None:
    """Why the RTSP test camera cannot run here (None when it can)."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"no {SYSTEM_PYTHON} for GStreamer's Python bindings"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True, timeout=60)
    return None if probe.returncode == 0 else "GStreamer's RTSP server is not installed"


def require_server() -> None:
    why = missing()
    if why:
        pytest.skip(f"RTSP camera tests: {why} (apt-get install {PACKAGES})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_frames(clip: Path, folder: Path, hold_s: float = 0.0) -> float:
    """The clip's frames as JPEG files in ``folder``; with ``hold_s``, then its last half
    second played back and forth for that long (the smile the clip ends on, held). Returns
    the clip's frame rate."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(clip))
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
    images = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        images.append(cv2.imencode(".jpg", image)[1].tobytes())
    cap.release()
    tail = images[-int(fps / 2) :]
    order = list(range(len(images)))
    base = len(images) - len(tail)
    while len(order) < len(images) + hold_s * fps:
        order += [base + i for i in range(len(tail) - 1, -1, -1)] + [
            base + i for i in range(len(tail))
        ]
    for n, i in enumerate(order):
        (folder / f"{n:05d}.jpg").write_bytes(images[i])
    return fps


class RtspCamera:
    """One camera at ``url``; ``start``/``kill`` as often as the test likes."""

    def __init__(self, frames: Path, fps: float) -> None:
        require_server()
        self.frames, self.fps = frames, fps
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.frames), str(self.port), str(self.fps)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "serving", f"the RTSP test camera did not start ({line!r})"

    def kill(self) -> None:
        """The camera vanishes: its process is killed, its sessions drop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def send(self, command: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def freeze(self) -> None:
        self.send("freeze")

    def trickle(self, every_s: float) -> None:
        self.send(f"trickle {every_s}")

    def play(self) -> None:
        self.send("play")

    def close(self) -> None:
        self.kill()


def wait_until(cond, timeout: float, step: float = 0.02) -> float | None:  # type: ignore[no-untyped-def]
    """Poll ``cond``; the monotonic time it first held, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return time.monotonic()
        time.sleep(step)
    return None
