"""Can the system clock be trusted? A Pi has no real-time clock: until NTP sets it, the wall
clock reads whatever the board booted with (2020, or the last shutdown saved by
fake-hwclock), and every ``time`` in events, stats and update checks reads the same.

``clock_synced()`` answers from systemd-timesyncd's flag where timesyncd runs (its folder
``/run/systemd/timesync`` exists; the file ``synchronized`` appears once it has set the
clock), else from the clock itself: a time more than a year before this release (``BUILT``)
was never set. A clock that is wrong the other way (years ahead) is caught only by the
flag. The answer is kept ``REFRESH_S`` seconds, so callers on the frame thread pay a
dictionary look-up (and a ``stat`` of a tmpfs file every ten seconds); each change is
logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

logger = logging.getLogger(__name__)

TIMESYNC = Path("/run/systemd/timesync")  # systemd-timesyncd's runtime folder
BUILT = datetime(2026, 12, 1, tzinfo=timezone.utc)  # this release: bump with the version
YEAR_S = 365 * 86400
REFRESH_S = 10.0

_lock = threading.Lock()
_cache: dict[str, float | bool | None] = {"at": None, "synced": None}


def _read() -> tuple[bool, str]:
    """(synced, why) from the timesync flag, else from the release date."""
    if TIMESYNC.is_dir():
        if (TIMESYNC / "synchronized").exists():
            return True, "systemd-timesyncd has synchronised it"
        return False, "systemd-timesyncd has not synchronised it yet"
    floor = BUILT.timestamp() - YEAR_S
    if time.time() < floor:
        return False, f"it is more than a year before this release ({BUILT:%Y-%m-%d})"
    return True, "no time service to ask; it is not before this release"


def clock_synced() -> bool:
    """True when the wall clock can be trusted (see the module docstring); cached."""
    now = time.monotonic()
    with _lock:
        at, synced = _cache["at"], _cache["synced"]
        if at is not None and synced is not None and now - float(at) < REFRESH_S:
            return bool(synced)
        fresh, why = _read()
        _cache["at"], _cache["synced"] = now, fresh
    if fresh != (True if synced is None else synced):  # a change (the first: if unsynced)
        if fresh:
            logger.warning("the system clock is synchronised now (%s)", why)
        else:
            logger.warning(
                "the system clock is not synchronised (%s; it reads %s): events and stats "
                "say clock_synced false until it is; check NTP (timedatectl)",
                why,
                iso(time.time()),
            )
    return fresh


def expire() -> None:
    """Read the clock's state afresh at the next ``clock_synced()`` (a change is logged)."""
    with _lock:
        _cache["at"] = None


def forget() -> None:
    """As if the clock had never been asked about (tests)."""
    with _lock:
        _cache["at"] = _cache["synced"] = None


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
