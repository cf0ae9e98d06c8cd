"""The status server in the daemon (a fake pipeline on a real clip, real HTTP on a free
port): /api/status, /metrics as Prometheus' own parser reads it, the live stream, basic auth,
the preview's refusals, a busy port, a reload that moves the page."""

from __future__ import annotations

import socket

import cv2
import numpy as np
import pytest
from daemon_kit import FakePipeline
from prometheus_client.parser import text_string_to_metric_families
from status_kit import free_port, get, running, sse_events
from tests.conftest import wait_for

from microemo.config import load_config
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon, DaemonError
from microemo.daemon.status import check, is_local

REQUIRED = {  # family names as the parser gives them (counters without _total)
    "microemo_frames": "counter",
    "microemo_frames_dropped": "counter",
    "microemo_faces": "gauge",
    "microemo_events": "counter",
    "microemo_worker_restarts": "counter",
    "microemo_frame_latency_seconds": "histogram",
    "microemo_event_latency_seconds": "histogram",
    "microemo_stage_seconds": "histogram",
    "microemo_info": "gauge",  # an info metric: text format 0.0.4 has no such type
}
IDENTIFYING = {"face", "face_id", "id", "episode", "episode_id"}


def config(tmp_path, clip, port, **status):
    sets = {
        "device.id": "status-test",
        "device.state_dir": str(tmp_path / "state"),
        "source.type": "file",
        "source.path": str(clip),
        "source.loop": True,
        "output.jsonl": str(tmp_path / "events.jsonl"),
        "status.enabled": True,
        "status.port": port,
        "status.interval_s": 0.2,
        **{f"status.{k}": v for k, v in status.items()},
    }
    return load_config(None, sets)


def daemon(cfg, **kwargs) -> Daemon:
    return Daemon(
        cfg,
        notifier=Notifier({}),
        pipeline_factory=lambda c, **kw: FakePipeline(0.002, event_every=5),
        **kwargs,
    )


def base(d: Daemon) -> str:
    assert d.status is not None
    host, port = d.status.address
    return f"http://{host}:{port}"


def test_status_json_metrics_and_stream_tell_the_same_story(tmp_path, clip):
    with running(daemon(config(tmp_path, clip, free_port()))) as d:
        url = base(d)
        wait_for(lambda: get(url + "/api/status").json()["events"] >= 3)
        before = get(url + "/api/status").json()
        text = get(url + "/metrics")
        after = get(url + "/api/status").json()
        stream = sse_events(url + "/events", 2)
    assert before["schema"] == "microemo.status/1" and before["device_id"] == "status-test"
    assert before["fps"] > 0 and before["model"]["name"] == "fake"
    assert before["mqtt"] == {"enabled": False} and before["preview"]["on"] is False
    assert before["episodes"] and before["episodes"][0]["phase"] == "start"

    assert text.status == 200 and text.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text.body.decode())}
    for name, kind in REQUIRED.items():
        assert families[name].type == kind, name
    value = {s.name: s.value for f in families.values() for s in f.samples if not s.labels}
    # what /metrics says lies between two /api/status replies around it
    assert before["frames_processed"] <= value["microemo_frames_total"]
    assert value["microemo_frames_total"] <= after["frames_processed"]
    events = sum(s.value for s in families["microemo_events"].samples)
    assert before["events"] <= events <= after["events"]
    assert {s.labels["phase"] for s in families["microemo_events"].samples} == {"start"}
    lat = families["microemo_frame_latency_seconds"].samples
    inf = next(s.value for s in lat if s.labels.get("le") == "+Inf")
    assert (
        inf == next(s.value for s in lat if s.name.endswith("_count")) >= before["frames_processed"]
    )
    for f in families.values():
        assert f.name.startswith(("microemo", "process_")), f.name
        for s in f.samples:
            assert not IDENTIFYING & set(s.labels), (s.name, s.labels)
    info = families["microemo_info"].samples[0]
    assert info.labels["model_name"] == "fake" and info.labels["device"] == "status-test"

    assert stream[0]["fps"] >= 0 and "frames_processed" in stream[1]
    assert stream[1]["frames_processed"] >= stream[0]["frames_processed"]


def test_a_password_guards_every_path(tmp_path, clip, monkeypatch):
    monkeypatch.setenv("MICROEMO_STATUS_PASSWORD", "s3cret pass")
    with running(daemon(config(tmp_path, clip, free_port(), username="owner"))) as d:
        url = base(d)
        wait_for(lambda: d.metrics.processed > 3)
        for path in ("/", "/api/status", "/metrics", "/events", "/preview.jpg", "/nothing"):
            bare = get(url + path)
            assert bare.status == 401, path
            assert bare.headers["WWW-Authenticate"].startswith('Basic realm="microemo"')
            assert get(url + path, "owner", "wrong").status == 401
            assert get(url + path, "microemo", "s3cret pass").status == 401
        assert get(url + "/api/status", "owner", "s3cret pass").json()["fps"] >= 0
        page = get(url + "/", "owner", "s3cret pass")
        assert page.status == 200 and b"EventSource" in page.body
        assert b"http" not in page.body.split(b"<script>")[1]  # nothing fetched elsewhere


def test_preview_is_served_only_when_turned_on(tmp_path, clip):
    with running(daemon(config(tmp_path, clip, free_port()))) as d:
        wait_for(lambda: d.metrics.processed > 3)
        off = get(base(d) + "/preview.jpg")
    assert off.status == 404 and b"status.preview = true" in off.body

    with running(daemon(config(tmp_path, clip, free_port(), preview=True))) as d:
        wait_for(lambda: d.metrics.processed > 3)
        on = get(base(d) + "/preview.jpg")
        assert get(base(d) + "/api/status").json()["preview"] == {"on": True, "fps": 2.0}
    assert on.status == 200 and on.headers["Content-Type"] == "image/jpeg"
    assert on.headers["Cache-Control"] == "no-store"
    picture = cv2.imdecode(np.frombuffer(on.body, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[1] <= 640


def test_preview_beyond_localhost_without_a_password_is_refused(tmp_path, clip, monkeypatch):
    monkeypatch.delenv("MICROEMO_STATUS_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = config(tmp_path, clip, free_port(), host="0.0.0.0", preview=True)
    d = daemon(cfg)
    with pytest.raises(DaemonError) as err:
        d.start()
    d.shutdown()
    msg = str(err.value)
    assert "status.preview = true on status.host = '0.0.0.0' without a password" in msg
    assert "status_password" in msg and 'status.host = "127.0.0.1"' in msg
    assert d.capture is None  # refused before the camera opened
    assert check(cfg, {"MICROEMO_STATUS_PASSWORD": "x"}) == "x"
    assert check(config(tmp_path, clip, 1, host="localhost", preview=True), {}) is None
    assert is_local("::1") and is_local("127.0.0.2") and not is_local("cabin.local")


def test_a_busy_port_stops_the_start_with_the_key_to_change(tmp_path, clip):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        d = daemon(config(tmp_path, clip, port))
        with pytest.raises(DaemonError, match=rf"status.port = {port}: cannot listen there"):
            d.start()
        d.shutdown()
    assert d.capture is None


def test_a_reload_moves_the_page_and_turning_it_off_closes_it(tmp_path, clip):
    first, second = free_port(), free_port()
    path = tmp_path / "microemo.toml"

    def write(port: int, enabled: bool) -> None:
        path.write_text(
            f'[source]\ntype = "file"\npath = "{clip}"\nloop = true\n'
            f'[device]\nstate_dir = "{tmp_path / "state"}"\n[output]\njsonl = ""\n'
            f"[status]\nenabled = {str(enabled).lower()}\nport = {port}\n"
        )

    write(first, True)
    with running(daemon(load_config(path), config_path=path)) as d:
        wait_for(lambda: get(f"http://127.0.0.1:{first}/api/status").status == 200)
        write(second, True)
        d.request_reload()
        wait_for(lambda: d.status is not None and d.status.address[1] == second)
        wait_for(lambda: get(f"http://127.0.0.1:{second}/api/status").json()["fps"] > 0)
        with pytest.raises(OSError):
            get(f"http://127.0.0.1:{first}/api/status")
        write(second, False)
        d.request_reload()
        wait_for(lambda: d.status is None and d.config.status.enabled is False)
        with pytest.raises(OSError):
            get(f"http://127.0.0.1:{second}/api/status")


WITHOUT_CLIENT = """
import sys
sys.modules["prometheus_client"] = None  # as if it were not installed
sys.path.insert(0, "tests/daemon")
from daemon_kit import FakePipeline
from microemo.config import load_config
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon, DaemonError
cfg = load_config(None, {"source.type": "file", "source.path": sys.argv[1],
    "source.realtime": False, "device.state_dir": sys.argv[2], "output.jsonl": "",
    "status.enabled": sys.argv[3] == "on", "status.port": int(sys.argv[4])})
d = Daemon(cfg, notifier=Notifier({}), pipeline_factory=lambda c, **kw: FakePipeline(0.0))
try:
    d.start()
except DaemonError as exc:
    d.shutdown()
    sys.exit(f"refused: {exc}")
d.run()
print("frames", d.metrics.processed)
"""


@pytest.mark.parametrize("status", ["off", "on"])
def test_without_the_metrics_library_only_the_status_page_is_refused(tmp_path, clip, status):
    import subprocess
    import sys

    from daemon_kit import REPO

    r = subprocess.run(
        [sys.executable, "-c", WITHOUT_CLIENT, str(clip), str(tmp_path), status, str(free_port())],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if status == "off":  # the device starts and plays the clip through
        assert r.returncode == 0 and int(r.stdout.split()[-1]) > 30, r.stderr[-2000:]
    else:
        assert r.returncode == 1
        assert "status.enabled = true but /metrics cannot load" in r.stderr
        assert (
            "install prometheus-client (reinstall microemo) or set status.enabled = false"
            in r.stderr
        )
