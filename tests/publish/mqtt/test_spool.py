"""The durable spool on its own: bounds (events, bytes), persisted counters, a write-ahead
log that stays small, a full disk (a real small tmpfs), sequence, drain order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.small_disk import fill, small_disk

from microemo.publish.mqtt.spool import (
    WAL_LIMIT,
    Drain,
    Spool,
    SpoolSequenceStore,
    SpoolUnwritable,
)
from microemo.publish.mqtt.topics import Topics, parse, subscription
from microemo.publish.sequence import SequenceAllocator


def rows(key: str, n: int, start: int = 0) -> list[tuple[str, str, bytes]]:
    return [(key, "t/events", str(i).encode()) for i in range(start, start + n)]


def test_bound_drops_oldest_not_in_flight_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_events=5)
    spool.append(rows("a", 5))
    first = spool.after(0, 1)[0].rowid
    assert spool.append(rows("a", 3, 5), in_flight=lambda: {first}) == 3
    kept = [int(ev.payload) for ev in spool.after(0, 100)]
    assert kept == [0, 4, 5, 6, 7]  # the in-flight row stays, 1..3 went
    spool.close()
    again = Spool(tmp_path / "s.db", max_events=5)
    assert again.dropped == 3 and again.depth == 5
    again.close()  # the daemon holds the database alone (exclusive locking) while it runs
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sequence_survives_restart_and_crash(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 100)
    seq = SequenceAllocator(SpoolSequenceStore(spool), block=8)
    got = [seq.next() for _ in range(10)]
    assert got == list(range(1, 11))
    # no seq.close(): as after kill -9 (which also lets go of the database's lock); the
    # reserved block (up to 16) is skipped, never reused
    spool.close()
    seq2 = SequenceAllocator(SpoolSequenceStore(Spool(tmp_path / "s.db", 100)), block=8)
    assert seq2.next() == 17


def test_an_older_version_s_reservation_in_the_database_is_honoured(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 100)
    spool.set_meta("seq", 500)  # where versions before the in-place file kept it
    assert SequenceAllocator(SpoolSequenceStore(spool), block=8).next() == 501


def test_byte_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    payload = b"x" * 991  # with key "k" and topic "t/events": 1000 bytes a row
    spool = Spool(tmp_path / "s.db", max_events=1000, max_bytes=10_000)
    for i in range(15):
        spool.append([("k", "t/events", payload[:-3] + b"%03d" % i)])
    kept = [int(ev.payload[-3:]) for ev in spool.after(0, 100)]
    assert kept == list(range(5, 15)) and spool.nbytes == 10_000 and spool.dropped == 5
    spool.close()
    again = Spool(tmp_path / "s.db", max_events=1000, max_bytes=10_000)
    assert (again.depth, again.nbytes, again.dropped) == (10, 10_000, 5)
    again.delete([ev.rowid for ev in again.after(0, 3)])
    assert (again.depth, again.nbytes) == (7, 7_000)


def test_write_ahead_log_stays_bounded(tmp_path: Path) -> None:
    """One event a commit, as a live daemon writes them: the log is checkpointed and cut
    back, so it never holds more than about WAL_LIMIT (SQLite's default let it reach 4 MB
    and keep that size for good)."""
    spool = Spool(tmp_path / "s.db", 100_000, fsync=False)
    wal = tmp_path / "s.db-wal"
    largest = 0
    for i in range(3000):
        spool.append(
            [("k", "t/events", b"%06d" % i + b"e" * 700)], marks=[(f"ep{i % 7}", "k", b"{}")]
        )
        if i % 50 == 0:
            spool.delete([ev.rowid for ev in spool.after(0, 40)])
        largest = max(largest, wal.stat().st_size)
    files = spool.files_bytes()
    spool.close()
    print(f"\nwrite-ahead log at most {largest} bytes over 3000 commits; spool {files} bytes")
    assert largest <= WAL_LIMIT + 256 * 1024


def test_a_full_disk_opens_reads_and_refuses_writes_cleanly(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        spool = Spool(disk / "s.db", 1000)
        spool.append([("k", "t/events", b"%d" % i) for i in range(10)])
        spool.close()
        filler = fill(disk)
        again = Spool(disk / "s.db", 1000)  # a start on the full disk: it opens and reads
        assert again.depth == 10 and [int(ev.payload) for ev in again.after(0, 3)] == [0, 1, 2]
        with pytest.raises(SpoolUnwritable, match="disk full"):
            again.append([("k", "t/events", b"new")])
        assert again.depth == 10 and len(again.after(0, 100)) == 10  # nothing half-done
        filler.unlink()
        again.append([("k", "t/events", b"new")])
        again.delete([ev.rowid for ev in again.after(0, 5)])
        assert again.depth == 6
        again.close()


def test_drain_interleaves_live_with_backlog_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 1000)
    spool.append(rows("old", 10))
    drain = Drain(spool)  # connected now: 10 rows of backlog
    spool.append(rows("new", 2, 100) + rows("old", 1, 10))  # "old" has backlog: waits its turn
    first = drain.select(4, busy=set())
    assert [ev.payload for ev in first] == [b"100", b"101", b"0", b"1"]
    busy = {ev.rowid for ev in first}
    rest = drain.select(100, busy)
    assert [int(ev.payload) for ev in rest] == list(range(2, 11))
    assert drain.select(100, busy | {ev.rowid for ev in rest}) == []


def test_topics() -> None:
    t = Topics("microemo", "cabin-1")
    assert t.face_state(3) == "microemo/cabin-1/face/3/state"
    assert t.discovery("sensor", "au12") == "homeassistant/sensor/cabin-1/au12/config"
    assert subscription("microemo", "+") == "microemo/+/#"
    assert parse("microemo", "microemo/cabin-1/face/3/state") == ("cabin-1", "face/3/state")
    for bad in ("a/b", "a+", "#"):
        try:
            Topics("microemo", bad)
        except ValueError as exc:
            assert bad in str(exc)
        else:
            raise AssertionError(bad)
