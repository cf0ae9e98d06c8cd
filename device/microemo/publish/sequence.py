"""Per-device event sequence numbers: one allocator, blocks reserved off the frame thread.

``SequenceAllocator.next()`` hands out 1, 2, 3, ... and never a number that is not already
persisted as reserved, so after a crash or ``kill -9`` the next run starts past the last
reservation: numbers skip (a gap consumers can see), they never repeat.

Numbers are reserved in blocks of ``block``. The first block is written when the allocator
is made, at start-up. When fewer than half a block remain, ``next()`` asks the allocator's
own thread (``microemo-seq``) to persist the next block and returns at once: the caller (the
daemon's frame loop) never touches the disk. It waits only when it outruns the reservation
(more than half a block of events during one write, which a fsync stall can cause). When the
store cannot be written, the thread retries every ``retry_s`` and a caller that has used up
the reservation gets ``SequenceError`` instead of a number that could repeat (the frame
loop counts that frame as failed, as it did when the write happened inline).

Where the reservation persists is pluggable (``SequenceStore``): ``MemoryStore`` (``analyze``
numbers each file from 1), ``FileStore`` (the daemon without MQTT: ``<state_dir>/seq``) and
the MQTT spool's meta table (``publish.mqtt.spool.SpoolSequenceStore``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)


class SequenceError(RuntimeError):
    """No reserved number is left and the store cannot be written; names the store."""


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


class FileStore:
    """The reservation as a decimal number in a small file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            logger.warning("sequence file %s is corrupt; continuing from the clock", self.path)
            return int(time.time() * 1000)

    def save(self, reserved: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(str(reserved))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

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
        self._reserved = last + block
        store.save(self._reserved)  # the first block, at start-up
        self._wanted = False
        self._closed = False
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None
        self.waits = 0  # times a caller outran the reservation and had to wait

    def next(self) -> int:
        with self._cond:
            while self._next > self._reserved:
                if self._closed:
                    raise SequenceError(f"sequence store {self.store}: allocator closed")
                if self._error is not None:
                    raise SequenceError(
                        f"sequence store {self.store}: cannot reserve numbers past "
                        f"{self._reserved} ({self._error}); check that it is writable"
                    )
                self._request()
                self.waits += 1
                self._cond.wait()
            n = self._next
            self._next += 1
            if self._reserved - n < self.block // 2:
                self._request()
            return n

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
                upto = self._reserved + self.block
            try:
                self.store.save(upto)  # no lock held: next() goes on meanwhile
            except Exception as exc:
                self._failed(exc)
                continue
            with self._cond:
                if self._error is not None:
                    logger.warning("sequence store %s writable again", self.store)
                self._reserved, self._wanted, self._error = upto, False, None
                self._cond.notify_all()

    def _failed(self, exc: Exception) -> None:
        with self._cond:
            if self._error is None:
                logger.error("sequence store %s: cannot reserve numbers (%s)", self.store, exc)
            self._error = exc
            self._cond.notify_all()
            self._cond.wait(self.retry_s)  # closed or retry after retry_s
