"""The daemon in-process with a fake pipeline on a real clip: SIGHUP reload (a bad file is
refused and the old config kept; a good one applied), stop flushes and ends episodes."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from daemon_kit import FakePipeline
from tests.conftest import wait_for

from microemo.config import load_config
from microemo.daemon.metrics import status_line
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon, DaemonError

BASE = """
[device]
id = "reload-test"
state_dir = "{state}"

[source]
type = "file"
path = "{clip}"
loop = true

[daemon]
budget_ms = {budget}

[spotting]
max_duration_ms = {maxdur}

[output]
jsonl = "{out}"
"""


def write(path, clip, tmp_path, budget=100, maxdur=4000, extra=""):
    path.write_text(
        BASE.format(
            state=tmp_path / "state",
            clip=clip,
            budget=budget,
            maxdur=maxdur,
            out=tmp_path / "events.jsonl",
        )
        + extra
    )


def test_reload_keeps_old_config_on_error_and_applies_a_good_one(tmp_path, clip, caplog):
    caplog.set_level(logging.INFO, logger="microemo")
    cfg_file = tmp_path / "microemo.toml"
    write(cfg_file, clip, tmp_path)
    built: list[FakePipeline] = []

    def factory(config, **kwargs):
        built.append(FakePipeline(0.001, event_every=5))
        return built[-1]

    daemon = Daemon(
        load_config(cfg_file), config_path=cfg_file, notifier=Notifier({}), pipeline_factory=factory
    )
    daemon.start()
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        wait_for(lambda: len(built[0].seen) > 5)
        # a typo: refused, the running config stays
        write(cfg_file, clip, tmp_path, extra="\n[landmarker]\nnum_face = 1\n")
        daemon.request_reload()
        wait_for(lambda: "reload refused" in caplog.text)
        assert "did you mean `landmarker.num_faces`?" in caplog.text
        assert daemon.config.daemon.budget_ms == 100 and len(built) == 1
        # the budget changes live, without rebuilding anything
        write(cfg_file, clip, tmp_path, budget=40)
        daemon.request_reload()
        wait_for(lambda: daemon.loop is not None and daemon.loop.budget_ms == 40)
        assert len(built) == 1
        # a pipeline setting rebuilds the pipeline; the old one ends its episodes first
        write(cfg_file, clip, tmp_path, budget=40, maxdur=3000)
        daemon.request_reload()
        wait_for(lambda: len(built) == 2 and len(built[1].seen) > 5)
        assert built[0].finished_at is not None
        assert daemon.config.spotting.max_duration_ms == 3000
    finally:
        daemon.request_stop("test")
        runner.join(30)
    assert not runner.is_alive()
    assert built[1].finished_at is not None  # stop ended the open episodes
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == sum(len(p.seen) // 5 for p in built)  # every event reached the file
    assert "stopped (test)" in caplog.text


def test_missing_source_file_stops_before_the_pipeline_is_built(tmp_path):
    built = []
    cfg = load_config(
        None,
        {"source.path": str(tmp_path / "missing.flv"), "device.state_dir": str(tmp_path / "s")},
    )
    daemon = Daemon(cfg, notifier=Notifier({}), pipeline_factory=lambda *a, **k: built.append(1))
    with pytest.raises(DaemonError, match=r"missing\.flv': no such file"):
        daemon.start()
    assert built == []


def test_logs_carry_journald_priorities_under_systemd(tmp_path):
    """With JOURNAL_STREAM naming its stderr (as systemd sets it), each log line starts with
    a syslog priority that journald files the message under; without it, plain stderr."""
    import os
    import subprocess
    import sys

    err = tmp_path / "stderr"
    cmd = [
        sys.executable,
        "-m",
        "microemo.cli",
        "run",
        "--source",
        str(tmp_path / "nope.flv"),
        "--set",
        f"device.state_dir={tmp_path}/s",
    ]
    with err.open("w") as f:
        st = os.fstat(f.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        rc = subprocess.run(cmd, stderr=f, stdout=subprocess.DEVNULL, env=env, timeout=60)
    assert rc.returncode == 2
    assert "<3>microemo.daemon.cli: source.path = " in err.read_text()
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "ERROR microemo.daemon.cli: source.path" in plain.stderr


def test_absent_camera_is_retried_and_stop_is_not_held_up(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="microemo")
    cfg = load_config(
        None,
        {
            "source.type": "v4l2",
            "source.device": "/dev/video99",
            "source.retry_initial_s": 0.05,
            "source.retry_max_s": 0.1,
            "device.state_dir": str(tmp_path / "s"),
            "output.jsonl": "",
        },
    )
    daemon = Daemon(cfg, notifier=Notifier({}), pipeline_factory=lambda *a, **k: FakePipeline(0.0))
    threading.Timer(1.0, daemon.request_stop, ("SIGTERM",)).start()
    t0 = time.monotonic()
    daemon.start()  # waits for the camera, but not past a stop request
    assert time.monotonic() - t0 < 20
    assert daemon.run() == 0
    # a camera never seen is not a lost one: waiting, no loss counted, said once
    status = daemon.snapshot()["source"]
    assert status["state"] == "waiting" and status["losses"] == 0
    assert caplog.text.count("camera not available yet: no camera at /dev/video99") == 1
    assert "camera lost" not in caplog.text and "loss" not in status_line(daemon.snapshot())
    # stopped during the start wait: never said to be running
    assert "microemo running" not in caplog.text and "stopped (SIGTERM)" in caplog.text
