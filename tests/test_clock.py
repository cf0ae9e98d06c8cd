"""Whether the clock can be trusted: systemd-timesyncd's flag where timesyncd runs, else the
release date (a clock more than a year before it was never set); each change logged once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from tests.timesync import TimeSync, timesync  # noqa: F401  (the fixture)

from microemo import clock


def test_the_timesync_flag_decides_where_timesyncd_runs(
    timesync: TimeSync,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="microemo")
    timesync.set(False)
    assert [clock.clock_synced() for _ in range(3)] == [False] * 3
    timesync.flag.touch()  # NTP has set the clock
    assert clock.clock_synced() and clock.clock_synced()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said  # one line per change, not per question
    assert "not synchronised (systemd-timesyncd has not synchronised it yet" in said[0]
    assert "timedatectl" in said[0] and "synchronised now" in said[1]


def test_without_timesyncd_a_clock_before_the_release_year_is_unsynced(
    timesync: TimeSync,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timesync.flag.unlink()
    timesync.flag.parent.rmdir()  # timesyncd does not run here
    clock.forget()
    assert clock.clock_synced()  # this machine's clock is not years before the release
    now = datetime.now(timezone.utc)
    monkeypatch.setattr(clock, "BUILT", now + timedelta(days=2 * 365))  # 2 years back, as it were
    clock.forget()
    assert not clock.clock_synced()
    monkeypatch.setattr(clock, "BUILT", now + timedelta(days=300))  # within the year: trusted
    clock.forget()
    assert clock.clock_synced()
