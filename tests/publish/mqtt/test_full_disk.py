"""The MQTT sink on a full disk (a real small tmpfs, filled to the last byte) against a real
Mosquitto: a degraded state, not a failure. Events keep going out while the broker is up,
what cannot be kept is counted, each change is logged once, and nothing goes uncounted."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mqtt_kit import Broker, Recorder, dedupe, make_events, sink_for, validate_all, wait_for
from tests.small_disk import fill, small_disk

from microemo.publish.events import EventBuilder
from microemo.publish.mqtt.spool import Spool

pytestmark = pytest.mark.broker

DEVICE = "disk-1"
MEMORY = 40  # spool.handoff: events kept in memory while the disk refuses writes


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_full_disk_is_degraded_not_broken(
    own_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="microemo")
    rec = Recorder(own_broker.port, f"microemo/{DEVICE}/#", client_id="disk-dashboard")
    with small_disk(tmp_path / "state", "2m") as state:
        sink = sink_for(own_broker.port, state, DEVICE, **{"spool.handoff": MEMORY})
        events = make_events(EventBuilder(DEVICE, sink.sequence), 0, 200, faces=2)
        sent: list[dict] = []

        def emit(n: int) -> None:
            for _ in range(n):
                sent.append(next(events))
                sink.emit(sent[-1])
            assert sink.flush()

        def arrived() -> int:
            return len(dedupe(rec.events()))

        emit(30)
        assert wait_for(lambda: arrived() == 30)
        filler = fill(state)
        for n in (50, 70, 90):  # broker up, disk full: published from memory (in bursts
            emit(20)  # smaller than what memory holds, as a live daemon makes them)
            assert wait_for(lambda: arrived() == n), f"{arrived()} of {n} arrived"  # noqa: B023
        health = sink.health()
        assert not health["writable"] and health["dropped"] == 0
        assert len(lines(caplog, "cannot be written")) == 1  # once, not once per event

        own_broker.stop()  # and now the broker goes away too: memory holds MEMORY events
        assert wait_for(lambda: not sink.health()["connected"])
        emit(50)
        assert sink.health()["dropped"] == 50 - MEMORY
        assert len(lines(caplog, "the oldest are dropped from now on")) == 1
        own_broker.start()
        assert wait_for(lambda: arrived() == 90 + MEMORY, timeout=30)

        filler.unlink()  # space again: the next burst is committed, the drops persisted
        emit(6)
        assert wait_for(lambda: arrived() == 96 + MEMORY)
        assert sink.health()["writable"] and len(lines(caplog, "writable again")) == 1
        sink.close()
        assert Spool(state / "spool.sqlite3", 1000).dropped == 50 - MEMORY  # across restarts

        got = rec.events()
        validate_all(got)
        kept = {(e["id"], e["phase"]) for e in dedupe(got)}
        lost = [e for e in sent if (e["id"], e["phase"]) not in kept]
        assert len(lost) == 50 - MEMORY  # exactly what was counted, and the oldest of them
        assert [e["seq"] for e in lost] == [e["seq"] for e in sent[90 : 90 + len(lost)]]
        print(f"\nfull disk: {len(sent)} events made, {len(kept)} delivered, {len(lost)} "
              f"dropped and counted (memory holds {MEMORY} while broker and disk are both "
              "away)")  # fmt: skip
    rec.close()


def test_a_stop_on_a_full_disk_counts_what_it_loses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="microemo")
    dead = 1  # nobody listens there: nothing can be acknowledged
    with small_disk(tmp_path / "state", "1m") as state:
        sink = sink_for(dead, state, DEVICE, **{"spool.handoff": MEMORY})
        builder = EventBuilder(DEVICE, sink.sequence)
        fill(state)
        for event in make_events(builder, 0, 4):  # 12 events
            sink.emit(event)
        assert sink.flush()
        sink.close(timeout=0.5)
        assert sink.health()["lost"] == 12
        (said,) = lines(caplog, "they are lost")
        assert said.startswith("stopping with 12 events")
