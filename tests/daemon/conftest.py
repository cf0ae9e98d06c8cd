"""Fixtures of the daemon tests (helpers live in ``daemon_kit``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_kit import CLIP


@pytest.fixture
def clip() -> Path:
    if not CLIP.exists():
        pytest.skip(f"{CLIP} missing")
    return CLIP
