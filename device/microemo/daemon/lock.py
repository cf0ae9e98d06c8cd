"""One daemon per state folder: the second is refused, naming the first.

Two daemons on one state folder share a spool, a sequence and a device id: they take each
other's broker session, end each other's episodes and count the spool wrong. ``StateLock``
takes an exclusive ``flock`` on the folder itself at start: it needs no file and no free
space (a daemon on a full disk still locks), and the kernel drops it when the holder dies,
however it dies, so a crashed daemon never blocks the next start. The holder's PID comes
from the kernel's own list (``/proc/locks``), not from a file that could be stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")


class StateLocked(RuntimeError):
    """Another process holds the folder; the message names it and says what to do."""


def holder(folder: Path) -> int | None:
    """The PID holding an exclusive flock on ``folder``, when the kernel says so."""
    try:
        st = os.stat(folder)
        table = PROC_LOCKS.read_text()
    except OSError:
        return None
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 926 fe:00:2433536 0 EOF" (a "->" marks a waiter)
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == where:
            with contextlib.suppress(ValueError):
                return int(fields[4])
    return None


class StateLock:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Lock ``folder`` (it must exist); ``StateLocked`` when another process has it."""
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = holder(self.folder)
            who = f"PID {pid}" if pid else "its PID is not visible here"
            raise StateLocked(
                f"device.state_dir {self.folder} is in use by another microemo ({who}): stop "
                "it first (systemctl stop microemo), or give this one its own "
                "device.state_dir and device.id"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None
