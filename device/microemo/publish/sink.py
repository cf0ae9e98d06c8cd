"""The sink interface: where the pipeline's events, face states and stats go.

A sink's methods are called from the frame loop and must return quickly: anything that
can block (network, slow disks) hands off to the sink's own thread or bounded outbox.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import IO, Any, Protocol

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


class JsonlSink:
    """Events as one JSON object per line, to stdout or to a file (appended, line-buffered)."""

    def __init__(self, target: str | Path = "-", stream: IO[str] | None = None) -> None:
        self._own = False
        if stream is not None:
            self._out: IO[str] = stream
        elif str(target) == "-":
            self._out = sys.stdout
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out = path.open("a", buffering=1, encoding="utf-8")
            self._own = True
        self._lock = threading.Lock()
        self.count = 0

    def emit(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()
            self.count += 1

    def face_state(self, face_id: int, state: dict[str, Any] | None) -> None:
        return None

    def stats(self, stats: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._out.flush()
            if self._own:
                self._out.close()


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
