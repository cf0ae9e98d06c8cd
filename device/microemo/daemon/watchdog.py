"""Stall detection for the frame loop, and the systemd watchdog pings that depend on it.

The frame loop calls ``Heartbeat.enter(stage)`` / ``leave()`` around each stage and
``beat()`` on every turn (also while it waits for a frame, so a lost camera is not a stall).
The ``Watchdog`` thread pings ``WATCHDOG=1`` only while the loop keeps turning: when it has
been stuck for ``limit_s`` (``daemon.watchdog_budgets`` x ``daemon.budget_ms``) the stall is
logged once, naming the stage, pings stop, and systemd (``WatchdogSec=``) kills and restarts
the unit. When the loop moves again that is logged once too and pings resume.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from microemo.daemon.notify import Notifier

logger = logging.getLogger(__name__)

# At most one stall message per this many seconds, however often the loop flaps.
STALL_LOG_EVERY_S = 60.0


class Heartbeat:
    """Written by the frame loop only; read by the watchdog thread (plain attribute swaps)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last = clock()
        self.stage: str | None = None
        self.stage_since = self.last

    def beat(self) -> None:
        self.last = self._clock()

    def enter(self, stage: str) -> None:
        now = self._clock()
        self.stage, self.stage_since, self.last = stage, now, now

    def leave(self) -> None:
        self.stage = None
        self.last = self._clock()


class Watchdog:
    def __init__(
        self,
        heartbeat: Heartbeat,
        notifier: Notifier,
        *,
        limit_s: float,
        ping_interval_s: float | None,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.heartbeat = heartbeat
        self.notifier = notifier
        self.limit_s = limit_s
        self.ping_interval_s = ping_interval_s  # WATCHDOG_USEC / 2, or None: check only
        self.tick_s = tick_s
        self._clock = clock
        self.stalled = False
        self.stalls = 0
        self.pings = 0
        self._last_log = -STALL_LOG_EVERY_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Ping systemd if the loop is healthy; return whether it is."""
        now = self._clock()
        hb = self.heartbeat
        stuck_for = now - hb.last
        if stuck_for > self.limit_s:
            if not self.stalled:
                self.stalled = True
                self.stalls += 1
                if now - self._last_log >= STALL_LOG_EVERY_S:
                    self._last_log = now
                    logger.error(
                        "frame loop stuck for %.1f s in stage %s (limit %.1f s): no longer "
                        "pinging the systemd watchdog, expect a restart",
                        stuck_for,
                        hb.stage or "between stages",
                        self.limit_s,
                    )
            return False
        if self.stalled:
            self.stalled = False
            logger.warning("frame loop moving again; watchdog pings resume")
        if self.ping_interval_s is not None:
            self.notifier.watchdog()
            self.pings += 1
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def _run(self) -> None:
        period = min(self.ping_interval_s or self.tick_s, self.tick_s, self.limit_s / 2)
        while not self._stop.wait(period):
            self.check()
