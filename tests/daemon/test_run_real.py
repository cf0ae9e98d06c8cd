"""``microemo run`` as a subprocess on a real clip with real MediaPipe: SIGTERM with an
episode in flight loses nothing; at end of file it exits 0 with every episode ended.
(Two runs only: the landmarker is costly on a shared machine.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_kit import REPO

from microemo.publish.events import validate_event
from microemo.publish.sequence import FileStore

pytestmark = pytest.mark.skipif(
    not (REPO / "models" / "face_landmarker.task").exists(),
    reason="face_landmarker.task not fetched",
)


def microemo(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "microemo.cli",
        "run",
        "--config",
        str(REPO / "firmware_config" / "desktop.toml"),
        *args,
    ]


# A sensitive spotter, so that an episode is surely open when SIGTERM comes whatever the
# spotter's current tuning (this test is about the daemon losing nothing, not about spotting).
SENSITIVE = ("spotting.z_on=3.0", "spotting.on_threshold=1.0")


def run_looped(
    clip: Path, tmp_path: Path, *sets: str, **env: str
) -> tuple[subprocess.Popen, socket.socket]:
    """``microemo run`` on ``clip`` looped, state and ``events.jsonl`` in ``tmp_path``,
    ``sets`` as more ``--set KEY=VALUE``, ``env`` added to the environment; its sd_notify
    messages arrive on the returned socket."""
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    keys = (
        f"device.state_dir={tmp_path}/state",
        f"output.jsonl={tmp_path}/events.jsonl",
        "source.loop=true",
        *sets,
    )
    proc = subprocess.Popen(
        microemo("--source", str(clip), *(a for k in keys for a in ("--set", k))),
        env={**os.environ, "NOTIFY_SOCKET": str(sock_path), **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, sock


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines]


def datagrams(sock: socket.socket, until: str, timeout: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if any(until in g for g in got):
            break
    return got


def assert_complete(events: list[dict]) -> None:
    for e in events:
        validate_event(e)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "sequence numbers repeat or go back"
    started = {e["id"] for e in events if e["phase"] == "start"}
    ended = {e["id"] for e in events if e["phase"] == "end"}
    assert started <= ended, f"episodes never ended: {started - ended}"


def test_sigterm_with_an_episode_in_flight_loses_nothing(tmp_path, clip):
    out = tmp_path / "events.jsonl"
    proc, sock = run_looped(
        clip, tmp_path, "daemon.status_interval_s=0.5", *SENSITIVE, WATCHDOG_USEC="2000000"
    )
    try:
        hello = datagrams(sock, "READY=1", 180)
        assert any(m.startswith("READY=1") for m in hello), hello
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if any(e["phase"] == "start" for e in read_events(out)):
                break
            time.sleep(0.05)
        before = read_events(out)
        open_at_signal = {e["id"] for e in before if e["phase"] == "start"} - {
            e["id"] for e in before if e["phase"] == "end"
        }
        assert open_at_signal, "no episode was open when SIGTERM was sent"
        running = datagrams(sock, "WATCHDOG=1", 10)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.returncode == 0, stderr[-2000:]
    after = read_events(out)
    assert out.read_text().endswith("\n")  # nothing truncated mid-line
    assert_complete(after)
    assert open_at_signal <= {e["id"] for e in after if e["phase"] == "end"}
    assert "stopped (SIGTERM)" in stderr
    msgs = hello + running
    assert any(m == "WATCHDOG=1" for m in msgs), msgs
    assert any(m.startswith("STATUS=") and "fps" in m for m in msgs), msgs
    # the sequence survives restarts: the reserved block is on disk
    assert FileStore(tmp_path / "state" / "seq").load() >= max(e["seq"] for e in after)


def test_make_run_exits_at_end_of_file_with_every_episode_ended(tmp_path, clip):
    r = subprocess.run(
        microemo("--source", str(clip), "--set", f"device.state_dir={tmp_path}/state"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    # stdout holds events only (logs go to stderr), so `make run | jq` works; the sample
    # clip's expression (the happy actor smiles, raises his brows with the mouth open, smiles
    # again) is printed as a whole episode (start, update at apex, end), none left open, read
    # as one of the two things that face shows
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert_complete(events)
    ends = [e for e in events if e["phase"] == "end"]
    assert ends and ends[0]["core_emotion"] in ("happiness", "surprise")
    assert {"AU01", "AU02", "AU12"} & {a["au"] for a in ends[0]["aus"]}
    assert "stopped (end of stream)" in r.stderr
    print(f"{len(events)} events;", r.stderr.splitlines()[-1])


def test_a_landmarker_worker_killed_for_real_is_replaced_and_the_daemon_runs_on(tmp_path, clip):
    """Two landmarker workers; one is killed with SIGKILL while the clip plays (looped): the
    daemon keeps processing, starts another worker, counts the restart in its status, and
    still stops cleanly on SIGTERM."""
    import re

    import psutil

    proc, sock = run_looped(clip, tmp_path, "landmarker.workers=2", "daemon.status_interval_s=0.3")

    def frames(msgs: list[str]) -> int:
        found = [int(m) for s in msgs for m in re.findall(r"(\d+) frames", s)]
        return max(found, default=0)

    try:
        assert any(m.startswith("READY=1") for m in datagrams(sock, "READY=1", 180))
        workers = [
            c
            for c in psutil.Process(proc.pid).children()
            if "microemo.vision.pool_worker" in " ".join(c.cmdline())
        ]
        assert len(workers) == 2
        before = frames(datagrams(sock, " frames", 30))
        workers[0].send_signal(signal.SIGKILL)
        seen: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            seen += datagrams(sock, "(1 restarts)", 2)
            if any("2/2 workers (1 restarts)" in m for m in seen) and frames(seen) > before + 60:
                break
        assert any("2/2 workers (1 restarts)" in m for m in seen), seen[-3:]
        assert frames(seen) > before + 60, "the daemon stopped processing"
        assert workers[0].pid not in [c.pid for c in psutil.Process(proc.pid).children()]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.returncode == 0, stderr[-2000:]
    assert "was killed by signal 9; starting another" in stderr
    assert "stopped (SIGTERM)" in stderr
