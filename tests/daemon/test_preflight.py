"""`microemo config check` tells the truth: it refuses, with exit 2 and one line naming the file
and what to do, every configuration that `microemo run` would refuse or that cannot work on
this machine, and it never prints a camera's password. Everything here is real: the CLI in a
subprocess, this venv's OpenCV, picamera2's real absence, real device nodes, real MediaPipe."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from config_kit import CLIP, clip_config, microemo, refused, write
from daemon_kit import REPO

PROFILES = REPO / "firmware_config"


# -- item 8: check refuses what run refuses --------------------------------------------------


def test_an_empty_file_source_is_refused_by_check_as_by_run(tmp_path):
    cfg = write(tmp_path, f'[device]\nstate_dir = "{tmp_path}/state"\n[source]\ntype = "file"\n')
    line = refused(microemo("config", "check", str(cfg)), cfg)
    assert "source.path is empty" in line and "--source PATH" in line
    run = microemo("run", "--config", str(cfg))
    assert run.returncode == 2 and "source.path is empty" in run.stderr


def test_a_state_folder_that_cannot_be_created_is_refused_before_the_camera(tmp_path):
    (tmp_path / "afile").write_text("")
    cfg = write(
        tmp_path, f'[device]\nstate_dir = "{tmp_path}/afile/state"\n[source]\npath = "{CLIP}"\n'
    )
    line = refused(microemo("config", "check", str(cfg)), cfg)
    assert "device.state_dir" in line and "cannot be created" in line


# -- items 18 and 19: stream URLs ----------------------------------------------------------

BAD_URLS = {
    "": "source.path is empty",
    "rtsp://": "has no host",
    "rtsp:///cam": "has no host",
    "rtp://cam.local/stream": "rtp:// is not a stream",
    "ftp://cam.local/stream": "ftp:// is not a stream",
    "rtsp://cam.local:http/stream": "port after the host is not a number",
    "rtsp://cam.local:70000/stream": "port after the host is not a number",
    "rtsp://[::1/cam": "IPv6 host must be in closed brackets",
    "[::1/cam": "is not a stream URL",
    "rtsp://cam local/x": "percent-encode",
}


@pytest.mark.parametrize("url", BAD_URLS, ids=lambda u: u or "empty")
def test_an_unusable_url_is_refused_at_check_and_at_start(tmp_path, url):
    cfg = clip_config(tmp_path)
    rtsp = ["--set", "source.type=rtsp", "--set", f"source.path={url!r}"]
    assert BAD_URLS[url] in refused(microemo("config", "check", str(cfg), *rtsp), cfg)
    run = microemo("run", "--config", str(cfg), *rtsp)  # refused, not retried for ever
    assert run.returncode == 2 and BAD_URLS[url] in run.stderr
    assert "microemo running" not in run.stderr and run.stdout == ""


def test_a_password_in_the_url_is_never_printed(tmp_path):
    url = "rtsp://admin:pa@ss-hunter2@cam.local:554/stream1"
    cfg = clip_config(tmp_path)
    rtsp = ["--set", "source.type=rtsp", "--set", f"source.path={url!r}"]
    ok = microemo("config", "check", str(cfg), *rtsp)
    assert ok.returncode == 0, ok.stderr
    assert "rtsp://admin:***@cam.local:554/stream1" in ok.stdout
    bad_port = ["--set", "source.path='rtsp://admin:hunter2@cam.local:x1/s'"]
    outputs = [
        ok,
        microemo("config", "check", str(cfg), *rtsp[:2], *bad_port),
        microemo("config", "show", str(cfg), *rtsp),
        microemo("config", "show", "--json", str(cfg), *rtsp),
        microemo("config", "check", str(cfg), "--set", "source=" + repr(url)),
        microemo("run", "--config", str(cfg), "--set", url),  # a --set without KEY=
    ]
    assert outputs[1].returncode == 2 and "admin:***@" in outputs[1].stderr
    assert 'path = "rtsp://admin:***@cam.local:554/stream1"' in outputs[2].stdout
    for out in outputs:
        assert "hunter2" not in out.stdout + out.stderr, out.stdout + out.stderr


# -- issue 13: the source must work on this machine ----------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="has picamera2")
def test_a_pi_profile_is_refused_where_picamera2_does_not_import(tmp_path):
    profile = PROFILES / "pi5.toml"
    line = refused(microemo("config", "check", str(profile)), profile)
    assert "picamera2 does not import (No module named 'picamera2')" in line
    assert "sudo apt install python3-picamera2" in line and "--system-site-packages" in line
    # `run` refuses it too, instead of retrying a camera that can never open
    run = microemo("run", "--config", str(profile), "--set", f"device.state_dir={tmp_path}/s")
    assert run.returncode == 2 and "picamera2 does not import" in run.stderr


def test_a_jetson_profile_is_refused_where_opencv_has_no_gstreamer(tmp_path):
    import cv2

    profile = PROFILES / "jetson-orin-nano.toml"
    line = refused(microemo("config", "check", str(profile)), profile)
    assert "has no GStreamer" in line and str(Path(cv2.__file__).parent) in line
    assert "opencv-python-headless" in line and "nvidia-opencv" in line
    run = microemo("run", "--config", str(profile), "--set", f"device.state_dir={tmp_path}/s")
    assert run.returncode == 2 and "has no GStreamer" in run.stderr


@pytest.mark.skipif(Path("/dev/video0").exists(), reason="this machine has a camera")
def test_a_missing_v4l2_device_fails_the_check():
    """(`run` itself waits for it: test_service.test_absent_camera_is_retried...)"""
    profile = PROFILES / "desktop.toml"
    line = refused(microemo("config", "check", str(profile)), profile)
    assert "no V4L2 device /dev/video0" in line and "v4l2-ctl --list-devices" in line


def test_a_file_that_is_no_device_node_is_refused(tmp_path):
    fake = tmp_path / "video7"
    fake.write_text("")
    cfg = clip_config(tmp_path)
    args = ["--set", "source.type=v4l2", "--set", f"source.device={str(fake)!r}"]
    line = refused(microemo("config", "check", str(cfg), *args), cfg)
    assert f"{fake} is not a V4L2 device node" in line


def test_the_landmarker_is_built_at_check_time(tmp_path):
    """A landmarker MediaPipe cannot load (here a corrupt model file; on a minimal board a
    missing libEGL) fails the check, not the service's start."""
    broken = tmp_path / "face_landmarker.task"
    broken.write_bytes(os.urandom(4096))
    cfg = clip_config(tmp_path, f'[landmarker]\nmodel_path = "{broken}"\n')
    line = refused(microemo("config", "check", str(cfg)), cfg)
    assert "the face landmarker does not start" in line
    good = microemo("config", "check", str(clip_config(tmp_path)))
    assert good.returncode == 0, good.stderr
    assert "landmarker  up to 2 faces, built in" in good.stdout
    assert "opencv      OpenCV" in good.stdout and "headless" in good.stdout
    assert good.stderr == ""  # MediaPipe's start-up chatter is kept back


def test_the_daemon_log_and_status_never_show_the_password(tmp_path, caplog):
    """A camera that does not answer: logged, retried and reported, its password masked even
    when it holds an "@" (which FFmpeg accepts unencoded)."""
    import json
    import socket
    import threading

    from daemon_kit import FakePipeline

    from microemo.config import load_config
    from microemo.daemon.metrics import status_line
    from microemo.daemon.notify import Notifier
    from microemo.daemon.service import Daemon

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtsp://admin:pa@ss-hunter2@127.0.0.1:{port}/cam"
    overrides = {"source.type": "rtsp", "source.path": url, "source.timeout_s": 1.0}
    overrides |= {"device.state_dir": str(tmp_path / "s"), "output.jsonl": ""}
    daemon = Daemon(
        load_config(None, overrides),
        notifier=Notifier({}),
        pipeline_factory=lambda *a, **k: FakePipeline(0.0),
    )
    caplog.set_level("DEBUG", logger="microemo")
    threading.Timer(2.0, daemon.request_stop, ("SIGTERM",)).start()
    daemon.start()
    snapshot = daemon.snapshot()
    assert daemon.run() == 0
    assert snapshot["source"]["state"] == "waiting" and "camera not available yet" in caplog.text
    assert f"admin:***@127.0.0.1:{port}" in caplog.text
    for text in (caplog.text, status_line(snapshot), json.dumps(snapshot)):
        assert "hunter2" not in text, text
