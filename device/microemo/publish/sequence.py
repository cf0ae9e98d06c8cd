"""Per-device event sequence numbers: one allocator, blocks reserved off the frame thread.

``SequenceAllocator.next()`` hands out 1, 2, 3, ... and, while its store can be written,
never a number that is not already persisted as reserved, so after a crash or ``kill -9``
the next run starts past the last reservation: numbers skip (a gap consumers can see), they
never repeat.

Numbers are reserved in blocks of ``block``. The first block is written when the allocator
is made, at start-up. When fewer than half a block remain, ``next()`` asks the allocator's
own thread (``microemo-seq``) to persist the next block and returns at once: the caller (the
daemon's frame loop) never touches the disk. It waits only when it outruns the reservation
(more than half a block of events during one write, which a fsync stall can cause).

A store that cannot be written never costs an event: the numbers go on from memory (counted
in ``unpersisted``, logged once per change), and the thread retries every ``retry_s``. Only
if the process then dies before the store takes a write again can a number repeat; the file
store below is written in place, so a full disk is not such a case.

Where the reservation persists is pluggable (``SequenceStore``): ``MemoryStore`` (``analyze``
numbers each file from 1), ``FileStore`` (the daemon without MQTT: ``<state_dir>/seq``; with
MQTT ``<spool>.seq``, see ``publish.mqtt.spool.SpoolSequenceStore``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

SLOT = 32  # bytes per slot of a FileStore


class SequenceError(RuntimeError):
    """The allocator is closed; names the store."""


class SequenceStore(Protocol):
    def load(self) -> int:
        """The highest number reserved so far (0 for a new device)."""

    def save(self, reserved: int) -> None:
        """Persist ``reserved`` durably before returning."""


class MemoryStore:
    """Nothing survives the process: numbers count from ``start + 1``."""

    def __init__(self, start: int = 0) -> None:
        self.value = start

    def load(self) -> int:
        return self.value

    def save(self, reserved: int) -> None:
        self.value = reserved

    def __str__(self) -> str:
        return "memory"


def _slot(value: int) -> bytes:
    digits = f"{value:020d}"
    return f"{digits} {zlib.crc32(digits.encode()):08x}".ljust(SLOT - 1).encode() + b"\n"


def _unslot(raw: bytes) -> int | None:
    parts = raw.split()
    if len(parts) != 2 or len(raw) != SLOT or len(parts[0]) != 20:
        return None
    try:
        ok = int(parts[1], 16) == zlib.crc32(parts[0])
        return int(parts[0]) if ok else None
    except ValueError:
        return None


class FileStore:
    """The reservation in a small file of two 32-byte slots (number and CRC as text),
    written alternately in place with ``pwrite`` and ``fsync``: overwriting bytes a file
    already holds needs no free block, so it goes on working on a full disk, and a write
    torn by a power cut leaves the other slot. Reads the decimal file of older versions."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._next_slot = 0

    def load(self) -> int:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        slots = [(_unslot(raw[i * SLOT : (i + 1) * SLOT]), i) for i in (0, 1)]
        valid = [(v, i) for v, i in slots if v is not None]
        if valid:
            value, where = max(valid)
            self._next_slot = 1 - where
            return value
        self._next_slot = 1  # an older version's decimal text sits in slot 0's bytes
        text = raw.split(b"\0")[0].decode("ascii", "replace").strip()
        try:
            return int(text.splitlines()[0]) if text else 0
        except ValueError:
            logger.warning("sequence file %s is corrupt; continuing from the clock", self.path)
            return int(time.time() * 1000)

    def save(self, reserved: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            os.pwrite(fd, _slot(reserved), self._next_slot * SLOT)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._next_slot = 1 - self._next_slot

    def __str__(self) -> str:
        return str(self.path)


class SequenceAllocator:
    """See the module docstring. Thread-safe; ``close()`` stops the reserving thread."""

    def __init__(self, store: SequenceStore, block: int = 64, retry_s: float = 1.0) -> None:
        if block < 2:
            raise ValueError(f"sequence block {block}: must be at least 2")
        self.store = store
        self.block = block
        self.retry_s = retry_s
        self._cond = threading.Condition()
        last = store.load()
        self._next = last + 1
        self._reserved = last
        self._wanted = False
        self._closed = False
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None
        self.waits = 0  # times a caller outran the reservation and had to wait
        self.unpersisted = 0  # numbers handed out while the store could not be written
        try:
            store.save(last + block)  # the first block, at start-up
            self._reserved = last + block
        except Exception as exc:
            with self._cond:
                self._failed_now(exc)

    def next(self) -> int:
        with self._cond:
            while self._next > self._reserved and self._error is None:
                if self._closed:
                    raise SequenceError(f"sequence store {self.store}: allocator closed")
                self._request()
                self.waits += 1
                self._cond.wait()
            n = self._next
            self._next += 1
            if n > self._reserved:  # the store failed: from memory, never a lost event
                self.unpersisted += 1
            if self._reserved - n < self.block // 2:
                self._request()
            return n

    @property
    def persisted(self) -> bool:
        """False while the store cannot be written (numbers go on from memory)."""
        return self._error is None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _request(self) -> None:
        """Ask the reserving thread for the next block (caller holds the lock)."""
        if self._wanted or self._closed:
            return
        self._wanted = True
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="microemo-seq", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def _main(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                upto = max(self._reserved, self._next - 1) + self.block
            try:
                self.store.save(upto)  # no lock held: next() goes on meanwhile
            except Exception as exc:
                with self._cond:
                    self._failed_now(exc)
                    self._cond.wait(self.retry_s)  # closed or retry after retry_s
                continue
            with self._cond:
                if self._error is not None:
                    logger.warning(
                        "sequence store %s writable again: numbers persisted up to %d",
                        self.store, upto,
                    )  # fmt: skip
                self._reserved, self._wanted, self._error = upto, False, None
                self._cond.notify_all()

    def _failed_now(self, exc: Exception) -> None:
        """The store refused a write (caller holds the lock)."""
        if self._error is None:
            logger.error(
                "sequence store %s cannot be written (%s): numbers past %d go on from "
                "memory; if the process dies before it can be written again, the next "
                "start may repeat them",
                self.store, exc, self._reserved,
            )  # fmt: skip
        self._error = exc
        self._wanted = True  # the thread retries
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._main, name="microemo-seq", daemon=True)
            self._thread.start()
        self._cond.notify_all()
