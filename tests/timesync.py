"""systemd-timesyncd's flag folder in a temporary place, for the tests about an unset clock:
the system clock itself cannot be moved on a shared machine, so the tests move what
``microemo.clock`` reads instead (the thinnest boundary: the folder, or the release date).
Use the ``timesync`` fixture (import it into the test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from microemo import clock


class TimeSync:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setattr(clock, "TIMESYNC", folder)
        monkeypatch.setattr(clock, "REFRESH_S", 0.0)  # every question reads the flag afresh
        self.flag = folder / "synchronized"

    def set(self, synced: bool) -> None:
        """timesyncd has (or has not yet) set the clock."""
        if synced:
            self.flag.touch()
        else:
            self.flag.unlink(missing_ok=True)
        clock.expire()


@pytest.fixture
def timesync(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TimeSync]:
    """A timesyncd that has set the clock; ``.set(False)`` unsets it."""
    sync = TimeSync(monkeypatch, tmp_path / "timesync")
    sync.set(True)
    clock.forget()
    yield sync
    clock.forget()  # the next test reads the real state
