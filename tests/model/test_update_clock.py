"""Model updates and a device clock that is wrong, through a real Mosquitto to the daemon's
own update wiring. The update channel's wall clock is moved (the system clock cannot be, on
a shared machine), and so is systemd-timesyncd's flag folder (``tests.timesync``).

A command already live is not judged again when the broker delivers it again at a
reconnect, however far the clock has moved, and the retained status keeps saying ``live``;
a command refused because of an unsynchronised clock says the device's clock is the cause
(and may pass: ``failed`` with ``retry``), and runs once the clock is set."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.publish.mqtt.mqtt_kit import wait_for
from tests.timesync import TimeSync, timesync  # noqa: F401  (the fixture)
from update_field import Field, StaticServer
from update_kit import Kit

from microemo_train.signing import update_message

pytestmark = pytest.mark.broker

YEARS_3 = 3 * 365 * 86400.0


@pytest.fixture
def www(tmp_path: Path) -> Iterator[StaticServer]:
    server = StaticServer(tmp_path / "www")
    yield server
    server.close()


def test_a_live_command_is_not_judged_again_at_a_reconnect(
    kit: Kit,
    tmp_path: Path,
    www: StaticServer,
    timesync: TimeSync,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="microemo")
    field = Field(kit, tmp_path)
    try:
        msg = update_message(kit.v2, www.root / "v2.tar.gz", kit.key, url=f"{www.base}/v2.tar.gz")
        assert field.command(msg, retain=True)["step"] == "live"
        last = field.updates.last_status  # what the device last published on model/status
        field.updates.clock = lambda: time.time() + YEARS_3  # the clock jumps years ahead
        field.broker.stop()
        field.broker.start()  # the device reconnects; the broker delivers the command again
        assert field.sink.wait_connected(30)
        assert wait_for(lambda: any("handled already" in r.getMessage() for r in caplog.records))
        assert field.updates.last_status is last  # no new status for a command handled
        assert not [s for s in field.statuses() if s["step"] in ("refused", "failed")]
        assert b'"step":"live"' in field.retained_status()
        field.assert_running("2.0.0")
    finally:
        field.close()


@pytest.mark.parametrize("skew", [YEARS_3, -6 * 365 * 86400.0], ids=["years-ahead", "at-2020"])
def test_a_refusal_from_an_unset_clock_says_so_and_passes_once_it_is_set(
    kit: Kit,
    tmp_path: Path,
    www: StaticServer,
    timesync: TimeSync,  # noqa: F811
    skew: float,
) -> None:
    field = Field(kit, tmp_path)
    try:
        timesync.set(False)  # NTP has not set the clock yet
        field.updates.clock = lambda: time.time() + skew
        msg = update_message(kit.v2, www.root / "v2.tar.gz", kit.key, url=f"{www.base}/v2.tar.gz")
        status = field.command(msg)
        assert status["step"] == "failed" and status["retry"] is True, status
        reason = status["reason"]
        assert "this device's clock is not synchronised" in reason, reason
        assert "the refusal comes from the device's clock" in reason
        assert "sign a new one" not in reason  # the advice that was wrong
        field.assert_running("1.0.0")
        timesync.set(True)  # NTP has set it: the same command, sent again, runs
        field.updates.clock = time.time
        assert field.command(msg)["step"] == "live"
        field.assert_running("2.0.0")
    finally:
        field.close()
