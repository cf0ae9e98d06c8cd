"""The MQTT sink across restarts, against a real Mosquitto: episodes a run left open are ended
once by the next run, after that run's backlog; a clean stop leaves nothing to end; and a
broker that shuts down is logged as what happened, not as paho's "Unspecified error"."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mqtt_kit import Broker, Recorder, dedupe, make_steps, sink_for, validate_all, wait_for

from microemo.publish.events import EventBuilder

pytestmark = pytest.mark.broker


def test_open_episode_ends_once_after_the_backlog_of_its_run(
    own_broker: Broker, tmp_path: Path
) -> None:
    rec = Recorder(own_broker.port, "microemo/cabin-4/events", client_id="restart-recorder")
    own_broker.stop()  # the first run's events all wait in the spool
    first = sink_for(own_broker.port, tmp_path, "cabin-4")
    events = EventBuilder("cabin-4", first.sequence)
    sent = [events.build(s) for n in range(200) for s in make_steps(n, face_id=0)]
    sent += [events.build(s) for s in make_steps(200, face_id=0)[:2]]  # start, update: open
    for event in sent:
        first.emit(event)
    assert first.flush()
    first.close(timeout=0.5)  # as if killed: nothing ended ep-0-000200

    own_broker.start()
    second = sink_for(own_broker.port, tmp_path, "cabin-4")
    assert second.wait_connected(10)  # its backlog drains while the end is committed
    ends = second.left_open()
    assert [(e["id"], e["phase"], e["ended_by"]) for e in ends] == [
        ("ep-0-000200", "end", "restart")
    ]
    assert ends[0]["seq"] > max(e["seq"] for e in sent)
    assert ends[0]["offset_ms"] == sent[-1]["t_ms"]  # the last the dead run saw of it
    for event in ends:
        second.emit(event)
    assert wait_for(lambda: len(dedupe(rec.events())) >= len(sent) + 1, 30)
    second.close()
    got = dedupe(rec.events())
    validate_all(got)
    old = [(e["id"], e["phase"]) for e in got if e["id"] == "ep-0-000200"]
    assert old == [("ep-0-000200", "start"), ("ep-0-000200", "update"), ("ep-0-000200", "end")]

    third = sink_for(own_broker.port, tmp_path, "cabin-4")  # after a clean stop
    assert third.left_open() == []
    third.close()
    rec.close()


def test_a_clean_stop_leaves_nothing_to_end(broker: Broker, tmp_path: Path) -> None:
    first = sink_for(broker.port, tmp_path, "cabin-6")
    events = EventBuilder("cabin-6", first.sequence)
    for step in make_steps(1, face_id=1):
        first.emit(events.build(step))
    first.close()
    again = sink_for(broker.port, tmp_path, "cabin-6")
    assert again.left_open() == []
    again.close()


def test_broker_shutdown_is_logged_as_what_happened(
    own_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="microemo.publish.mqtt")
    sink = sink_for(own_broker.port, tmp_path, "cabin-8")
    assert sink.wait_connected(10)
    own_broker.stop()  # SIGTERM: Mosquitto closes every connection and exits
    assert wait_for(lambda: any("lost the MQTT broker" in r.getMessage() for r in caplog.records))
    sink.close(timeout=0.5)
    lost = next(r.getMessage() for r in caplog.records if "lost the MQTT broker" in r.getMessage())
    assert "Unspecified error" not in lost
    assert "the broker closed the connection" in lost and "events wait in the spool" in lost
