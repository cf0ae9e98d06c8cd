"""SIGTERM while ``microemo run`` is still starting (importing, reading its config, before
the daemon exists) is said in the log and ends the process cleanly, where it used to die
with 143 and not a word. The real command line in a subprocess; the signal is sent at the
first moment the process catches it (the kernel's view, /proc/PID/status), which is now as
the command line starts, long before the daemon is built."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from process_kit import DaemonProcess, run_args


def test_sigterm_at_the_first_moment_of_start_is_said(tmp_path: Path) -> None:
    proc = DaemonProcess(run_args(tmp_path / "state", "output.jsonl="), fake=False)
    try:
        end = time.monotonic() + 60
        while not proc.catches(signal.SIGTERM) and time.monotonic() < end:
            time.sleep(0.001)
        assert proc.proc.poll() is None, proc.log
        rc, took = proc.stop(timeout=30)
    finally:
        proc.kill()
    print(f"\nSIGTERM at start: exit {rc} after {took:.2f} s: {proc.log[-200:]!r}")
    assert rc == 0, proc.log
    assert "SIGTERM while starting: stopped before anything ran" in proc.log
    assert "Traceback" not in proc.log
    assert not (tmp_path / "state").exists()  # nothing was started, nothing written
