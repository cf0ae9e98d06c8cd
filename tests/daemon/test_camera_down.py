"""A stream camera that is down when the daemon starts: one clear line, not one per retry
from FFmpeg and OpenCV on stderr; no loss counted for a camera never seen; a SIGTERM while
the start waits for it exits cleanly without saying "running" or READY. (A real TCP port
that answers and hangs up stands for the camera: no GStreamer needed; about 8 s.)"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from daemon_kit import REPO, FakePipeline
from tests.conftest import wait_for

from microemo.config import load_config
from microemo.daemon import service
from microemo.daemon.metrics import status_line
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon

NATIVE_NOISE = ("[tcp @", "[rtsp @", "[ WARN", "[ERROR", "VIDEOIO", "OPENCV", "Connection to")


class HangUp:
    """A TCP port where something answers and hangs up at once (a camera's port with no
    stream behind it); counts the connections, so the test knows the daemon kept retrying."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def hang_up():
    port = HangUp()
    yield port
    port.close()


def test_camera_down_at_start_is_one_line_and_sigterm_before_ready_is_clean(tmp_path, hang_up):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.05)
    err = tmp_path / "stderr.txt"
    url = f"rtsp://admin:hunter2@127.0.0.1:{hang_up.port}/cam"
    cmd = [sys.executable, "-m", "microemo.cli", "run", "--source", url]
    for key, value in {
        "device.state_dir": tmp_path / "state",
        "output.jsonl": tmp_path / "events.jsonl",
        "source.retry_initial_s": 0.1,
        "source.retry_max_s": 0.2,
    }.items():
        cmd += ["--set", f"{key}={value}"]
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    with err.open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=stderr, stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: " microemo.sources.capture: " in err.read_text(), timeout=120)
            seen = hang_up.accepted
            wait_for(lambda: hang_up.accepted >= seen + 8, timeout=30)  # retried, quietly
            proc.send_signal(signal.SIGTERM)  # still within the start's wait for the camera
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    datagrams = []
    while True:
        try:
            datagrams.append(notify.recv(4096).decode())
        except (TimeoutError, BlockingIOError):
            break
    notify.close()
    text = err.read_text()
    ours = [line for line in text.splitlines() if " microemo." in line]
    assert [line for line in text.splitlines() if line.startswith(NATIVE_NOISE)] == []
    down = [line for line in ours if " microemo.sources." in line]
    assert len(down) == 1 and "camera not available yet" in down[0], down
    assert f"127.0.0.1:{hang_up.port} answers but gave no stream" in down[0]
    assert "path and the credentials" in down[0] and "hunter2" not in text
    assert "microemo running" not in text and "stopped (SIGTERM)" in text
    assert "camera waiting" in ours[-1] and "loss" not in ours[-1]
    assert not any("READY=1" in d for d in datagrams), datagrams


def test_running_without_the_camera_names_it_once_and_counts_no_loss(
    tmp_path, hang_up, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger="microemo")
    monkeypatch.setattr(service, "START_WAIT_S", 1.0)
    url = f"rtsp://127.0.0.1:{hang_up.port}/cam"
    overrides = {"source.type": "rtsp", "source.path": url, "output.jsonl": ""}
    overrides |= {"device.state_dir": str(tmp_path / "s"), "source.retry_max_s": 0.2}
    daemon = Daemon(
        load_config(None, overrides),
        notifier=Notifier({}),
        pipeline_factory=lambda *a, **k: FakePipeline(0.0),
    )
    t0 = time.monotonic()
    daemon.start()  # READY without the camera, which is retried in the background
    assert time.monotonic() - t0 < 20
    running = [r.getMessage() for r in caplog.records if "microemo running" in r.getMessage()]
    assert len(running) == 1
    assert f"source rtsp {url} (not seen yet, retrying)" in running[0], running
    line = status_line(daemon.snapshot())
    daemon.request_stop("test")
    assert daemon.run() == 0
    assert line.endswith("camera waiting"), line
