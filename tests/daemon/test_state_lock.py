"""One daemon per state folder, with real processes: a second ``microemo run`` on the same
folder is refused at once with one line naming the running one's PID (exit 2) and touches
nothing; a holder killed with -9 never blocks the next start."""

from __future__ import annotations

import signal
from pathlib import Path

from process_kit import DaemonProcess, run_args


def test_a_second_daemon_is_refused_naming_the_first(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = DaemonProcess(run_args(state, f"output.jsonl={tmp_path / 'first.jsonl'}"))
    try:
        first.wait_for("microemo running")
        second = DaemonProcess(run_args(state, f"output.jsonl={tmp_path / 'second.jsonl'}"),
                               fake=False)  # fmt: skip
        assert second.wait(60) == 2, second.log
        lines = [x for x in second.lines if x.strip()]
        assert len(lines) == 1, second.log
        assert f"is in use by another microemo (PID {first.pid})" in lines[0]
        assert str(state) in lines[0] and "device.state_dir" in lines[0]
        assert not (tmp_path / "second.jsonl").exists()  # it made nothing
        assert first.proc.poll() is None  # the first runs on
        rc, _ = first.stop()
        assert rc == 0, first.log
    finally:
        first.kill()


def test_a_holder_killed_with_9_never_blocks_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = DaemonProcess(run_args(state, "output.jsonl="))
    try:
        first.wait_for("microemo running")
        first.stop(signal.SIGKILL)
        again = DaemonProcess(run_args(state, "output.jsonl="))
        again.wait_for("microemo running")
        rc, _ = again.stop()
        assert rc == 0 and "in use by another" not in again.log, again.log
    finally:
        first.kill()
