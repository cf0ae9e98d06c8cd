"""Messages under the device's ``cmd/`` handed to their callbacks, off paho's thread.

paho's network thread only queues a message (bounded: past ``size`` waiting, a message is
dropped and logged); one ``microemo-mqtt-cmd`` thread calls the callbacks, one message at a
time, so a slow callback never stalls the connection and callbacks need no locks of their
own against each other. A callback that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

Callback = Callable[[str, bytes], None]


class CommandDispatcher:
    def __init__(self, size: int = 32) -> None:
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(size)
        self._callbacks: list[Callback] = []
        self._thread: threading.Thread | None = None

    def add(self, callback: Callback) -> None:
        self._callbacks.append(callback)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._main, name="microemo-mqtt-cmd", daemon=True
            )
            self._thread.start()

    def offer(self, topic: str, payload: bytes) -> None:
        """paho's thread: queue the message, never block."""
        try:
            self._queue.put_nowait((topic, payload))
        except queue.Full:
            logger.error("command queue full: dropped a message on %s", topic[:200])

    def _main(self) -> None:
        while True:
            topic, payload = self._queue.get()
            for callback in list(self._callbacks):
                try:
                    callback(topic, payload)
                except Exception:
                    logger.exception("command callback %r failed on %s", callback, topic[:200])
