"""The durable spool on its own: bound, persisted counters, sequence, drain order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from microemo.publish.mqtt.spool import Drain, Spool, SpoolSequenceStore
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
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sequence_survives_restart_and_crash(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 100)
    seq = SequenceAllocator(SpoolSequenceStore(spool), block=8)
    got = [seq.next() for _ in range(10)]
    assert got == list(range(1, 11))
    # no close(): as after kill -9; the reserved block (up to 16) is skipped, never reused
    seq2 = SequenceAllocator(SpoolSequenceStore(Spool(tmp_path / "s.db", 100)), block=8)
    assert seq2.next() == 17


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
