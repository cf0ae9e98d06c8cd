"""Retained face states, latest-wins and rate-limited, for ``MqttSink``.

The frame loop writes with ``set`` (a dict assignment under a lock, never blocks on I/O);
the link thread calls ``due`` to take what should go out now. A face whose state was
published less than ``interval_s`` ago keeps only its newest pending state; a face that
left (state None) is cleared at once with an empty retained payload. The device summary
also carries the device's own condition (``set_device``: clock synchronised, spool writable,
events lost), sent again when that changes.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from microemo.publish.mqtt import discovery

State = dict[str, Any]


class FaceStates:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._pending: dict[int, State | None] = {}
        self.current: dict[int, State] = {}  # what the broker holds (link thread only)
        self._sent_at: dict[int, float] = {}
        self.retained: set[int] = set()  # faces with a retained state at the broker
        self._summary_at = 0.0
        self._summary_faces = -1
        self._summary_dirty = False
        self._device: State = {}

    def set_device(self, fields: State) -> None:
        """The device's condition for the summary (link thread); a change makes it due."""
        if fields != self._device:
            self._device = dict(fields)
            self._summary_dirty = True

    def set(self, face_id: int, state: State | None) -> None:
        with self._lock:
            self._pending[face_id] = state

    def is_pending(self, face_id: int) -> bool:
        with self._lock:
            return face_id in self._pending

    def resend_all(self) -> None:
        """After a (re)connect: every current state goes out again at the next ``due``."""
        self._sent_at.clear()
        self._summary_faces = -1
        with self._lock:
            for face_id, state in self.current.items():
                self._pending.setdefault(face_id, state)

    def due(self, now: float | None = None) -> list[tuple[int, State | None]]:
        """Take the states to publish now and record them as published."""
        now = time.monotonic() if now is None else now
        with self._lock:
            ready = [
                (f, s)
                for f, s in self._pending.items()
                if s is None or now - self._sent_at.get(f, -1e9) >= self.interval_s
            ]
            for f, _ in ready:
                del self._pending[f]
        for face_id, state in ready:
            if state is None:
                self.current.pop(face_id, None)
                self._sent_at.pop(face_id, None)
                self.retained.discard(face_id)
            else:
                self.current[face_id] = state
                self._sent_at[face_id] = now
                self.retained.add(face_id)
        self._summary_dirty = self._summary_dirty or bool(ready)
        return ready

    def summary_due(self, now: float | None = None) -> State | None:
        """The device summary when the face count changed, or at most every interval."""
        now = time.monotonic() if now is None else now
        changed = len(self.current) != self._summary_faces
        if not (changed or (self._summary_dirty and now - self._summary_at >= self.interval_s)):
            return None
        self._summary_at, self._summary_faces = now, len(self.current)
        self._summary_dirty = False
        return {**discovery.summary_state(self.current), **self._device}
