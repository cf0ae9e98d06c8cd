"""The examples in deploy/ for the status page and the events: the Prometheus scrape config
and alert rules pass promtool, the Grafana dashboard and the alerts ask only for metrics
the device serves, and the Node-RED flow listens on the topics the device publishes (and, when
Node-RED is installed, really shows an event from a real broker, once). The dashboard's
queries and the alert rules also run on a real Prometheus in test_status_run.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from daemon_kit import REPO, builder, start_step
from prometheus_client.parser import text_string_to_metric_families
from status_kit import free_port

from microemo.daemon.metrics import Metrics
from microemo.daemon.status.board import StatusBoard
from microemo.daemon.status.prom import exposition, registry
from microemo.publish.mqtt.topics import Topics

DEPLOY = REPO / "deploy"
FLOW = DEPLOY / "node-red" / "microemo-flow.json"


def served_names() -> set[str]:
    """Every sample name /metrics gives with MQTT on and an event counted."""
    health = {"connected": True, "spool_depth": 3, "dropped": 0}
    board = StatusBoard(health=lambda: health)
    board.emit(builder().build(start_step("ep-1", 0.0)))
    metrics = Metrics()
    metrics.stage("landmarker", 10.0)
    snap = {
        **metrics.snapshot(),
        "source": {"state": "ok", "losses": 0},
        "landmarker": {"workers": 2, "workers_ready": 2, "worker_restarts": 0},
        "model": {"name": "m", "version": "1"},
    }
    board.publish(snap, metrics)
    text = exposition(registry(board)).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_dashboard_and_alerts_ask_only_for_served_metrics():
    served = served_names()
    dashboard = json.loads((DEPLOY / "grafana" / "microemo-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    alerts = (DEPLOY / "prometheus" / "microemo-alerts.yml").read_text()
    asked = set(re.findall(r"\b(?:microemo|process)_[a-z_]+", " ".join(exprs) + alerts))
    assert asked and asked <= served, asked - served
    assert {"microemo_frames_total", "microemo_spool_pending", "microemo_info"} <= asked
    assert dashboard["uid"] == "microemo-devices"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance"}
    for panel in dashboard["panels"]:  # every query follows the device picker
        for target in panel.get("targets", []):
            assert 'instance=~"$instance"' in target["expr"], panel["title"]


@pytest.mark.parametrize(
    ("args", "name"),
    [(("check", "config"), "prometheus.yml"), (("check", "rules"), "microemo-alerts.yml")],
)
def test_prometheus_examples_pass_promtool(args, name):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("needs promtool: apt-get install prometheus (see .ci/run)")
    r = subprocess.run(
        [promtool, *args, name],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def flow_nodes() -> dict[str, dict]:
    return {n["id"]: n for n in json.loads(FLOW.read_text())}


def test_the_node_red_flow_listens_where_the_device_publishes():
    nodes = flow_nodes()
    device = Topics("microemo", "DEVICE")
    wanted = {device.events.replace("DEVICE", "+"), device.availability.replace("DEVICE", "+")}
    inputs = [n for n in nodes.values() if n["type"] == "mqtt in"]
    assert {n["topic"] for n in inputs} == wanted
    events = next(n for n in inputs if n["topic"].endswith("/events"))
    assert events["qos"] == "1" and events["datatype"] == "json"
    for n in nodes.values():  # everything wired to something that exists
        for out in n.get("wires", []):
            assert set(out) <= set(nodes), n["name"]
        if n["type"] == "mqtt in":
            assert nodes[n["broker"]]["type"] == "mqtt-broker"
        if "z" in n:
            assert nodes[n["z"]]["type"] == "tab"
    func = nodes[events["wires"][0][0]]
    assert func["type"] == "function" and 'e.id + "/" + e.phase' in func["func"]  # dedupe


def node_red() -> str:
    found = os.environ.get("NODE_RED") or shutil.which("node-red")
    if not found:
        pytest.skip("Node-RED not installed (npm install node-red; or NODE_RED=path/bin)")
    return found


def test_node_red_shows_each_episode_step_once(tmp_path):
    binary = node_red()
    import paho.mqtt.client as mqtt
    from tests.publish.mqtt.mqtt_kit import Broker

    broker = Broker(tmp_path / "mosquitto")
    nodes = json.loads(FLOW.read_text())
    for n in nodes:
        if n["type"] == "mqtt-broker":
            n["broker"], n["port"] = "127.0.0.1", str(broker.port)
    flows = tmp_path / "flows.json"
    flows.write_text(json.dumps(nodes))
    log_path = tmp_path / "node-red.log"
    cmd = [binary, "--userDir", str(tmp_path / "nr"), "--port", str(free_port()), str(flows)]
    proc = subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        wait_log(log_path, "Connected to broker", 60)
        time.sleep(0.5)  # its subscriptions are sent right after connecting
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        event = builder("kiosk-3").build(start_step("ep-1-000042", 1200.0))
        payload = json.dumps(event)
        for _ in range(2):  # a QoS 1 redelivery: shown once
            pub.publish("microemo/kiosk-3/events", payload, qos=1).wait_for_publish(5)
        pub.publish("microemo/kiosk-3/availability", "online", qos=1).wait_for_publish(5)
        line = wait_log(log_path, "kiosk-3 is online", 30)
    finally:
        pub.loop_stop()
        proc.terminate()
        proc.wait(30)
        broker.stop()
    log = log_path.read_text()
    shown = [x for x in log.splitlines() if "kiosk-3 face 0: start" in x]
    assert len(shown) == 1, log[-3000:]
    assert "start neutral; AUs -" in shown[0] and line


def wait_log(path: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in Node-RED's log:\n{path.read_text()[-3000:]}")
