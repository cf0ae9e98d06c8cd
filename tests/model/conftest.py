"""Fixtures for the update tests; bundles are built by ``update_kit``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from update_kit import Kit


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return Kit(tmp_path_factory.mktemp("update-kit"))


@pytest.fixture
def store_with_v1(kit: Kit, tmp_path: Path) -> Callable[..., object]:
    """A device store with v1 installed and current."""
    from microemo.model.store import ModelStore

    def make(**model: object) -> ModelStore:
        store = ModelStore(kit.config(tmp_path / "state", **model), default_bundle=kit.default)
        store.install(kit.v1)
        return store

    return make
