"""Bundle archives sent as retained MQTT chunks, for devices that reach only their broker.

A verified update command announces ``chunks.topic`` and ``count``; only then are messages on
``{topic}/0`` .. ``{topic}/{count-1}`` kept, and only until that command is done (complete,
failed or timed out). Anything else published under the device's ``cmd/`` is not kept, so
junk there can neither fill memory nor crowd out a real update. Chunks that were retained
before the command arrived are asked for again by subscribing to ``{topic}/#`` (the broker
re-sends retained messages on a new subscription).

When collection fails the reason is the real one: chunks that did not arrive (named), or
chunks that together pass ``model.max_bundle_bytes``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from microemo.model.archive import DownloadError
from microemo.model.bundle import BundleError
from microemo.model.commands import excerpt

logger = logging.getLogger(__name__)

_INDEX = re.compile(r"^[0-9]{1,6}$")


def chunk_topics(base: str, count: int) -> list[str]:
    """The topics of an update's ``count`` chunks: ``{chunks.topic}/{i}``, part of the
    command format (``microemo-train update-msg`` publishes them there)."""
    return [f"{base.rstrip('/')}/{i}" for i in range(count)]


class ChunkCollector:
    """Thread-safe: ``offer`` runs on the MQTT thread, ``collect`` on the update worker."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self._cond = threading.Condition()
        self._wanted: dict[str, int] = {}  # announced base topic -> chunk count
        self._parts: dict[str, dict[int, bytes]] = {}
        self._bytes: dict[str, int] = {}
        self._problem: dict[str, str] = {}

    def offer(self, topic: str, payload: bytes) -> bool:
        """Keep ``payload`` if it is a chunk of an announced update; never blocks long."""
        base, _, index = topic.rstrip("/").rpartition("/")
        with self._cond:
            count = self._wanted.get(base)
            if count is None or not _INDEX.match(index) or int(index) >= count:
                logger.debug("model updates: ignored %s (no update asked for it)", excerpt(topic))
                return False
            parts, i = self._parts[base], int(index)
            size = self._bytes[base] - len(parts.pop(i, b""))
            if payload and size + len(payload) > self.limit:
                self._problem[base] = (
                    f"{excerpt(base, 80)}: chunks add up to more than "
                    f"model.max_bundle_bytes={self.limit}"
                )
            elif payload:  # an empty (cleared) chunk stays missing
                parts[i] = payload
                size += len(payload)
            self._bytes[base] = size
            self._cond.notify_all()
        return True

    def collect(
        self,
        base: str,
        count: int,
        timeout_s: float,
        subscribe: Callable[[str], object] | None = None,
    ) -> bytes:
        """The archive from ``base``'s ``count`` chunks, within ``timeout_s``. Raises
        ``DownloadError`` when chunks are missing (the command may be tried again) and
        ``BundleError`` when they pass the size limit."""
        base = base.rstrip("/")
        with self._cond:
            self._wanted[base], self._parts[base], self._bytes[base] = count, {}, 0
            self._problem.pop(base, None)
        try:
            if subscribe is not None:
                subscribe(f"{base}/#")
            return self._wait(base, count, time.monotonic() + timeout_s, timeout_s)
        finally:
            with self._cond:
                for table in (self._wanted, self._parts, self._bytes, self._problem):
                    table.pop(base, None)

    def _wait(self, base: str, count: int, deadline: float, timeout_s: float) -> bytes:
        with self._cond:
            while True:
                problem = self._problem.get(base)
                if problem is not None:
                    raise BundleError(problem)
                parts = self._parts[base]
                if len(parts) == count:
                    return b"".join(parts[i] for i in range(count))
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [i for i in range(count) if i not in parts]
                    names = ", ".join(str(i) for i in missing[:10])
                    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                    raise DownloadError(
                        f"{excerpt(base, 80)}: {len(missing)} of {count} chunks did not arrive "
                        f"within model.download_timeout_s={timeout_s:g} (missing {names}{more}); "
                        "publish them retained and send the command again"
                    )
                self._cond.wait(min(left, 0.5))
