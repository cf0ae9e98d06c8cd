"""``/metrics``: the board's current snapshot as Prometheus text (the official client).

A custom collector, as client_python advises for figures kept elsewhere: nothing is counted
twice and the frame loop never calls into the client library; a scrape reads the last
``Published`` snapshot (at most ``status.interval_s`` old). Names follow Prometheus' rules:
base units (seconds), counters ending in ``_total``, one ``_info`` metric for versions, and
labels from small fixed sets (stage names, event phase/kind/emotion), never a face or an
episode id. The MQTT figures appear only when MQTT is on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from microemo.daemon.metrics import BUCKETS_MS
from microemo.daemon.status.board import Published, StatusBoard

CONTENT_TYPE = CONTENT_TYPE_LATEST
# (name without _total, help, key in the status document)
COUNTERS = (
    ("microemo_frames", "Frames the pipeline processed.", "frames_processed"),
    ("microemo_frames_captured", "Frames the source delivered.", "frames_captured"),
    (
        "microemo_frames_dropped",
        "Frames dropped: a newer one came first, or a landmarker worker died with it.",
        "frames_dropped",
    ),
    (
        "microemo_frames_over_budget",
        "Frames that took longer than daemon.budget_ms.",
        "over_budget",
    ),
    ("microemo_pipeline_errors", "Frames the pipeline failed on (skipped).", "pipeline_errors"),
    ("microemo_watchdog_stalls", "Frame loop stalls the watchdog saw.", "stalls"),
)


def _histogram(name: str, help_: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, help_, labels=labels)


def _add(family: HistogramMetricFamily, values: list[str], hist: tuple[list[int], float]) -> None:
    counts, total_ms = hist
    buckets, running = [], 0
    for bound, n in zip(BUCKETS_MS, counts):
        running += n
        buckets.append((floatToGoString(bound / 1000.0), float(running)))
    buckets.append(("+Inf", float(running + counts[-1])))
    family.add_metric(values, buckets, total_ms / 1000.0)


class StatusCollector(Collector):
    def __init__(self, board: StatusBoard) -> None:
        self.board = board

    def collect(self) -> Iterator[Metric]:
        p = self.board.published
        if p is None:
            return
        s = p.status
        for name, help_, key in COUNTERS:
            yield CounterMetricFamily(name, help_, value=float(s.get(key, 0)))
        yield GaugeMetricFamily("microemo_faces", "Faces in view.", value=len(s["faces"]))
        yield from self._events(p)
        yield from self._source(s)
        yield from self._mqtt(s["mqtt"])
        yield from self._latency(p)
        model = s.get("model") or {}
        yield InfoMetricFamily(
            "microemo",
            "microemo and the model it runs.",
            value={
                "version": str(s.get("version", "")),
                "device": str(s.get("device_id", "")),
                "model_name": str(model.get("name", "")),
                "model_version": str(model.get("version", "")),
            },
        )

    @staticmethod
    def _events(p: Published) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "microemo_events",
            "Episode events handed to the sinks, by phase, kind and core emotion.",
            labels=["phase", "kind", "emotion"],
        )
        for labels, n in sorted(p.events.items()):
            events.add_metric(list(labels), float(n))
        yield events

    @staticmethod
    def _source(s: dict[str, Any]) -> Iterator[Metric]:
        src = s.get("source") or {}
        yield GaugeMetricFamily(
            "microemo_camera_up",
            "1 while the source delivers frames.",
            value=src.get("state") == "ok",
        )
        yield CounterMetricFamily(
            "microemo_camera_losses", "Times the source was lost.", value=src.get("losses", 0)
        )
        lm = s.get("landmarker") or {}
        yield GaugeMetricFamily(
            "microemo_workers", "Landmarker worker processes.", value=lm.get("workers", 1)
        )
        yield GaugeMetricFamily(
            "microemo_workers_ready",
            "Landmarker workers ready.",
            value=lm.get("workers_ready", 1),
        )
        yield CounterMetricFamily(
            "microemo_worker_restarts",
            "Landmarker workers that died and were replaced.",
            value=lm.get("worker_restarts", 0),
        )

    @staticmethod
    def _mqtt(m: dict[str, Any]) -> Iterator[Metric]:
        if not m.get("enabled"):
            return
        yield GaugeMetricFamily(
            "microemo_mqtt_connected", "1 while connected to the broker.", value=m["connected"]
        )
        yield GaugeMetricFamily(
            "microemo_spool_pending",
            "Events in the spool not yet acknowledged by the broker.",
            value=m["spool_pending"],
        )
        yield CounterMetricFamily(
            "microemo_spool_dropped",
            "Events dropped because the spool was full (over the spool's life).",
            value=m["spool_dropped"],
        )

    @staticmethod
    def _latency(p: Published) -> Iterator[Metric]:
        h = p.histograms
        for key, name, help_ in (
            ("frame_latency", "microemo_frame_latency_seconds", "Capture to result."),
            ("event_latency", "microemo_event_latency_seconds", "Capture to event sent."),
        ):
            family = _histogram(name, help_, [])
            _add(family, [], h[key])
            yield family
        stages = _histogram(
            "microemo_stage_seconds", "Time per frame in each pipeline stage.", ["stage"]
        )
        for key, hist in sorted(h.items()):
            if key.startswith("stage:"):
                _add(stages, [key.removeprefix("stage:")], hist)
        yield stages


def registry(board: StatusBoard) -> CollectorRegistry:
    """A registry of our own (not the library's global one): the board's figures and the
    process's CPU, memory and start time."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StatusCollector(board))
    ProcessCollector(namespace="", registry=reg)
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
