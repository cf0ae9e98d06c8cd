"""Faults against a real Mosquitto: outage, kill -9, full spool, wrong password, last will.

Each test prints how many events went in and how many came out (run with -s to see).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from mqtt_kit import (
    Broker,
    Producer,
    Recorder,
    dedupe,
    free_port,
    in_order_per_face,
    make_events,
    passwd,
    sink_for,
    validate_all,
    wait_for,
)

from microemo.publish.events import EventBuilder
from microemo.publish.mqtt.client import MqttError, MqttSettings
from microemo.publish.mqtt.sink import MqttSink
from microemo.publish.mqtt.spool import Spool
from microemo.publish.mqtt.topics import Topics

pytestmark = pytest.mark.broker


def check_all_arrived(sent: list[dict], got: list[dict]) -> list[dict]:
    validate_all(got)
    kept = dedupe(got)
    assert sorted((e["id"], e["phase"]) for e in kept) == sorted(
        (e["id"], e["phase"]) for e in sent
    )
    assert in_order_per_face(kept)
    return kept


def test_broker_outage_loses_nothing(own_broker: Broker, tmp_path: Path) -> None:
    rec = Recorder(own_broker.port, "microemo/cabin-2/events", client_id="outage-recorder")
    sink = sink_for(own_broker.port, tmp_path, "cabin-2")
    builder = EventBuilder("cabin-2", sink.sequence)
    sent: list[dict] = []
    stopped = threading.Event()

    def outage() -> None:  # the broker goes away mid-stream and comes back
        wait_for(lambda: len(sent) >= 150)
        own_broker.stop()
        stopped.set()
        wait_for(lambda: len(sent) >= 450)
        own_broker.start()

    t = threading.Thread(target=outage)
    t.start()
    for event in make_events(builder, 0, 250, faces=3):
        sent.append(event)
        sink.emit(event)
        time.sleep(0.004)
    t.join()
    assert stopped.is_set()
    assert wait_for(lambda: len(dedupe(rec.events())) >= len(sent), timeout=30)
    health = sink.health()
    sink.close()
    got = rec.events()
    kept = check_all_arrived(sent, got)
    assert health["dropped"] == 0 and health["connect_attempts"] >= 2
    dups = len(got) - len(kept)
    print(f"\noutage: sent {len(sent)}, received {len(got)} ({dups} duplicates), after dedupe "
          f"{len(kept)}, reconnect attempts {health['connect_attempts']}")  # fmt: skip
    rec.close()


def test_kill9_loses_nothing_committed_and_seq_continues(
    own_broker: Broker, tmp_path: Path
) -> None:
    rec = Recorder(own_broker.port, "microemo/cabin-9/events", client_id="kill9-recorder")
    state = tmp_path / "state"
    first = Producer(own_broker.port, state, start=0, count=2000, interval=0.003)
    assert wait_for(lambda: len(first.committed) >= 150)
    own_broker.stop()  # the rest of the run piles up in the spool
    assert wait_for(lambda: len(first.committed) >= 400)
    first.kill9()
    own_broker.start()
    second = Producer(own_broker.port, state, start=5000, count=50, interval=0.001)
    assert second.wait() == 0, second.lines
    committed = first.committed + second.committed
    assert wait_for(lambda: len(dedupe(rec.events())) >= len(committed), timeout=30)
    got = rec.events()
    validate_all(got)
    kept = dedupe(got)
    received = {(e["id"], e["phase"]) for e in kept}
    lost = [c for c in committed if (c[1], c[2]) not in received]
    assert lost == []
    assert min(s for s, _, _ in second.committed) > max(s for s, _, _ in first.committed)
    # per face within each run (a restarted daemon numbers faces afresh; its live events
    # may interleave with the older run's backlog)
    run2 = {i for _, i, _ in second.committed}
    assert in_order_per_face([e for e in kept if e["id"] not in run2])
    assert in_order_per_face([e for e in kept if e["id"] in run2])
    seqs = sorted(e["seq"] for e in kept)
    assert len(seqs) == len(set(seqs))
    print(f"\nkill -9: run 1 committed {len(first.committed)} then killed, run 2 committed "
          f"{len(second.committed)}; received {len(got)} ({len(got) - len(kept)} duplicates), "
          f"after dedupe {len(kept)}, lost {len(lost)}; seq {seqs[0]}..{seqs[-1]}")  # fmt: skip
    rec.close()


def test_last_will_on_kill9(broker: Broker, tmp_path: Path) -> None:
    rec = Recorder(broker.port, "microemo/cabin-7/availability")
    prod = Producer(broker.port, tmp_path, start=0, count=100000, device="cabin-7", interval=0.01)
    assert wait_for(lambda: b"online" in rec.on("/availability"))
    prod.kill9()
    assert wait_for(lambda: rec.on("/availability")[-1:] == [b"offline"])
    rec.close()


def test_full_spool_drops_oldest_and_counts(broker: Broker, tmp_path: Path) -> None:
    dead = free_port()  # nobody listens: everything waits in the spool
    topics = Topics("microemo", "cabin-3")
    settings = MqttSettings(host="127.0.0.1", port=dead, reconnect_min_s=0.1, reconnect_max_s=0.5)
    sink = MqttSink(topics, Spool(tmp_path / "spool.sqlite3", max_events=20), settings)
    builder = EventBuilder("cabin-3", sink.sequence)
    sent = list(make_events(builder, 0, 20, faces=2))  # 60 events
    for event in sent:
        sink.emit(event)
    assert sink.flush()
    assert sink.health()["spool_depth"] == 20 and sink.health()["dropped"] == 40
    sink.close(timeout=0.1)

    rec = Recorder(broker.port, "microemo/cabin-3/#")
    settings.port = broker.port
    sink = MqttSink(topics, Spool(tmp_path / "spool.sqlite3", max_events=20), settings)
    assert sink.health()["dropped"] == 40  # persisted across the restart
    assert wait_for(lambda: len(rec.events()) >= 20)
    sink.stats({"fps": 30.0})
    assert wait_for(lambda: len(rec.on("/stats")) >= 1)
    sink.close()
    got = dedupe(rec.events())
    assert [e["seq"] for e in got] == [e["seq"] for e in sent[-20:]]  # the newest 20 survive
    import json

    assert json.loads(rec.on("/stats")[-1])["spool"]["dropped"] == 40
    print(f"\nfull spool: sent {len(sent)} with bound 20 while offline, dropped and counted "
          f"40, received {len(got)} (the newest)")  # fmt: skip
    rec.close()


def test_wrong_password_is_clear_and_retries(
    auth_broker: Broker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="microemo")
    monkeypatch.setenv("MICROEMO_MQTT_PASSWORD", "wrong")
    sink = sink_for(auth_broker.port, tmp_path, "cabin-4", **{"mqtt.username": "cabin"})
    builder = EventBuilder("cabin-4", sink.sequence)
    sent = list(make_events(builder, 0, 5))
    for event in sent:
        sink.emit(event)
    assert wait_for(lambda: sink.health()["connect_attempts"] >= 3)
    assert not sink.health()["connected"]
    sink.close(timeout=0.1)
    refusals = [r for r in caplog.records if r.levelno >= logging.ERROR and "refused" in r.message]
    assert len(refusals) == 1, [r.message for r in caplog.records]
    msg = refusals[0].message
    assert (
        "Bad user name or password" in msg or "Not authorized" in msg
    ) and "mqtt_password" in msg
    assert "wrong" not in msg  # never log a secret

    monkeypatch.setenv("MICROEMO_MQTT_PASSWORD", "s3cret")  # the operator fixes the credential
    rec = Recorder(auth_broker.port, "microemo/cabin-4/events", auth=("cabin", "s3cret"))
    sink = sink_for(auth_broker.port, tmp_path, "cabin-4", **{"mqtt.username": "cabin"})
    assert wait_for(lambda: len(dedupe(rec.events())) >= len(sent))
    sink.close()
    check_all_arrived(sent, rec.events())
    print(
        f"\nwrong password: {len(sent)} events kept while refused, {len(sent)} delivered after fix"
    )
    rec.close()


def test_bad_ca_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    settings = MqttSettings(tls=True, ca_file=bad)
    with pytest.raises(MqttError, match=str(bad)):
        MqttSink(Topics("microemo", "cabin-5"), Spool(tmp_path / "s.db", 100), settings)
    with pytest.raises(MqttError, match="no such file"):
        settings.ca_file = tmp_path / "missing.pem"
        MqttSink(Topics("microemo", "cabin-5"), Spool(tmp_path / "s2.db", 100), settings)


def test_deploy_acl_lets_a_device_write_only_its_own_topics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acl = Path(__file__).parents[3] / "deploy" / "mosquitto" / "acl.conf"
    pw = tmp_path / "passwd"
    for i, (user, secret) in enumerate(
        [("cabin-1", "p1"), ("cabin-2", "p2"), ("homeassistant", "ha")]
    ):
        passwd(pw, user, secret, create=i == 0)
    broker = Broker(tmp_path / "mosq", password_file=pw, extra=[f"acl_file {acl}"])
    try:
        dash = Recorder(broker.port, "microemo/#", auth=("homeassistant", "ha"))
        monkeypatch.setenv("MICROEMO_MQTT_PASSWORD", "p1")
        sink = sink_for(broker.port, tmp_path, "cabin-1", **{"mqtt.username": "cabin-1"})
        builder = EventBuilder("cabin-1", sink.sequence)
        sent = list(make_events(builder, 0, 3))
        for event in sent:
            sink.emit(event)
        assert wait_for(lambda: len(dedupe(dash.events())) >= len(sent))
        # the same credentials cannot speak for another cabin
        rogue = Recorder(broker.port, "microemo/cabin-1/cmd/#", auth=("cabin-1", "p1"))
        rogue.client.publish(
            "microemo/cabin-2/events", b'{"forged": true}', qos=1
        ).wait_for_publish(5)
        rogue.client.publish("microemo/cabin-1/cmd/model", b"forged", qos=1).wait_for_publish(5)
        sink.close()
        assert wait_for(lambda: dash.on("cabin-1/availability")[-1:] == [b"offline"])
        assert dash.on("microemo/cabin-2/events") == [] and dash.on("cmd/model") == []
        check_all_arrived(sent, dash.events())
        dash.close()
        rogue.close()
    finally:
        broker.stop()
