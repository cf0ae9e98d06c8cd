"""Durable spool: events wait here, on disk, until the broker has acknowledged them.

SQLite in WAL mode. An event is committed before it is published and deleted only when
its QoS 1 PUBACK arrives, so a ``kill -9`` or a power cut (with ``fsync``) loses nothing
that was committed. Row ids never repeat (AUTOINCREMENT), so they give the publish order.

When the spool holds ``max_events`` the oldest rows that are not in flight are deleted and
added to a persisted ``dropped`` counter, reported in stats: never a silent loss.

The same database keeps the per-device sequence reservation (``SpoolSequenceStore``) so that
``seq`` continues after a restart or a crash, and the episodes that are open: the last event
of each episode started and not yet ended, written in the transaction that commits that
event, so that a run that starts after a crash can end what the dead run left open.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS open_episodes (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    payload BLOB NOT NULL
);
"""

# (episode id, ordering key, its latest event) for start/update; payload None for an end
EpisodeMark = tuple[str, str, bytes | None]


class SpoolError(Exception):
    """The spool database cannot be opened or written; the message names the file."""


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    rowid: int
    key: str  # ordering key: events with the same key are published in row order
    topic: str
    payload: bytes


class Spool:
    """A bounded FIFO of (key, topic, payload) rows; thread-safe, one connection and a lock.

    Each call is one short transaction; callers batch (``append``/``delete`` take lists) so
    that a burst costs one commit, not one per event.
    """

    def __init__(self, path: Path | str, max_events: int, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.max_events = max_events
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
            (self._depth,) = self._db.execute("SELECT COUNT(*) FROM spool").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(
                f"spool {self.path}: cannot open ({exc}); check that spool.path or "
                "device.state_dir is writable"
            ) from None
        self._dropped = self.meta("dropped")
        if self._depth:
            logger.info("spool %s: %d events waiting from an earlier run", self.path, self._depth)

    # -- metadata -------------------------------------------------------------------------
    def meta(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_meta(self, name: str, value: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta(name, value) VALUES(?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (name, int(value)),
            )

    # -- queue ----------------------------------------------------------------------------
    def append(
        self,
        rows: Iterable[tuple[str, str, bytes]],
        in_flight: Callable[[], Collection[int]] = frozenset,
        marks: Iterable[EpisodeMark] = (),
    ) -> int:
        """Commit ``rows`` and, in the same transaction, the open-episode ``marks``; past
        ``max_events`` drop the oldest rows not in flight. Returns drops."""
        rows = list(rows)
        if not rows:
            return 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO spool(key, topic, payload) VALUES(?, ?, ?)", rows)
                self._mark(marks)
                depth = self._depth + len(rows)
                dropped = 0
                if depth > self.max_events:
                    dropped = self._trim(depth - self.max_events, in_flight())
                    depth -= dropped
                    db.execute(
                        "INSERT INTO meta(name, value) VALUES('dropped', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value=value+excluded.value",
                        (dropped,),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._depth = depth
            self._dropped += dropped
        if dropped:
            logger.warning(
                "spool %s full (%d events): dropped the %d oldest (%d in total)",
                self.path, self.max_events, dropped, self._dropped,
            )  # fmt: skip
        return dropped

    def _mark(self, marks: Iterable[EpisodeMark]) -> None:
        for episode, key, payload in marks:
            if payload is None:
                self._db.execute("DELETE FROM open_episodes WHERE id=?", (episode,))
            else:
                self._db.execute(
                    "INSERT INTO open_episodes(id, key, payload) VALUES(?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET key=excluded.key, payload=excluded.payload",
                    (episode, key, payload),
                )

    def open_episodes(self) -> list[tuple[str, str, bytes]]:
        """(id, key, latest event) of every episode whose ``end`` was never committed."""
        with self._lock:
            cur = self._db.execute("SELECT id, key, payload FROM open_episodes ORDER BY rowid")
            return [(i, k, bytes(p)) for i, k, p in cur]

    def _trim(self, excess: int, keep: Collection[int]) -> int:
        victims = [
            rowid
            for (rowid,) in self._db.execute(
                "SELECT rowid FROM spool ORDER BY rowid LIMIT ?", (excess + len(keep),)
            )
            if rowid not in keep
        ][:excess]
        self._db.executemany("DELETE FROM spool WHERE rowid=?", [(r,) for r in victims])
        return len(victims)

    def delete(self, rowids: Iterable[int]) -> int:
        """Remove acknowledged rows; unknown ids (already dropped) are ignored."""
        ids = [(int(r),) for r in rowids]
        if not ids:
            return 0
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM spool WHERE rowid=?", ids)
            self._db.execute("COMMIT")
            removed = self._db.total_changes - before
            self._depth -= removed
        return removed

    def after(self, rowid: int, limit: int) -> list[SpooledEvent]:
        """Up to ``limit`` rows with a row id greater than ``rowid``, oldest first."""
        with self._lock:
            cur = self._db.execute(
                "SELECT rowid, key, topic, payload FROM spool WHERE rowid > ? "
                "ORDER BY rowid LIMIT ?",
                (rowid, limit),
            )
            return [SpooledEvent(r, k, t, bytes(p)) for r, k, t, p in cur]

    def keys_upto(self, rowid: int) -> set[str]:
        with self._lock:
            cur = self._db.execute("SELECT DISTINCT key FROM spool WHERE rowid <= ?", (rowid,))
            return {k for (k,) in cur}

    def last_rowid(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(rowid) FROM spool").fetchone()
        return int(row[0] or 0)

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def dropped(self) -> int:
        """Events dropped because the spool was full, over the life of this database."""
        return self._dropped

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SpoolSequenceStore:
    """The per-device sequence reservation in the spool's meta table (``SequenceStore`` of
    ``publish.sequence.SequenceAllocator``), so ``seq`` continues after a restart or a crash."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def load(self) -> int:
        return self.spool.meta("seq")

    def save(self, reserved: int) -> None:
        self.spool.set_meta("seq", reserved)

    def __str__(self) -> str:
        return f"{self.spool.path} (meta seq)"


class Drain:
    """Chooses which spooled rows to publish next: the backlog in order, live rows alongside.

    After a (re)connect every row already in the spool is backlog. Each call first takes up
    to half the free window from rows newer than the backlog whose key (one face of one run)
    has nothing in the backlog, so live events are not stuck behind a long outage; the rest
    of the window continues through the spool in row order. Rows sharing a key therefore
    always go out in order; across keys the backlog and live rows interleave.
    """

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self.reset()

    def reset(self) -> None:
        self._cursor = 0
        self._backlog_end = self._spool.last_rowid()
        self._backlog_keys = (
            self._spool.keys_upto(self._backlog_end) if self._backlog_end else set()
        )
        self._live_cursor = self._backlog_end

    @property
    def draining_backlog(self) -> bool:
        return bool(self._backlog_keys)

    def select(self, room: int, busy: Collection[int]) -> list[SpooledEvent]:
        chosen: list[SpooledEvent] = []
        if room <= 0:
            return chosen
        if self._backlog_keys:
            for ev in self._spool.after(self._live_cursor, max(1, room // 2)):
                self._live_cursor = ev.rowid
                if ev.key not in self._backlog_keys and ev.rowid not in busy:
                    chosen.append(ev)
        taken = {ev.rowid for ev in chosen}
        while len(chosen) < room:
            rows = self._spool.after(self._cursor, room - len(chosen) + len(busy) + len(taken))
            if not rows:
                break
            for ev in rows:
                if len(chosen) >= room:
                    break
                self._cursor = ev.rowid
                if ev.rowid not in busy and ev.rowid not in taken:
                    chosen.append(ev)
        if self._cursor >= self._backlog_end:
            self._backlog_keys = set()
        return chosen

    def unsent(self, rowid: int) -> None:
        """``rowid`` could not be handed to the client: it must be chosen again."""
        self._cursor = min(self._cursor, rowid - 1)
        self._live_cursor = min(self._live_cursor, rowid - 1)
