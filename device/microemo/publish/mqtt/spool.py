"""Durable spool: events wait here, on disk, until the broker has acknowledged them.

SQLite in WAL mode. An event is committed before it is published and deleted only when
its QoS 1 PUBACK arrives, so a ``kill -9`` or a power cut (with ``fsync``) loses nothing
that was committed. Row ids never repeat (AUTOINCREMENT), so they give the publish order.

Bounds, oldest first: past ``max_events`` rows or ``max_bytes`` of rows (key, topic and
payload) the oldest rows that are not in flight are deleted and added to a persisted
``dropped`` counter, reported in stats: never a silent loss. The write-ahead log is
checkpointed every ``WAL_PAGES`` pages and cut back to ``WAL_LIMIT`` bytes, so it stays
about a megabyte however long the broker is away. The connection holds the database in
exclusive locking mode (one daemon per state folder: ``daemon.lock``), which keeps the WAL
index in memory instead of a ``-shm`` file, so a spool on a full disk still opens and reads.

A write that fails (disk full, read-only, I/O error) raises ``SpoolUnwritable`` and changes
nothing; the sink then keeps events in memory (``publish.mqtt.overflow``) and tries again.

The per-device sequence reservation sits beside the database (``SpoolSequenceStore``) so
that ``seq`` continues after a restart or a crash, and the database keeps the episodes that
are open: the last event of each episode started and not yet ended, written in the
transaction that commits that event, so that a run that starts after a crash can end what
the dead run left open.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from microemo.publish.sequence import FileStore

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

WAL_PAGES = 256  # checkpoint the write-ahead log past this many pages (1 MiB of 4 KiB)
WAL_LIMIT = 1 << 20  # and cut its file back to this many bytes
_ROW_BYTES = "length(payload) + length(key) + length(topic)"


class SpoolError(Exception):
    """The spool database cannot be opened or written; the message names the file."""


class SpoolUnwritable(SpoolError):
    """A write failed and changed nothing; ``reason`` says why (``disk full``, ...)."""

    def __init__(self, path: Path, exc: Exception) -> None:
        full = getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(exc)
        self.reason = "disk full" if full else str(exc)
        super().__init__(f"spool {path} cannot be written: {self.reason}")


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

    def __init__(
        self,
        path: Path | str,
        max_events: int,
        *,
        max_bytes: int | None = None,
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        self.max_events = max_events
        self.max_bytes = max_bytes or 1 << 62
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10
            )
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")  # before WAL: no -shm file
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            self._db.executescript(_SCHEMA)  # writes nothing when the tables are there
            (self._depth, self._bytes) = self._db.execute(
                f"SELECT COUNT(*), COALESCE(SUM({_ROW_BYTES}), 0) FROM spool"
            ).fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(
                f"spool {self.path}: cannot open ({exc}); check that spool.path or "
                "device.state_dir is writable"
            ) from None
        self._dropped = self.meta("dropped")
        self._at_bound = False  # dropping the oldest: logged when it starts
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
        dropped_elsewhere: int = 0,
    ) -> int:
        """Commit ``rows`` and, in the same transaction, the open-episode ``marks`` (and
        ``dropped_elsewhere``, events lost before they reached the spool, to the persisted
        ``dropped``); past the bounds drop the oldest rows not in flight. Returns drops.
        ``SpoolUnwritable`` when the disk refuses: then nothing changed."""
        rows = list(rows)
        if not rows:
            return 0
        size = sum(len(p) + len(k.encode()) + len(t.encode()) for k, t, p in rows)
        with self._lock:
            depth, nbytes = self._depth + len(rows), self._bytes + size
            dropped = freed = 0

            def work(db: sqlite3.Connection) -> None:
                nonlocal dropped, freed
                db.executemany("INSERT INTO spool(key, topic, payload) VALUES(?, ?, ?)", rows)
                self._mark(marks)
                if depth > self.max_events or nbytes > self.max_bytes:
                    dropped, freed = self._trim(
                        depth - self.max_events, nbytes - self.max_bytes, in_flight()
                    )
                if dropped + dropped_elsewhere:
                    db.execute(
                        "INSERT INTO meta(name, value) VALUES('dropped', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value=value+excluded.value",
                        (dropped + dropped_elsewhere,),
                    )

            self._transaction(work)
            self._depth, self._bytes = depth - dropped, nbytes - freed
            self._dropped += dropped + dropped_elsewhere
        if dropped and not self._at_bound:  # once per change, not once per commit
            logger.warning(
                "spool %s is at its bound (%d events or %d bytes): the oldest events are "
                "dropped from now on, counted in stats spool.dropped (%d so far)",
                self.path, self.max_events, self.max_bytes, self._dropped,
            )  # fmt: skip
        self._at_bound = bool(dropped) or self._at_bound
        return dropped

    def _transaction(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """``work`` in one write transaction (caller holds the lock); a failure rolls back
        and raises ``SpoolUnwritable`` (SQLite may have rolled back already: disk full)."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            work(db)
            db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # else nothing more to undo
                    db.execute("ROLLBACK")
            raise SpoolUnwritable(self.path, exc) from None

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

    def _trim(self, rows: int, nbytes: int, keep: Collection[int]) -> tuple[int, int]:
        """Delete the oldest rows not in ``keep`` until ``rows`` rows and ``nbytes`` bytes
        are gone; returns (rows, bytes) deleted."""
        victims: list[tuple[int]] = []
        freed = 0
        cur = self._db.execute(f"SELECT rowid, {_ROW_BYTES} FROM spool ORDER BY rowid")
        for rowid, size in cur:
            if len(victims) >= rows and freed >= nbytes:
                break
            if rowid not in keep:
                victims.append((rowid,))
                freed += size
        cur.close()
        self._db.executemany("DELETE FROM spool WHERE rowid=?", victims)
        return len(victims), freed

    def delete(self, rowids: Iterable[int]) -> int:
        """Remove acknowledged rows; unknown ids (already dropped) are ignored.
        ``SpoolUnwritable`` when the disk refuses: then nothing changed."""
        ids = [(int(r),) for r in rowids]
        if not ids:
            return 0
        with self._lock:
            gone: list[int] = []

            def work(db: sqlite3.Connection) -> None:
                for one in ids:
                    gone.extend(size for (size,) in db.execute(
                        f"DELETE FROM spool WHERE rowid=? RETURNING {_ROW_BYTES}", one
                    ))  # fmt: skip

            self._transaction(work)
            self._depth -= len(gone)
            self._bytes -= sum(gone)
            self._at_bound = self._at_bound and not gone
        return len(gone)

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
    def nbytes(self) -> int:
        """Bytes of the rows waiting (key, topic, payload), as ``max_bytes`` counts them."""
        return self._bytes

    def files_bytes(self) -> int:
        """What the spool takes on disk: the database and its write-ahead log."""
        total = 0
        for name in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):
                total += name.stat().st_size
        return total

    @property
    def dropped(self) -> int:
        """Events dropped because the spool was full, over the life of this database."""
        return self._dropped

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()  # checkpoints the log: on a full disk it stays for next time
            except sqlite3.Error as exc:
                logger.warning("spool %s: closing: %s", self.path, exc)


class SpoolSequenceStore(FileStore):
    """The per-device sequence reservation (``SequenceStore`` of
    ``publish.sequence.SequenceAllocator``) in ``<spool>.seq`` beside the database, written
    in place (it works on a full disk), so ``seq`` continues after a restart or a crash.
    Older versions kept it in the spool's meta table: the higher of the two is read."""

    def __init__(self, spool: Spool) -> None:
        super().__init__(spool.path.with_suffix(".seq"))
        self.spool = spool

    def load(self) -> int:
        return max(super().load(), self.spool.meta("seq"))


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
