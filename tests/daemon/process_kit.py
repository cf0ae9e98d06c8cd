"""The daemon as a process, as systemd runs it: ``microemo run`` (or ``fake_daemon.py``, the
same command line with a fake pipeline) in a subprocess whose log (stderr) is read line by
line while it runs, signals sent to it, its exit status taken."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from daemon_kit import REPO
from tests.conftest import clip_path

FAKE = Path(__file__).with_name("fake_daemon.py")


def run_args(state: Path, *sets: str, source: Path | None = None) -> list[str]:
    """``run`` arguments: the desktop profile on the looping clip, state in ``state``."""
    args = ["--config", str(REPO / "firmware_config" / "desktop.toml"),
            "--source", str(source or clip_path("HAP")),
            "--set", "source.loop=true", "--set", f"device.state_dir={state}"]  # fmt: skip
    for s in sets:
        args += ["--set", s]
    return args


class DaemonProcess:
    def __init__(self, args: list[str], *, fake: bool = True) -> None:
        cmd = [sys.executable, str(FAKE)] if fake else [sys.executable, "-m", "microemo.cli", "run"]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        self.started = time.monotonic()
        self.proc = subprocess.Popen([*cmd, *args], cwd=REPO, env=env, text=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def said(self, text: str) -> list[str]:
        return [x for x in list(self.lines) if text in x]

    def wait_for(self, text: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = self.said(text)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                self._reader.join(5)
                break
            time.sleep(0.02)
        found = self.said(text)
        assert found, f"{text!r} not in the log:\n{self.log[-3000:]}"
        return found[0]

    def catches(self, sig: int) -> bool:
        """The process has a handler for ``sig`` (the kernel's view: /proc/PID/status)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
        except OSError:
            pass
        return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, float]:
        """Send ``sig``; (exit status, seconds it took to exit)."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        return rc, time.monotonic() - sent

    def wait(self, timeout: float = 60) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
