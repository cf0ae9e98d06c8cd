"""systemd's notify protocol: READY, STATUS, WATCHDOG, RELOADING, STOPPING.

Uses ``systemd.daemon.notify`` (systemd-python) when it is installed, else writes the
datagram itself to ``$NOTIFY_SOCKET`` (a path, or an abstract socket when it starts with
``@``). Outside systemd (no ``NOTIFY_SOCKET``) every call is a cheap no-op. A failed send is
logged once and never raised: the frame loop must not die because systemd went away.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """``WatchdogSec=`` of this unit in seconds, or None when no watchdog is armed for us."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # meant for another process (a wrapper script)
    try:
        value = int(usec)
    except ValueError:
        logger.warning("WATCHDOG_USEC=%r is not a number; ignoring the watchdog", usec)
        return None
    return value / 1e6 if value > 0 else None


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None, *, use_systemd: bool = True):
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        self._sd: Any = None
        if self.address and use_systemd and self.address == os.environ.get("NOTIFY_SOCKET"):
            try:
                from systemd import daemon as sd_daemon

                self._sd = sd_daemon
            except ImportError:
                self._sd = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def backend(self) -> str:
        if not self.enabled:
            return "off"
        return "systemd-python" if self._sd is not None else "socket"

    def send(self, *fields: str) -> bool:
        if not self.enabled:
            return False
        message = "\n".join(fields)
        try:
            if self._sd is not None:
                ok = bool(self._sd.notify(message))
            else:
                self._send_datagram(message.encode())
                ok = True
        except OSError as exc:
            ok = False
            if not self._failed:
                logger.warning("cannot notify systemd at %s: %s", self.address, exc)
        self._failed = not ok
        return ok

    def _send_datagram(self, data: bytes) -> None:
        assert self.address is not None
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall(data)

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))
