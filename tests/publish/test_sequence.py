"""Sequence numbers: they continue across restarts, never repeat, the thread that asks for
them (the daemon's frame loop) never writes the reservation itself, and a store that cannot
be written (a full disk: a real small tmpfs) never costs an event."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import wait_for
from tests.small_disk import fill, small_disk

from microemo.publish.sequence import FileStore, SequenceAllocator


class CountingStore(FileStore):
    """A real file store that notes which thread wrote each reservation."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writers: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.broken = False

    def save(self, reserved: int) -> None:
        self.writers.append(threading.current_thread().name)
        self.gate.wait()
        if self.broken:
            raise OSError(28, "No space left on device")
        super().save(reserved)


def test_numbers_continue_after_a_restart_and_never_repeat(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    first = SequenceAllocator(FileStore(path), block=8)
    a = [first.next() for _ in range(5)]
    first.close()  # writes nothing more: the file holds what a kill -9 would have left
    second = SequenceAllocator(FileStore(path), block=8)
    b = [second.next() for _ in range(20)]
    second.close()
    third = SequenceAllocator(FileStore(path), block=8)  # after a clean stop
    c = [third.next() for _ in range(3)]
    third.close()
    assert a == [1, 2, 3, 4, 5]
    assert min(b) > max(a) and b == list(range(b[0], b[0] + 20))
    assert min(c) > max(b)
    assert FileStore(path).load() >= max(c)


def test_the_asking_thread_never_writes_the_reservation(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "seq")
    seq = SequenceAllocator(store, block=8)
    assert store.writers == [threading.current_thread().name]  # the first block, at start-up
    got = [seq.next() for _ in range(200)]
    seq.close()
    assert got == list(range(1, 201))
    mine = store.writers.count(threading.current_thread().name)
    theirs = store.writers.count("microemo-seq")
    print(f"\n200 numbers: {mine} write on the asking thread, {theirs} on microemo-seq")
    assert mine == 1 and theirs == len(store.writers) - 1 >= 200 // 8 - 1
    assert FileStore(tmp_path / "seq").load() >= 200


def test_outrunning_the_reservation_waits_for_it(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "seq")
    seq = SequenceAllocator(store, block=4)  # 1..4 reserved
    store.gate.clear()  # the disk stalls: the next reservation hangs in its write
    assert [seq.next() for _ in range(4)] == [1, 2, 3, 4]
    got: list[int] = []
    asker = threading.Thread(target=lambda: got.append(seq.next()))
    asker.start()
    asker.join(0.3)
    assert got == [] and asker.is_alive()  # 5 is not reserved yet: no number is handed out
    store.gate.set()
    asker.join(10)
    assert got == [5] and seq.waits >= 1
    seq.close()


def test_a_store_that_cannot_be_written_never_costs_a_number(tmp_path: Path) -> None:
    """The frame loop numbers every event whatever the disk does: past the reservation the
    numbers go on from memory (counted), and once the store takes writes again the
    reservation covers them, so the next start never repeats them."""
    store = CountingStore(tmp_path / "seq")
    seq = SequenceAllocator(store, block=4, retry_s=0.05)
    store.broken = True
    assert [seq.next() for _ in range(10)] == list(range(1, 11))  # no exception, no gap
    assert seq.unpersisted == 6 and not seq.persisted
    assert FileStore(tmp_path / "seq").load() == 4
    store.broken = False  # the disk has room again: the thread's next retry persists
    wait_for(lambda: seq.persisted, timeout=10)
    assert seq.next() == 11
    seq.close()
    assert SequenceAllocator(FileStore(tmp_path / "seq")).next() > 11


def test_the_decimal_file_of_older_versions_is_read_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    path.write_text("4096\n")
    seq = SequenceAllocator(FileStore(path), block=8)
    assert [seq.next() for _ in range(20)] == list(range(4097, 4117))
    seq.close()
    assert FileStore(path).load() >= 4116 and len(path.read_bytes()) == 64


def test_the_reservation_is_written_on_a_full_disk(tmp_path: Path) -> None:
    """Written in place, it needs no free block: numbers stay persisted when the disk is
    full (a temporary file and a rename, as before, could not be written)."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        seq = SequenceAllocator(FileStore(disk / "seq"), block=4)
        fill(disk)
        got = [seq.next() for _ in range(40)]
        seq.close()
        assert got == list(range(1, 41)) and seq.unpersisted == 0 and seq.persisted
        assert FileStore(disk / "seq").load() >= 40
