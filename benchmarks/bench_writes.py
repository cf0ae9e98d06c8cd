"""What the daemon writes to the SD card, and to the journal, in an hour.

Runs ``microemo run`` as a service would (desktop profile, the bundled clip looping at its
30 fps, real MediaPipe, MQTT on, a sensitive spotter so that episodes flow, no JSON lines
file) against a Mosquitto of its own that is up, then stopped, then up again (the backlog
drains), and reads ``/proc/<pid>/io`` of the daemon and its landmarker workers before and
after each phase. ``write_bytes`` is what reached the block layer (the card); the log is
what the daemon sends to the journal (its stderr, counted here in lines and bytes).

    python benchmarks/bench_writes.py [--minutes-up 2] [--minutes-down 2] [--set KEY=VALUE]

Figures are per hour of each phase, extrapolated from the phase's length; events are those
the daemon made (its JSON lines, written to /dev/shm so that they do not count). The card's
bytes follow the events (a commit for each, a delete for each few acknowledgements), so each
phase also gives bytes per event; on a loaded machine the daemon falls below 30 fps and makes
fewer events, so the rate of events at 30 fps is measured apart, by the same pipeline over
every frame of the looping clip (``--frames``), and the last column is bytes per event times
that rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "tests" / "data" / "crema_d" / "clips" / "1001_DFA_HAP_XX.flv"
SENSITIVE = ["spotting.z_on=3.0", "spotting.on_threshold=1.0"]  # episodes every few seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, work: Path) -> None:
        self.exe = shutil.which("mosquitto", path=os.environ["PATH"] + ":/usr/sbin")
        if self.exe is None:
            sys.exit("mosquitto not found: apt-get install mosquitto (as .ci/run does)")
        self.port = free_port()
        self.conf = work / "mosquitto.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{user}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([str(self.exe), "-c", str(self.conf)],
                                     stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def io_of(pids: list[int]) -> dict[str, int]:
    """/proc/PID/io summed over ``pids``."""
    total = {"write_bytes": 0, "wchar": 0}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                key, value = line.split(":")
                total[key] = total.get(key, 0) + int(value)
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    """The daemon's child processes: its landmarker workers."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def made(jsonl: Path) -> int:
    """Events the daemon has made: its JSON lines, kept in RAM (/dev/shm), off the card."""
    try:
        return jsonl.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


class Daemon:
    """``microemo run`` in a subprocess; its log lines (what journald would store) kept."""

    def __init__(self, port: int, state: Path, jsonl: Path, extra: list[str]) -> None:
        device = "bench-writes"
        sets = ["source.loop=true", f"output.jsonl={jsonl}", "mqtt.enabled=true",
                "mqtt.host=127.0.0.1", f"mqtt.port={port}", f"device.id={device}",
                f"device.state_dir={state}", "mqtt.reconnect_max_s=5", *SENSITIVE,
                *extra]  # fmt: skip
        cmd = [sys.executable, "-m", "microemo.cli", "run", "--config",
               str(REPO / "firmware_config" / "desktop.toml"), "--source", str(CLIP)]  # fmt: skip
        for item in sets:
            cmd += ["--set", item]
        self.log: list[str] = []
        self.phase_lines: list[list[str]] = []
        self.proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        while not any("microemo running" in x for x in self.log):
            if self.proc.poll() is not None:
                sys.exit("the daemon did not start:\n" + "".join(self.log))
            time.sleep(0.2)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        self.log.extend(self.proc.stderr)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def phase(daemon: Daemon, jsonl: Path, minutes: float) -> tuple:
    """One phase's figures per hour: card bytes (daemon, workers), events, log lines, log
    bytes."""
    workers = children(daemon.proc.pid)
    io0, w0, t0 = io_of([daemon.proc.pid]), io_of(workers), time.monotonic()
    lines0, ev0 = len(daemon.log), made(jsonl)
    time.sleep(minutes * 60)
    io1, w1, t1 = io_of([daemon.proc.pid]), io_of(workers), time.monotonic()
    hour = 3600.0 / (t1 - t0)
    events = made(jsonl) - ev0
    text = "".join(daemon.log[lines0:]).encode()
    daemon.phase_lines.append(daemon.log[lines0:])
    return (
        (io1["write_bytes"] - io0["write_bytes"]) * hour,
        (w1["write_bytes"] - w0["write_bytes"]) * hour,
        events * hour,
        (len(daemon.log) - lines0) * hour,
        len(text) * hour,
    )


def events_per_hour_at_30_fps(frames: int, extra: list[str]) -> float:
    """Events the daemon's pipeline makes per hour of the looping clip, every frame seen."""
    from microemo.config import load_config
    from microemo.daemon.bench import Limited
    from microemo.daemon.cli import keep_training_libraries_out, parse_overrides
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source
    from microemo.sources.replay import ReplaySource

    keep_training_libraries_out()
    config = load_config(REPO / "firmware_config" / "desktop.toml",
                         parse_overrides([*SENSITIVE, *extra]))  # fmt: skip
    source = Limited(ReplaySource(lambda: open_file_source(CLIP), realtime=False, loop=True),
                     frames)  # fmt: skip
    steps = 0
    with Pipeline(config) as pipeline:
        for frame in iter(source.read, None):
            steps += len(pipeline.process(frame).steps)
        steps += len(pipeline.finish())
    return steps / (frames / source.fps) * 3600.0


def report(
    title: str, rate: float, rows: list[tuple], logs: list[list[str]], files: dict[str, int]
) -> None:
    print(f"\nmicroemo run, 30 fps, real MediaPipe, episodes flowing{title}")
    print(f"at 30 fps the pipeline makes {rate:.0f} events an hour on this clip")
    print(f"{'phase':26s} {'fps':>5s} {'card MB/h':>9s} {'events/h':>8s} {'bytes/event':>11s} "
          f"{'at 30 fps MB/h':>14s} {'log lines/h':>11s} {'log KB/h':>8s}")  # fmt: skip
    for (name, card, workers, events, lines, logb), said in zip(rows, logs):
        fps = [float(x.split(": ", 1)[-1].split()[0]) for x in said if " fps, " in x]
        mean = f"{sum(fps) / len(fps):.1f}" if fps else "?"
        per = card / events if events > 0 else 0.0
        print(f"{name:26s} {mean:>5s} {card / 1e6:9.1f} {events:8.0f} {per:11.0f} "
              f"{per * rate / 1e6:14.1f} {lines:11.0f} {logb / 1e3:8.1f}")  # fmt: skip
        if workers:
            print(f"  (the landmarker workers wrote {workers / 1e6:.1f} MB/h of it)")
    for (name, *_), lines in zip(rows, logs):
        said = "; ".join(" ".join(x.split(": ", 1)[-1].split()[:6]) + " ..." for x in lines)
        print(f"log during '{name}': {said or 'nothing'}")
    print(
        "state folder after the run:", ", ".join(f"{k} {v / 1e3:.0f} KB" for k, v in files.items())
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes-up", type=float, default=2.0)
    ap.add_argument("--minutes-down", type=float, default=2.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--frames", type=int, default=1800, help="frames for the 30-fps event rate")
    args = ap.parse_args()
    rate = events_per_hour_at_30_fps(args.frames, args.set)
    work = Path(tempfile.mkdtemp(prefix="bench-writes-"))  # on a real disk, not tmpfs
    state, broker = work / "state", Broker(work)
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else work
    jsonl = Path(tempfile.mkdtemp(prefix="bench-writes-", dir=shm)) / "events.jsonl"
    broker.start()
    daemon = Daemon(broker.port, state, jsonl, args.set)
    plan = [("broker up", args.minutes_up, True), ("broker down", args.minutes_down, False),
            ("broker up, backlog drains", args.minutes_up, True)]  # fmt: skip
    rows = []
    try:
        time.sleep(10)  # past start-up: the landmarker's first frames, the first stats
        for name, minutes, up in plan:
            if up and broker.proc is None:
                broker.start()
            elif not up:
                broker.stop()
            rows.append((name, *phase(daemon, jsonl, minutes)))
        files = {p.name: p.stat().st_size for p in state.iterdir() if p.is_file()}
    finally:
        daemon.stop()
        broker.stop()
        shutil.rmtree(jsonl.parent, ignore_errors=True)
    title = f" ({' '.join(args.set)})" if args.set else ""
    report(title, rate, rows, daemon.phase_lines, files)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
