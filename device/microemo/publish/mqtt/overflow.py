"""Events the spool could not commit, held in memory until it can or the broker takes them.

When the disk refuses a write (full, remounted read-only, failing), the sink's writer puts
the rows here instead of losing them. The link publishes them once everything already in
the spool has gone out (so each face's events stay in order) and forgets each at its
PUBACK; the writer tries the spool again with every burst and at least every few seconds,
and commits the rows not handed to the broker yet, oldest first, before anything newer.

Bounded: past ``limit`` rows the oldest not in flight are dropped and counted
(``dropped``; ``unsaved_drops`` of them still to be added to the spool's persisted counter
once it takes writes again). Row ids are negative, so they never meet the spool's.
"""

from __future__ import annotations

import threading

from microemo.publish.mqtt.spool import EpisodeMark, SpooledEvent

Row = tuple[str, str, bytes, EpisodeMark]  # key, topic, payload, open-episode mark


class Overflow:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._rows: dict[int, Row] = {}  # oldest first
        self._out: set[int] = set()  # handed to the client, waiting for the PUBACK
        self._next_id = -1
        self.dropped = 0
        self.unsaved_drops = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def out(self) -> int:
        """Rows handed to the client and not acknowledged (the broker may have them)."""
        return len(self._out)

    def add(self, rows: list[Row]) -> int:
        """Keep ``rows`` (newest last); past ``limit`` drop the oldest not in flight.
        Returns how many were dropped."""
        with self._lock:
            for row in rows:
                self._rows[self._next_id] = row
                self._next_id -= 1
            excess = len(self._rows) - self.limit
            victims = [r for r in self._rows if r not in self._out][: max(0, excess)]
            for r in victims:
                del self._rows[r]
            self.dropped += len(victims)
            self.unsaved_drops += len(victims)
            return len(victims)

    def take(self, n: int) -> list[SpooledEvent]:
        """Up to ``n`` rows not yet handed to the client, oldest first, marked as out."""
        chosen: list[SpooledEvent] = []
        with self._lock:
            for rid, (key, topic, payload, _) in self._rows.items():
                if len(chosen) >= n:
                    break
                if rid not in self._out:
                    self._out.add(rid)
                    chosen.append(SpooledEvent(rid, key, topic, payload))
        return chosen

    def returned(self, rid: int) -> None:
        """``rid`` could not be handed to the client: it is to be taken again."""
        with self._lock:
            self._out.discard(rid)

    def ack(self, rid: int) -> None:
        """The broker has it: forget it."""
        with self._lock:
            self._out.discard(rid)
            self._rows.pop(rid, None)

    def unsent(self) -> list[tuple[int, Row]]:
        """Remove and return the rows not handed to the client (to commit them now)."""
        with self._lock:
            rows = [(r, row) for r, row in self._rows.items() if r not in self._out]
            for r, _ in rows:
                del self._rows[r]
            return rows

    def restore(self, rows: list[tuple[int, Row]]) -> None:
        """Put back rows ``unsent`` returned (their commit failed), ahead of the rest."""
        with self._lock:
            self._rows = {**dict(rows), **self._rows}

    def saved(self, drops: int) -> None:
        """``drops`` of ``unsaved_drops`` are in the spool's persisted counter now."""
        with self._lock:
            self.unsaved_drops -= drops
