"""systemd's notify protocol against a real unix datagram socket, and the stall watchdog."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import numpy as np
import pytest
from daemon_kit import FakePipeline, ListSink, builder
from tests.conftest import FakeClock

from microemo.daemon.loop import FrameLoop
from microemo.daemon.notify import Notifier, watchdog_interval_s
from microemo.daemon.watchdog import Heartbeat, Watchdog
from microemo.sources.capture import FrameSlot
from microemo.types import Frame


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def received(sock) -> list[str]:
    """Every datagram waiting on the socket, without blocking."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5)
    return out


def test_ready_status_watchdog_stopping(notify_socket):
    sock, path = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path}, use_systemd=False)
    assert n.enabled and n.backend == "socket"
    assert n.ready("running, source cam")
    assert sock.recv(4096).decode() == "READY=1\nSTATUS=running, source cam"
    n.status("12.0 fps, 3 dropped")
    assert sock.recv(4096).decode() == "STATUS=12.0 fps, 3 dropped"
    n.watchdog()
    assert sock.recv(4096).decode() == "WATCHDOG=1"
    n.reloading()
    msg = sock.recv(4096).decode().split("\n")
    assert msg[0] == "RELOADING=1" and msg[1].startswith("MONOTONIC_USEC=")
    n.stopping()
    assert sock.recv(4096).decode() == "STOPPING=1"


def test_abstract_socket_address():
    name = f"microemo-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}, use_systemd=False).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_outside_systemd_and_dead_socket_are_harmless(tmp_path, caplog):
    assert not Notifier({}).ready()
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}, use_systemd=False)
    assert not gone.watchdog() and not gone.watchdog()
    assert sum("cannot notify systemd" in r.getMessage() for r in caplog.records) == 1


def test_watchdog_usec_is_honoured():
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    pid = str(os.getpid())
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": pid}) == 2.0
    assert watchdog_interval_s({}) is None


def test_pings_stop_while_the_loop_is_stalled(notify_socket, caplog):
    """Fake clock: the watchdog pings while the heartbeat moves, stops (logging once) when the
    loop has been stuck past the limit, and resumes when it moves again."""
    sock, path = notify_socket
    clock = FakeClock()
    hb = Heartbeat(clock)
    wd = Watchdog(
        hb,
        Notifier({"NOTIFY_SOCKET": path}, use_systemd=False),
        limit_s=5.0,
        ping_interval_s=1.0,
        clock=clock,
    )
    for _ in range(3):
        clock.advance(1.0)
        hb.beat()
        assert wd.check()
    assert received(sock) == ["WATCHDOG=1"] * 3
    hb.enter("pipeline")
    for _ in range(10):
        clock.advance(1.0)
        wd.check()
    assert wd.stalled and wd.stalls == 1
    assert received(sock) == ["WATCHDOG=1"] * 5  # pings while stuck <= 5 s, then none
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "stuck" in errors[0] and "pipeline" in errors[0]
    hb.leave()
    assert wd.check() and not wd.stalled
    assert received(sock) == ["WATCHDOG=1"]


def test_real_loop_stall_stops_real_pings(notify_socket):
    """Real threads and a real socket: a pipeline that hangs stops the pings."""
    sock, path = notify_socket
    release = threading.Event()

    class Hanging(FakePipeline):
        def process(self, frame):
            if frame.index == 3:
                release.wait(30)
            return super().process(frame)

    slot = FrameSlot(lossless=True)
    hb = Heartbeat()
    loop = FrameLoop(Hanging(0.0), ListSink(), slot, events=builder(), budget_ms=10, heartbeat=hb)
    wd = Watchdog(
        hb, Notifier({"NOTIFY_SOCKET": path}, use_systemd=False), limit_s=0.3, ping_interval_s=0.05
    )

    def feed():
        for i in range(6):
            slot.put(Frame(np.zeros((4, 4, 3), np.uint8), i * 33.0, i, time.monotonic()))
        slot.close()

    threading.Thread(target=feed, daemon=True).start()
    runner = threading.Thread(target=lambda: [None for _ in iter(loop.step, False)])
    wd.start()
    runner.start()
    assert sock.recv(4096) == b"WATCHDOG=1"
    deadline = time.monotonic() + 20
    while not wd.stalled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wd.stalled
    received(sock)
    # stalled: the watchdog thread keeps checking, but nothing reaches systemd
    for _ in range(5):
        time.sleep(0.1)
        assert received(sock) == []
    release.set()
    runner.join(10)
    assert sock.recv(4096) == b"WATCHDOG=1"  # moving again: pings resume
    wd.stop()
    assert wd.stalls == 1
