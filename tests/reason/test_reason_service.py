"""``microemo-reason run`` as a user starts it, between a real Mosquitto and a real HTTP
endpoint: hard cases get one refined reading beside the device's untouched events, a
persistent session keeps what arrived while it was away, the budget shows on the retained
status, and a dry run sends and publishes nothing."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from reason_kit import assert_text_only, close_scores, disagreeing, easy, micro, with_private_data
from tests.publish.mqtt.mqtt_kit import Broker, Recorder, passwd, sink_for, wait_for

from microemo.reason.refined import validate_refined

pytestmark = pytest.mark.broker
_n = itertools.count()
STARTED: list[Service] = []  # killed after each test if still running


class Service:
    """``python -m microemo.reason.cli run`` with the test's config, the API key as a
    systemd credential; its stdout and stderr kept."""

    def __init__(self, config: Path, creds: Path, *extra: str) -> None:
        env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds), "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "microemo.reason.cli", "run", "-c", str(config), *extra]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)  # fmt: skip
        STARTED.append(self)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, x=lines: x.extend(s), daemon=True).start()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture(autouse=True)
def no_service_left():
    """A test that fails before stopping its service still leaves no process behind."""
    yield
    while STARTED:
        svc = STARTED.pop()
        if svc.proc.poll() is None:
            svc.proc.kill()
            svc.proc.wait(10)


@pytest.fixture
def setup(broker, llm, tmp_path):
    """A fresh prefix per test (retained status from another test cannot leak in), a
    config file, the credential folder with the API key."""
    prefix = f"site{next(_n)}"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "llm_api_key").write_text("sk-hub-secret\n")
    config = tmp_path / "reason.toml"

    def write(**extra: Any) -> Path:
        lines = [
            f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nprefix = "{prefix}"',
            f'client_id = "reason-{prefix}"\nreconnect_min_s = 1.0\nreconnect_max_s = 1.0',
            f'[llm]\nbase_url = "{llm.base_url}"\nmodel = "hub-model"\ntimeout_s = 5.0',
            f'[service]\nstate_dir = "{tmp_path / "state"}"\nstatus_interval_s = 1.0',
            *(f"{k} = {json.dumps(v)}" for k, v in extra.items()),
        ]
        config.write_text("\n".join(lines) + "\n")
        return config

    return prefix, creds, write


def publish_raw(port: int, topic: str, payload: dict[str, Any]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"foreign-{next(_n)}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def status_of(rec: Recorder) -> dict[str, Any]:
    got = rec.on("/reason/status")
    return json.loads(got[-1]) if got else {}


def device(broker, tmp_path, prefix: str):
    return sink_for(broker.port, tmp_path / "device", device="cabin-1", **{"mqtt.prefix": prefix})


def test_hard_cases_get_one_refined_reading_beside_the_untouched_events(
    broker, llm, tmp_path, setup
):
    prefix, creds, write = setup
    events_rec = Recorder(broker.port, f"{prefix}/+/events")
    refined_rec = Recorder(broker.port, f"{prefix}/+/refined")
    status_rec = Recorder(broker.port, f"{prefix}/reason/status")
    svc = Service(write(), creds)
    wait_for(lambda: status_of(status_rec).get("state") == "asking", 30)
    sent = [easy(1), disagreeing(3), micro(4, face=1)]
    sink = device(broker, tmp_path, prefix)
    start = {**micro(5), "phase": "start"}
    sink.emit(start)
    for event in sent:
        sink.emit(event)
    assert wait_for(lambda: len(refined_rec.on("/refined")) == 2, 30), svc.err
    # a foreign publisher's event with landmarks, a crop, an embedding and a name in it (the
    # device's own sink refuses to send such an event)
    hostile = with_private_data(close_scores(2))
    publish_raw(broker.port, f"{prefix}/cabin-1/events", hostile)
    assert wait_for(lambda: len(refined_rec.on("/refined")) == 3, 30), svc.err
    assert wait_for(lambda: status_of(status_rec).get("counts", {}).get("end_events") == 4, 10)
    refined = {r["episode_id"]: r for r in map(json.loads, refined_rec.on("/refined"))}
    assert len(refined_rec.on("/refined")) == 3  # one each, none for the easy one
    assert set(refined) == {sent[1]["id"], sent[2]["id"], hostile["id"]}
    assert refined[hostile["id"]]["hard_because"] == ["margin"]
    assert refined[sent[1]["id"]]["hard_because"] == ["disagreement"]
    assert refined[sent[2]["id"]]["hard_because"] == ["micro"]
    assert refined[sent[1]["id"]]["device_label"] == "happiness"
    assert all(t.startswith(f"{prefix}/cabin-1/refined") for t, _, _ in refined_rec.messages)
    for r in refined.values():
        validate_refined(r)
        assert r["label"] == "surprise" and r["model"] == "scripted-1"
    # the events are exactly what was sent: nothing replaced, nothing added
    got = [json.loads(p) for p in events_rec.on("/events")]
    assert got == [start, *sent, hostile]
    assert llm.count() == 3
    for raw in llm.bodies:
        assert_text_only(raw, [e["id"] for e in (*sent, hostile)] + ["cabin-1", prefix])
    assert {h["authorization"] for h in llm.headers} == {"Bearer sk-hub-secret"}
    assert svc.stop() == 0
    assert wait_for(lambda: status_of(status_rec).get("state") == "offline")
    last = status_of(status_rec)
    assert last["counts"]["refined"] == 3 and last["counts"]["easy"] == 1
    assert "sk-hub-secret" not in "".join(svc.err)
    sink.close()
    for rec in (events_rec, refined_rec, status_rec):
        rec.close()


def test_cases_that_arrive_while_it_is_away_are_answered_when_it_returns(
    broker, llm, tmp_path, setup
):
    prefix, creds, write = setup
    refined_rec = Recorder(broker.port, f"{prefix}/+/refined")
    status_rec = Recorder(broker.port, f"{prefix}/reason/status")
    config = write()
    first = Service(config, creds)
    wait_for(lambda: status_of(status_rec).get("state") == "asking", 30)
    assert first.stop() == 0  # the broker keeps its session: QoS 1 events wait there
    sink = device(broker, tmp_path, prefix)
    for event in (close_scores(1), micro(2)):
        sink.emit(event)
    assert sink.flush(10)
    assert llm.count() == 0
    again = Service(config, creds)
    assert wait_for(lambda: len(refined_rec.on("/refined")) == 2, 30), again.err
    assert again.stop() == 0
    sink.close()
    refined_rec.close()
    status_rec.close()


def test_a_spent_budget_stops_the_asking_and_says_so(broker, llm, tmp_path, setup):
    prefix, creds, write = setup
    status_rec = Recorder(broker.port, f"{prefix}/reason/status")
    refined_rec = Recorder(broker.port, f"{prefix}/+/refined")
    svc = Service(write(), creds, "--set", "limits.daily_tokens=900", "--set", "llm.max_tokens=100")
    wait_for(lambda: status_of(status_rec).get("state") == "asking", 30)
    sink = device(broker, tmp_path, prefix)
    for event in (close_scores(1), micro(2), disagreeing(3)):
        sink.emit(event)
    assert wait_for(lambda: status_of(status_rec).get("state") == "budget_spent", 30), svc.err
    status = status_of(status_rec)
    assert "daily token budget of 900 spent" in status["detail"]
    assert "no requests until 00:00 UTC" in status["detail"]
    assert 0 < status["tokens_today"] <= 900 and llm.count() == 1
    assert wait_for(lambda: status_of(status_rec).get("counts", {}).get("skipped_budget") == 2)
    assert len(refined_rec.on("/refined")) == 1
    assert svc.stop() == 0
    later = Recorder(broker.port, f"{prefix}/reason/status")  # retained: a newcomer sees it
    assert wait_for(lambda: status_of(later).get("state") == "offline")
    assert any("budget" in line for line in svc.err)
    for rec in (status_rec, refined_rec, later):
        rec.close()
    sink.close()


def test_dry_run_prints_the_requests_and_sends_nothing(broker, llm, tmp_path, setup):
    prefix, creds, write = setup
    listen = Recorder(broker.port, f"{prefix}/#")
    svc = Service(write(), creds, "--dry-run")
    sink = device(broker, tmp_path, prefix)
    assert wait_for(lambda: "reading" in "".join(svc.err), 30), svc.err
    publish_raw(broker.port, f"{prefix}/cabin-1/events", with_private_data(disagreeing(1)))
    sink.emit(easy(2))
    assert wait_for(lambda: len(svc.out) == 1, 30), svc.err
    printed = json.loads(svc.out[0])
    assert printed["episode_id"] == disagreeing(1)["id"]
    assert printed["post"] == llm.base_url + "/chat/completions"
    assert_text_only(json.dumps(printed["body"]).encode(), ["cabin-1"])
    assert svc.stop() == 0
    assert llm.count() == 0
    ours = [t for t, _, _ in listen.messages if t.endswith("/refined") or "/reason/" in t]
    assert ours == []
    listen.close()
    sink.close()


def test_broker_credentials_and_the_shipped_acl(llm, tmp_path, monkeypatch):
    """With passwords and deploy/mosquitto/acl.conf: the hub logs in as microemo-reason with
    the password from its systemd credential, reads the device's events and writes refined
    readings and its status, which a dashboard user sees."""
    acl = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl.conf"
    pw = tmp_path / "passwd"
    users = {"cabin-1": "dev-pw", "microemo-reason": "hub-pw", "homeassistant": "ha-pw"}
    for i, (user, secret) in enumerate(users.items()):
        passwd(pw, user, secret, create=i == 0)
    b = Broker(tmp_path / "mosq", password_file=pw, extra=[f"acl_file {acl}"])
    try:
        dashboard = Recorder(b.port, "microemo/#", auth=("homeassistant", "ha-pw"))
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "mqtt_password").write_text("hub-pw\n")
        config = tmp_path / "reason.toml"
        config.write_text(
            f'[mqtt]\nhost = "127.0.0.1"\nport = {b.port}\nusername = "microemo-reason"\n'
            f'[llm]\nbase_url = "{llm.base_url}"\n'
            f'[service]\nstate_dir = "{tmp_path / "state"}"\n'
        )
        monkeypatch.delenv("MICROEMO_MQTT_PASSWORD", raising=False)
        svc = Service(config, creds)
        assert wait_for(lambda: status_of(dashboard).get("state") == "asking", 30), svc.err
        monkeypatch.setenv("MICROEMO_MQTT_PASSWORD", "dev-pw")  # the device's, read now
        sink = sink_for(b.port, tmp_path / "device", device="cabin-1",
                        **{"mqtt.username": "cabin-1"})  # fmt: skip
        monkeypatch.delenv("MICROEMO_MQTT_PASSWORD")
        sink.emit(micro(1))
        assert wait_for(lambda: len(dashboard.on("/cabin-1/refined")) == 1, 30), svc.err
        assert json.loads(dashboard.on("/cabin-1/refined")[0])["episode_id"] == micro(1)["id"]
        assert svc.stop() == 0
        sink.close()
        dashboard.close()
    finally:
        b.stop()


def test_a_broker_not_there_yet_is_said_once_then_used(llm, tmp_path, setup):
    _, creds, write = setup
    b = Broker(tmp_path / "late")
    b.stop()
    try:
        config = write()
        text = config.read_text()
        config.write_text(text.replace(f"port = {text.split('port = ')[1].split()[0]}",
                                       f"port = {b.port}", 1))  # fmt: skip
        svc = Service(config, creds)
        said = "cannot reach the broker at 127.0.0.1:"
        assert wait_for(lambda: said in "".join(svc.err), 30), svc.err
        b.start()
        assert wait_for(lambda: "reading" in "".join(svc.err), 30), svc.err
        assert "".join(svc.err).count(said) == 1
        assert svc.stop() == 0
    finally:
        b.stop()
