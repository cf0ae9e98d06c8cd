"""A device whose clock NTP has not set (a Pi without a real-time clock, booted offline),
against a real Mosquitto: the daemon says so once, and events (``clock_synced: false``, valid
against the schema), stats and the retained device summary carry the flag until the clock
is set, then drop it. The daemon runs in-process with a fake pipeline on the real clip;
only systemd-timesyncd's flag folder is moved (``tests.timesync``)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from daemon_kit import EpisodePipeline
from tests.publish.mqtt.mqtt_kit import Broker, Recorder, wait_for
from tests.timesync import TimeSync, timesync  # noqa: F401  (the fixture)

from microemo.config import load_config
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon
from microemo.publish.events import validate_event

pytestmark = pytest.mark.broker

BASE = "microemo/clock-1"


def test_an_unset_clock_is_flagged_in_events_stats_and_state(
    tmp_path: Path,
    clip: Path,
    timesync: TimeSync,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="microemo")
    timesync.set(False)  # booted offline: NTP has not set the clock yet
    broker = Broker(tmp_path / "mosquitto")
    rec = Recorder(broker.port, f"{BASE}/#")
    config = load_config(None, {
        "device.id": "clock-1", "device.state_dir": str(tmp_path / "state"),
        "source.type": "file", "source.path": str(clip), "source.loop": True,
        "output.jsonl": "", "mqtt.enabled": True, "mqtt.port": broker.port,
        "mqtt.stats_interval_s": 1.0, "mqtt.state_interval_s": 0.2, "mqtt.discovery": False,
    })  # fmt: skip
    daemon = Daemon(
        config, notifier=Notifier({}), pipeline_factory=lambda c, **k: EpisodePipeline()
    )
    daemon.start()
    runner = threading.Thread(target=daemon.run)
    runner.start()

    def summary() -> dict:
        states = [json.loads(p) for p in rec.on(f"{BASE}/state") if p]
        return states[-1] if states else {}

    try:
        assert wait_for(lambda: len(rec.events()) >= 4 and rec.on("/stats") and summary())
        unset_events = rec.events()
        unset_stats = json.loads(rec.on("/stats")[-1])
        unset_summary = summary()
        timesync.set(True)  # NTP has set it
        seen = len(rec.events())
        assert wait_for(lambda: len(rec.events()) >= seen + 4 and summary().get("clock_synced"))
        assert wait_for(lambda: json.loads(rec.on("/stats")[-1])["clock_synced"])
    finally:
        daemon.request_stop("test")
        runner.join(30)
        rec.close()
        broker.stop()
    for event in unset_events:
        validate_event(event)
        assert event["clock_synced"] is False
    assert unset_stats["clock_synced"] is False and unset_summary["clock_synced"] is False
    later = rec.events()[seen + 1 :]  # (one may have been made as the flag changed)
    assert later and all("clock_synced" not in e for e in later)
    said = [r.getMessage() for r in caplog.records if r.name == "microemo.clock"]
    assert len(said) == 2 and "not synchronised" in said[0] and "synchronised now" in said[1]
