"""What the status page knows of the daemon: one snapshot, handed over by the frame loop.

Every write happens on the frame loop's thread and costs next to nothing there: ``tap``
keeps a reference to the newest (frame, result) pair (one assignment a frame; nothing is
copied or drawn), ``emit`` (the board is a sink) counts an event and keeps its episode's
summary, and every ``status.interval_s`` ``publish`` builds a ``Published`` snapshot from
those and the daemon's figures and swaps it in whole. The server's threads only read: the
current ``Published`` (never half of one: it is replaced, not changed) and, for the
preview, the newest pair, whose arrays nothing changes after the frame is processed.

Per-face state beyond emotions (the cabin stage's eyes and attention, say) comes in through
``extras``: name -> a function of the ``FrameResult`` giving ``{face_id: {key: value}}``;
the page shows each as a small table of keys and values under the face.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from microemo import __version__
from microemo.daemon.metrics import Metrics
from microemo.emotion.rules import CORE_EMOTIONS
from microemo.types import Frame, FrameResult

SCHEMA = "microemo.status/1"
PHASES = ("start", "update", "end")
KINDS = ("micro", "macro")

# a newest frame older than this (a camera lost or frozen) shows no face: its faces are gone
STALE_S = 2.0
# name -> result -> {face_id: {key: value}} (scalars the page shows as they are)
FaceExtra = Callable[[FrameResult], Mapping[int, Mapping[str, Any]]]
Health = Callable[[], Mapping[str, Any]]


class Published:
    """One snapshot: the /api/status document, the histograms and event counts /metrics
    reads, and a version number that grows with each. Never changed once made."""

    __slots__ = ("_json", "events", "histograms", "status", "version")

    def __init__(
        self,
        version: int,
        status: dict[str, Any],
        histograms: dict[str, tuple[list[int], float]],
        events: dict[tuple[str, str, str], int],
    ) -> None:
        self.version = version
        self.status = status
        self.histograms = histograms
        self.events = events
        self._json: bytes | None = None

    def json(self) -> bytes:
        """The status as JSON, encoded once by the first reader that asks (off the loop)."""
        if self._json is None:
            self._json = json.dumps(self.status, separators=(",", ":")).encode()
        return self._json


def event_labels(event: Mapping[str, Any]) -> tuple[str, str, str]:
    """(phase, kind, emotion) of an event, each from a small fixed set, so that a metric
    labelled by them stays small whatever a model or a future schema puts in."""
    phase = event.get("phase")
    kind = event.get("kind")
    emotion = event.get("core_emotion")
    return (
        phase if phase in PHASES else "other",
        kind if kind in KINDS else "unknown",
        emotion if emotion in CORE_EMOTIONS else "other",
    )


def episode_summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the page lists of an episode: its latest step, without scores."""
    aus = event.get("aus") or []
    return {
        "id": event.get("id"),
        "phase": event.get("phase"),
        "face_id": event.get("face_id"),
        "time": event.get("time"),
        "kind": event.get("kind"),
        "core_emotion": event.get("core_emotion"),
        "micro_emotion": event.get("micro_emotion"),
        "micro_rule": event.get("micro_rule"),
        "duration_ms": event.get("duration_ms"),
        "aus": [a.get("au") for a in aus if isinstance(a, Mapping)],
        # the face regions that carried it; "within": it rose on top of a held episode
        "regions": event.get("regions") or [],
        "within": event.get("within"),
    }


class StatusBoard:
    """The hand-over between the frame loop (writer) and the status server (readers)."""

    def __init__(
        self,
        *,
        episodes: int = 20,
        preview_fps: float | None = None,
        extras: Mapping[str, FaceExtra] | None = None,
        health: Health | None = None,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.preview_fps = preview_fps  # None: the preview is off
        self._extras = dict(extras or {})
        self._health = health
        self._wall = wall
        self._clock = clock
        self._keep = episodes
        self._latest: tuple[Frame, FrameResult] | None = None
        self._episodes: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._cond = threading.Condition()
        self.published: Published | None = None
        self.closed = False

    @property
    def preview(self) -> bool:
        return self.preview_fps is not None

    # -- the frame loop's side ---------------------------------------------------------------
    def tap(self, frame: Frame, result: FrameResult) -> None:
        """Every processed frame: keep the newest pair (a reference, nothing copied)."""
        self._latest = (frame, result)

    def emit(self, event: dict[str, Any]) -> None:
        labels = event_labels(event)
        self._counts[labels] = self._counts.get(labels, 0) + 1
        eid = str(event.get("id"))
        self._episodes[eid] = episode_summary(event)
        self._episodes.move_to_end(eid)
        while len(self._episodes) > self._keep:
            self._episodes.popitem(last=False)

    def face_state(self, face_id: int, state: dict[str, Any] | None) -> None:
        return None  # the faces come from the newest frame's result (``tap``)

    def stats(self, stats: dict[str, Any]) -> None:
        return None  # ``publish`` takes the daemon's figures at the page's own rate

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def publish(self, snap: Mapping[str, Any], metrics: Metrics) -> Published:
        """Build the next snapshot from the daemon's ``snap`` (``Daemon.snapshot``) and what
        the board gathered, and hand it to the readers. On the frame loop's thread."""
        status = dict(snap)
        status["schema"] = SCHEMA
        status["version"] = __version__
        status["time"] = self._wall()
        status["faces"] = self._faces()
        status["episodes"] = list(reversed(self._episodes.values()))  # newest first
        status["mqtt"] = {"enabled": False}
        if self._health is not None:
            h = self._health()
            status["mqtt"] = {
                "enabled": True,
                "connected": bool(h.get("connected")),
                "spool_pending": int(h.get("spool_depth", 0)),
                "spool_dropped": int(h.get("dropped", 0)),
            }
        status["preview"] = {"on": self.preview, "fps": self.preview_fps}
        hist = {
            "frame_latency": metrics.frame_latency.histogram(),
            "event_latency": metrics.event_latency.histogram(),
            **{f"stage:{k}": v.histogram() for k, v in metrics.stages.items()},
        }
        version = self.published.version + 1 if self.published else 1
        published = Published(version, status, hist, dict(self._counts))
        with self._cond:
            self.published = published
            self._cond.notify_all()
        return published

    def _faces(self) -> list[dict[str, Any]]:
        latest = self._latest
        if latest is None or self._clock() - latest[0].captured_at > STALE_S:
            return []
        result = latest[1]
        extra = {name: fn(result) for name, fn in self._extras.items()}
        faces = []
        for face_id, state in sorted(result.emotions.items()):
            face = {"face_id": face_id, **state}
            face["extra"] = {
                name: dict(per_face[face_id])
                for name, per_face in extra.items()
                if face_id in per_face
            }
            faces.append(face)
        return faces

    # -- the server's side -------------------------------------------------------------------
    def latest(self) -> tuple[Frame, FrameResult] | None:
        """The newest (frame, result) pair: read only, draw on a copy."""
        return self._latest

    def wait_newer(self, version: int, timeout: float) -> Published | None:
        """The first snapshot newer than ``version``, waiting up to ``timeout`` for it; None
        when none came or the board closed."""

        def ready() -> bool:
            p = self.published
            return self.closed or (p is not None and p.version > version)

        with self._cond:
            self._cond.wait_for(ready, timeout)
            p = self.published
        if self.closed or p is None or p.version <= version:
            return None
        return p
