"""As a person installing a unit would check it: ``microemo run`` plays a real clip (real
MediaPipe, a real Mosquitto) with the status page and its camera preview on; a real headless
Chromium opens the page and the figures are read from what it rendered; a real Prometheus
scrapes /metrics; nothing of the preview reaches the broker. One daemon run for all of it
(the landmarker is the costly part)."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import cv2
import numpy as np
import pytest
from daemon_kit import REPO
from status_kit import chromium, free_port, get, read_page, wait_page
from tests.conftest import wait_for

from microemo.emotion.rules import CORE_EMOTIONS
from microemo.model.appearance import appearance_dir

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        not (REPO / "models" / "face_landmarker.task").exists(),
        reason="face_landmarker.task not fetched",
    ),
]
JPEG_START = b"\xff\xd8\xff"
ALERTS = REPO / "deploy" / "prometheus" / "microemo-alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "microemo-dashboard.json"
# Grafana's variables as a short scrape here makes them
GRAFANA_VARS = {"$__rate_interval": "5s", "$__range": "1m", "$instance": ".*"}


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables filled in) of every dashboard panel."""
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            out.append((panel["title"], expr))
    return out


def start_run(clip: Path, tmp_path: Path, port: int, broker_port: int) -> subprocess.Popen:
    sets = {
        "device.id": "status-e2e",
        "device.state_dir": f"{tmp_path}/state",
        "output.jsonl": f"{tmp_path}/events.jsonl",
        "source.loop": "true",
        "landmarker.workers": "2",
        "mqtt.enabled": "true",
        "mqtt.port": str(broker_port),
        "mqtt.stats_interval_s": "1",
        "status.enabled": "true",
        "status.port": str(port),
        "status.preview": "true",
    }
    cmd = [sys.executable, "-m", "microemo.cli", "run", "--config"]
    cmd += [str(REPO / "firmware_config" / "desktop.toml"), "--source", str(clip)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    log = (tmp_path / "run.log").open("w")
    return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)


def start_prometheus(tmp_path: Path, target_port: int) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("needs Prometheus: apt-get install prometheus (see .ci/run)")
    port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{ALERTS}']\n"
        "scrape_configs:\n"
        "  - job_name: microemo\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    cmd = [binary, f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
    cmd += [f"--web.listen-address=127.0.0.1:{port}"]
    log = (tmp_path / "prometheus.log").open("w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), f"http://127.0.0.1:{port}"


def query(prom: str, expr: str) -> list[dict]:
    """The result of an instant query; an expression Prometheus refuses fails the test."""
    reply = get(f"{prom}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert reply.status == 200, (expr, reply.body[:300])
    return reply.json()["data"]["result"]


def test_a_person_sees_it_working(tmp_path, clip):
    import paho.mqtt.client as mqtt
    from tests.publish.mqtt.mqtt_kit import Broker

    broker = Broker(tmp_path / "mosquitto")
    seen: list[tuple[str, bytes]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: seen.append((m.topic, m.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("#")
    sub.loop_start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_run(clip, tmp_path, port, broker.port)
    prom, prom_url = start_prometheus(tmp_path, port)
    try:
        wait_for(lambda: proc.poll() is None and _processed(url) > 30, timeout=180)
        with chromium() as browser:
            browser.get(url + "/")
            wait_page(browser, lambda b: _ready(read_page(b)), timeout=60)
            page = read_page(browser)
            api = get(url + "/api/status").json()
            browser.save_screenshot(str(tmp_path / "status-page.png"))
        wait_for(lambda: query(prom_url, "microemo_frames_total > 30"), timeout=60)
        wait_for(lambda: query(prom_url, "count_over_time(microemo_frames_total[5s]) > 3"))
        panels = [(title, expr, query(prom_url, expr)) for title, expr in dashboard_queries()]
        rules = get(f"{prom_url}/api/v1/rules").json()["data"]["groups"][0]["rules"]
        scraped = {
            "up": query(prom_url, 'up{job="microemo"}'),
            "info": query(prom_url, "microemo_info"),
            "connected": query(prom_url, "microemo_mqtt_connected"),
            "workers": query(prom_url, "microemo_workers_ready"),
            "latency": query(prom_url, "microemo_frame_latency_seconds_count"),
        }
        preview = get(url + "/preview.jpg")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, (tmp_path / "run.log").read_text()[-2000:]
    finally:
        for p in (proc, prom):
            if p.poll() is None:
                p.kill()
                p.wait()
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
    print(f"screenshot: {tmp_path / 'status-page.png'}")

    # the figures on the page are the daemon's own
    f = page["figures"]
    assert float(f["fps"]) > 0 and abs(float(f["fps"]) - api["fps"]) < 10
    assert f["workers"] == "2 / 2" and f["camera"] == "ok" and f["broker"] == "connected"
    assert f["model"] == f"{api['model']['name']} {api['model']['version']}"
    # the appearance model that decides core_emotion with the AUs is named, as the bundle is
    builtin_raw = (appearance_dir("builtin") / "appearance.json").read_bytes()
    builtin = json.loads(builtin_raw)
    assert api["appearance"] == {
        "name": builtin["name"],
        "version": builtin["version"],
        "sha256": builtin["files"]["appearance.tflite"],
        "manifest_sha256": hashlib.sha256(builtin_raw).hexdigest(),
    }
    assert f["device"] == "status-e2e" and f["face-count"] == "1"
    (face,) = page["faces"]
    assert len(face["bars"]) == 19 and max(face["bars"].values()) > 0.2  # a face that moves
    core, score = face["emotion"].split()[:2]  # e.g. "happiness 0.86 · hopeful (AU12+AU1)"
    assert core in CORE_EMOTIONS and 0 <= float(score) <= 1  # (which one depends on the frame)
    assert "Camera preview is ON" in page["notice"] and page["preview_width"] > 0

    # Prometheus scraped it and reads what the page reads
    assert scraped["up"][0]["value"][1] == "1"
    labels = scraped["info"][0]["metric"]
    assert labels["model_name"] == api["model"]["name"] and labels["device"] == "status-e2e"
    assert scraped["connected"][0]["value"][1] == "1"
    assert scraped["workers"][0]["value"][1] == "2"
    assert float(scraped["latency"][0]["value"][1]) > 30

    # every Grafana panel's query runs and shows something (episodes only once one ended)
    assert len(panels) >= 15
    for title, expr, result in panels:
        assert result or 'phase="end"' in expr, (title, expr)
    # the alert rules load and evaluate; with the device, its camera and the broker up, those
    # alerts stay quiet (drops depend on this machine's load: pending at worst, never firing)
    assert len(rules) == 6
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    state = {r["name"]: r["state"] for r in rules}
    quiet = ("MicroemoDown", "MicroemoCameraDown", "MicroemoNoFrames", "MicroemoBrokerAway")
    assert {name: state[name] for name in quiet} == dict.fromkeys(quiet, "inactive")
    assert "firing" not in state.values()

    # the preview is a picture of the clip, served here; the broker never saw one
    picture = cv2.imdecode(np.frombuffer(preview.body, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (360, 480)
    assert seen, "nothing reached the broker"
    assert not [t for t, payload in seen if JPEG_START in payload]
    assert max(len(payload) for _, payload in seen) < 20_000
    assert any(t.endswith("/events") for t, _ in seen)


def _processed(url: str) -> int:
    try:
        reply = get(url + "/api/status")
    except OSError:
        return 0
    return json.loads(reply.body).get("frames_processed", 0) if reply.status == 200 else 0


def _ready(page: dict) -> bool:
    f = page["figures"]
    return bool(page["faces"] and page["preview_width"] and f["fps"] not in ("-", "0.0"))
