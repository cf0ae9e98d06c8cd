"""``microemo run`` killed with SIGKILL while an episode is open and a face is shown, then
started again, against a real Mosquitto and real MediaPipe on a real clip: the dashboard
that saw the episode start sees it end once (``ended_by: restart``), numbered after
everything the dead run sent, and the retained state of the dead run's face is gone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from daemon_kit import REPO
from tests.publish.mqtt.mqtt_kit import Broker, Recorder, wait_for

from microemo.publish.events import validate_event

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        not (REPO / "models" / "face_landmarker.task").exists(),
        reason="face_landmarker.task not fetched",
    ),
]

DEVICE = "crash-1"
BASE = f"microemo/{DEVICE}"
# a sensitive spotter, so that episodes open often (this is about the daemon, not spotting)
SENSITIVE = ["spotting.z_on=3.0", "spotting.on_threshold=1.0"]


def start_daemon(source: Path, port: int, tmp: Path, jsonl: Path) -> subprocess.Popen[str]:
    sets = [
        "source.loop=true",
        "mqtt.enabled=true",
        "mqtt.host=127.0.0.1",
        f"mqtt.port={port}",
        "mqtt.state_interval_s=0.2",
        "mqtt.discovery=false",
        f"device.id={DEVICE}",
        f"device.state_dir={tmp / 'state'}",
        f"output.jsonl={jsonl}",
        *SENSITIVE,
    ]
    cmd = [sys.executable, "-m", "microemo.cli", "run", "--config",
           str(REPO / "firmware_config" / "desktop.toml"), "--source", str(source)]  # fmt: skip
    for s in sets:
        cmd += ["--set", s]
    return subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]


def open_episodes(rec: Recorder, jsonl: Path) -> set[str]:
    """Episodes whose start reached the broker (so it was committed) and whose end the daemon
    has not even emitted yet (the JSON lines are written at emit time)."""
    started = {e["id"] for e in rec.events() if e["phase"] == "start"}
    return started - {e["id"] for e in lines(jsonl) if e["phase"] == "end"}


def retained(port: int) -> dict[str, bytes]:
    """What a dashboard subscribing now is given: the retained states of the device."""
    late = Recorder(port, f"{BASE}/#")
    # the summary is always retained, and the broker sends all retained messages at once
    wait_for(lambda: late.on(f"{BASE}/state"), 10)
    time.sleep(0.2)
    late.close()
    return {t: p for t, p, r in late.messages if r and t.endswith("/state")}


def test_episode_open_at_kill9_ends_at_restart_and_stale_states_clear(
    tmp_path: Path, clip: Path
) -> None:
    broker = Broker(tmp_path / "mosquitto")
    rec = Recorder(broker.port, f"{BASE}/#", client_id="dashboard")  # persistent session
    first = start_daemon(clip, broker.port, tmp_path, tmp_path / "run1.jsonl")
    second = None
    try:
        face_shown = lambda: any(p for p in rec.on(f"{BASE}/face/0/state"))  # noqa: E731
        assert wait_for(lambda: face_shown() and open_episodes(rec, tmp_path / "run1.jsonl"),
                        timeout=240, step=0.005), "no episode opened"  # fmt: skip
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        left_open = open_episodes(rec, tmp_path / "run1.jsonl")
        sent_before = rec.events()
        assert left_open and json.loads(retained(broker.port)[f"{BASE}/face/0/state"])

        blank = tmp_path / "nobody.png"  # the second run sees no face at all
        cv2.imwrite(str(blank), np.full((480, 640, 3), 128, np.uint8))
        second = start_daemon(blank, broker.port, tmp_path, tmp_path / "run2.jsonl")
        ended = lambda: {e["id"] for e in rec.events() if e["phase"] == "end"}  # noqa: E731
        assert wait_for(lambda: left_open <= ended(), timeout=180), "no end after restart"
        assert wait_for(lambda: set(retained(broker.port)) == {f"{BASE}/state"}, timeout=30)
        assert json.loads(retained(broker.port)[f"{BASE}/state"])["faces"] == 0
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 0 and "Traceback" not in err, err[-2000:]
        assert "left open by the previous run" in err
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        rec.close()
        broker.stop()

    events = rec.events()
    for e in events:
        validate_event(e)
    last_seq = max(e["seq"] for e in sent_before)
    for episode in left_open:
        ends = {e["seq"]: e for e in events if e["id"] == episode and e["phase"] == "end"}
        assert len(ends) == 1, f"{episode}: {len(ends)} distinct ends"  # repeats share seq
        (end,) = ends.values()
        start = next(e for e in events if e["id"] == episode and e["phase"] == "start")
        assert end["ended_by"] == "restart" and end["seq"] > last_seq
        assert end["face_id"] == start["face_id"] and end["onset_ms"] == start["onset_ms"]
        assert end["offset_ms"] >= start["t_ms"] and end["duration_ms"] >= 0
        print(f"\nkill -9 with {episode} open (seq {start['seq']}..{last_seq} sent); at restart "
              f"its end: seq {end['seq']}, ended_by {end['ended_by']}, "
              f"duration >= {end['duration_ms']} ms")  # fmt: skip
    started = {e["id"] for e in events if e["phase"] == "start"}
    assert started <= {e["id"] for e in events if e["phase"] == "end"}, "an episode never ended"
    first_seen = {}
    for e in events:
        first_seen.setdefault((e["id"], e["phase"]), e["seq"])
    seqs = sorted(first_seen.values())
    assert len(seqs) == len(set(seqs)), "two events share a sequence number"
    # the restart's own JSON lines carry the same ends
    assert {e["id"] for e in lines(tmp_path / "run2.jsonl") if e.get("ended_by")} == left_open
