"""Fixtures: the scripted OpenAI-compatible server, a real Mosquitto for the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_server import ScriptedLlm
from tests.publish.mqtt.mqtt_kit import Broker


@pytest.fixture
def llm() -> Iterator[ScriptedLlm]:
    server = ScriptedLlm()
    yield server
    server.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("mosquitto-reason"))
    yield b
    b.stop()
