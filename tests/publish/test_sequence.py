"""Sequence numbers: they continue across restarts, never repeat, and the thread that asks
for them (the daemon's frame loop) never writes the reservation itself."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.conftest import wait_for

from microemo.publish.sequence import FileStore, SequenceAllocator, SequenceError


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
    assert int(path.read_text()) >= max(c)  # the file the daemon has always written


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
    assert int((tmp_path / "seq").read_text()) >= 200


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


def test_a_store_that_cannot_be_written_fails_the_caller_instead_of_repeating(
    tmp_path: Path,
) -> None:
    store = CountingStore(tmp_path / "seq")
    seq = SequenceAllocator(store, block=4, retry_s=0.05)
    store.broken = True
    assert [seq.next() for _ in range(4)] == [1, 2, 3, 4]  # what is reserved is used
    with pytest.raises(SequenceError, match=r"seq: cannot reserve numbers past 4"):
        seq.next()
    assert int((tmp_path / "seq").read_text()) == 4
    store.broken = False  # the disk has room again: the thread's next retry succeeds
    got: list[int] = []

    def numbered() -> bool:
        try:
            got.append(seq.next())
        except SequenceError:
            return False
        return True

    wait_for(numbered, timeout=10)
    assert got == [5]
    seq.close()
    assert SequenceAllocator(FileStore(tmp_path / "seq")).next() > 5
