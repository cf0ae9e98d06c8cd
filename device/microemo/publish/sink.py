"""The sink interface: where the pipeline's events, face states and stats go.

A sink's methods are called from the frame loop and must return quickly: anything that
can block (network, slow disks) hands off to the sink's own thread or bounded outbox.
Sinks: ``local.JsonlSink`` (JSON lines to stdout or a file), ``mqtt.sink.MqttSink``;
``FanoutSink`` puts several behind one.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Sink(Protocol):
    def emit(self, event: dict[str, Any]) -> None:
        """Hand over one episode event (schema ``event.v1.json``)."""

    def face_state(self, face_id: int, state: dict[str, Any] | None) -> None:
        """The current state of a face, or None when the face left."""

    def stats(self, stats: dict[str, Any]) -> None:
        """Periodic health figures."""

    def close(self) -> None:
        """Flush what was accepted and release resources."""


class FanoutSink:
    """Several sinks behind one; a failing sink is logged once and does not stop the others."""

    def __init__(self, sinks: list[Any]) -> None:
        self.sinks = sinks
        self._failed: set[int] = set()

    def _each(self, method: str, *args: Any) -> None:
        for i, s in enumerate(self.sinks):
            try:
                getattr(s, method)(*args)
                self._failed.discard(i)
            except Exception:
                if i not in self._failed:
                    logger.exception("sink %s failed in %s", type(s).__name__, method)
                    self._failed.add(i)

    def emit(self, event: dict[str, Any]) -> None:
        self._each("emit", event)

    def face_state(self, face_id: int, state: dict[str, Any] | None) -> None:
        self._each("face_state", face_id, state)

    def stats(self, stats: dict[str, Any]) -> None:
        self._each("stats", stats)

    def close(self) -> None:
        self._each("close")
