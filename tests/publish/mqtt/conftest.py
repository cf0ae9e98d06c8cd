"""Fixtures: a real Mosquitto per session, one per fault test, one with a password file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mqtt_kit import Broker, passwd


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker this test may stop and start."""
    b = Broker(tmp_path / "mosquitto")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    work = tmp_path_factory.mktemp("mosquitto-auth")
    pw = work / "passwd"
    passwd(pw, "cabin", "s3cret", create=True)
    b = Broker(work, password_file=pw)
    yield b
    b.stop()
