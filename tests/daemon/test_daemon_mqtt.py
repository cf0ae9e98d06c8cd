"""The daemon with MQTT on, against a real Mosquitto: events, stats and availability reach
subscribers, the MQTT sink's spool numbers the events, and the update hook is attached.
(A fake pipeline on a real clip: this is about the wiring, not about faces.)"""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from daemon_kit import FakePipeline
from tests.conftest import wait_for

from microemo.config import load_config
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon
from microemo.publish.events import validate_event
from microemo.types import Classification, EpisodeStep

pytestmark = pytest.mark.broker


@pytest.fixture
def broker(tmp_path):
    from tests.publish.mqtt.mqtt_kit import Broker

    b = Broker(tmp_path / "mosquitto")
    yield b.port
    b.stop()


def episode_step(phase, n, frame_t, t_ms):
    cls = Classification(
        core="happiness",
        core_source="rules",
        core_score=0.9,
        micro="excited",
        micro_state="Happy",
        micro_rule="AU12+AU26",
        scores={"happiness": 0.9},
    )
    offset = frame_t if phase == "end" else None
    model = {"name": "facs-rules", "version": "builtin", "sha256": None}
    return EpisodeStep(
        phase, f"dtest-episode-{n:04d}", 0, t_ms, frame_t - 100, frame_t - 50, offset, cls,
        {"AU12": 3.0}, model,
    )  # fmt: skip


class EpisodePipeline(FakePipeline):
    """Takes a real start/end episode pair; the daemon's frame loop numbers the events."""

    def __init__(self):
        super().__init__(0.001, event_every=10**9)
        self.open = None

    def process(self, frame):
        result = super().process(frame)
        if len(self.seen) % 10 in (1, 6):
            n = len(self.seen) // 10
            phase = "start" if len(self.seen) % 10 == 1 else "end"
            self.open = (n, frame.t_ms) if phase == "start" else None
            result.steps.append(episode_step(phase, n, frame.t_ms, frame.t_ms))
        return result

    def finish(self, t_ms=None):
        super().finish(t_ms)
        ep, self.open = self.open, None
        return [] if ep is None else [episode_step("end", *ep, t_ms or 0.0)]


def test_events_stats_and_availability_reach_the_broker(tmp_path, clip, broker):
    got: list[tuple[str, bytes]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    sub.connect("127.0.0.1", broker)
    sub.subscribe("microemo/dtest/#", qos=1)
    sub.loop_start()
    config = load_config(
        None,
        {
            "device.id": "dtest",
            "device.state_dir": str(tmp_path / "state"),
            "source.type": "file",
            "source.path": str(clip),
            "source.loop": True,
            "output.jsonl": "",
            "mqtt.enabled": True,
            "mqtt.port": broker,
            "mqtt.stats_interval_s": 1.0,
            "mqtt.discovery": False,
        },
    )
    pipes: list[EpisodePipeline] = []

    def factory(cfg, *, bundle=None):
        pipes.append(EpisodePipeline())
        return pipes[-1]

    daemon = Daemon(config, notifier=Notifier({}), pipeline_factory=factory)
    daemon.start()
    assert daemon.updates is not None  # model updates listen on the command topic
    runner = threading.Thread(target=daemon.run)
    runner.start()

    def on(topic):
        return [p for t, p in got if t == f"microemo/dtest/{topic}"]

    try:
        wait_for(lambda: len(on("events")) >= 6 and on("stats"), timeout=20)
    finally:
        daemon.request_stop("test")
        runner.join(30)
    wait_for(lambda: b"offline" in on("availability"), timeout=20)
    sub.loop_stop()
    events = [json.loads(p) for p in on("events")]
    for e in events:
        validate_event(e)
    ids = {e["id"] for e in events}
    assert {e["id"] for e in events if e["phase"] == "end"} == ids  # stop ended nothing open
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    stats = json.loads(on("stats")[-1])
    assert stats["device_id"] == "dtest" and stats["fps"] > 0 and "stage_ms" in stats
    assert on("availability")[0] == b"online"
