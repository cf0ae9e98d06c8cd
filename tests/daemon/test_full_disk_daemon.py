"""The daemon on a state folder whose disk fills (a real small tmpfs, filled to the last
byte) with a real Mosquitto that goes away and comes back: a degraded state, not a crash.

Run 1 fills the disk while it runs: events go on being made (the JSON lines it writes
elsewhere) and reach the broker, the log says so once, SIGTERM ends it in seconds with every
event delivered. ``config check`` on the full disk says what the next start will say (exit
0: systemd starts the unit), and run 2 starts degraded, delivers, and when broker and disk
are both away a SIGTERM counts exactly what it loses."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from config_kit import CLIP, microemo
from process_kit import DaemonProcess, run_args
from tests.publish.mqtt.mqtt_kit import Broker, Recorder, wait_for
from tests.small_disk import fill, small_disk

pytestmark = pytest.mark.broker

DEVICE = "fulldisk-1"


def made(path: Path) -> list[dict]:
    """The events a run made (its JSON lines, written as they are handed to the sinks)."""
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]


def keys(events: list[dict]) -> set[tuple[str, str]]:
    return {(e["id"], e["phase"]) for e in events}


def daemon(state: Path, port: int, jsonl: Path) -> DaemonProcess:
    return DaemonProcess(run_args(
        state, "mqtt.enabled=true", "mqtt.host=127.0.0.1", f"mqtt.port={port}",
        "mqtt.reconnect_min_s=0.1", "mqtt.reconnect_max_s=0.5", "mqtt.stats_interval_s=1",
        "mqtt.discovery=false", f"device.id={DEVICE}", f"output.jsonl={jsonl}",
    ))  # fmt: skip


def test_a_full_disk_degrades_the_daemon_and_loses_nothing_uncounted(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "mosquitto")
    rec = Recorder(broker.port, f"microemo/{DEVICE}/#", client_id="fulldisk-dashboard")
    run1 = run2 = None
    with small_disk(tmp_path / "state", "3m") as state:
        try:
            # -- run 1: the disk fills while it runs, the broker goes away and comes back
            out1 = tmp_path / "run1.jsonl"
            run1 = daemon(state, broker.port, out1)
            assert wait_for(lambda: len(rec.events()) >= 10, timeout=60), run1.log
            filler = fill(state)
            n = len(made(out1))
            assert wait_for(lambda: len(made(out1)) >= n + 30, timeout=30)  # still making
            broker.stop()
            time.sleep(2)
            broker.start()
            assert wait_for(lambda: keys(made(out1)) <= keys(rec.events()), timeout=30)
            stats = [json.loads(p) for p in rec.on("/stats")]
            rc, took = run1.stop()
            assert rc == 0 and took < 10, (rc, took, run1.log[-3000:])
            assert keys(made(out1)) <= keys(rec.events())  # the ends made at stop as well
            assert "Traceback" not in run1.log
            assert len(run1.said("cannot be written (disk full)")) == 1, run1.log
            assert len(run1.lines) < 30, run1.log  # state changes, not a line per frame
            assert not stats[-1]["spool"]["writable"] and stats[-1]["pipeline_errors"] == 0
            seqs = [e["seq"] for e in made(out1)]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no frame skipped

            # -- config check says what the start on the full disk will say; run 2 starts
            cfg = tmp_path / "device.toml"
            cfg.write_text(f'[device]\nstate_dir = "{state}"\n[source]\npath = "{CLIP}"\n')
            check = microemo("config", "check", str(cfg))
            assert check.returncode == 0, check.stderr
            (warning,) = [x for x in check.stderr.splitlines() if "the disk is full" in x]
            out2 = tmp_path / "run2.jsonl"
            run2 = daemon(state, broker.port, out2)
            said = run2.wait_for("the disk is full")
            assert warning.split(": ", 1)[1] in said  # the same words
            assert wait_for(lambda: len(keys(made(out2)) & keys(rec.events())) >= 10, 60)

            # -- broker and disk both away: a stop counts what it cannot keep
            broker.stop()
            time.sleep(1.5)
            rc, took = run2.stop()
            assert rc == 0 and took < 10, (rc, took, run2.log[-3000:])
            line = run2.wait_for("they are lost")
            found = re.search(r"stopping with (\d+) events.* \((\d+) of them were sent", line)
            assert found, line
            lost, sent = int(found.group(1)), int(found.group(2))
            undelivered = keys(made(out2)) - keys(rec.events())
            assert lost - sent <= len(undelivered) <= lost and undelivered, (lost, sent, line)
            assert "Traceback" not in run2.log
            print(f"\nfull disk: run 1 made {len(made(out1))} events, all delivered, stopped in "
                  f"{took:.1f} s; run 2 started degraded, lost {lost} at a stop with broker "
                  "and disk away, counted")  # fmt: skip
            filler.unlink()
        finally:
            for proc in (run1, run2):
                if proc is not None:
                    proc.kill()
            rec.close()
            broker.stop()
