"""Episode events: the one definition of the payload every consumer sees.

``EventBuilder`` turns an episode lifecycle step (``types.EpisodeStep``) into a dict that
validates against ``schema/event.v1.json``. Sequence numbers come from a ``SequenceCounter``
so that the daemon can persist them (they must survive restarts) while ``analyze`` counts
per file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from microemo.types import EpisodeStep

logger = logging.getLogger(__name__)

SCHEMA_ID = "microemo.event/1"
MICRO_MAX_MS = 500.0


class SequenceCounter(Protocol):
    def next(self) -> int: ...


class MemorySequence:
    """Counts from 1 in memory: for files written by ``analyze``."""

    def __init__(self, start: int = 0) -> None:
        self._n = start
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n


class FileSequence:
    """A sequence persisted to a small file so numbers continue after a restart.

    The counter is reserved in blocks (``block`` numbers per write) so that the disk is
    touched once per block, not per event; after a crash the numbers of the unused part of
    the block are skipped, which consumers see as a harmless gap, never as a repeat.
    """

    def __init__(self, path: Path, block: int = 64) -> None:
        self._path = path
        self._block = block
        self._lock = threading.Lock()
        self._next = self._read() + 1
        self._reserved = self._next - 1

    def _read(self) -> int:
        try:
            return int(self._path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            logger.warning("sequence file %s is corrupt; continuing from the clock", self._path)
            return int(time.time() * 1000)

    def _reserve(self, upto: int) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(str(upto))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
        self._reserved = upto

    def next(self) -> int:
        with self._lock:
            n = self._next
            if n > self._reserved:
                self._reserve(n + self._block - 1)
            self._next += 1
            return n


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventBuilder:
    """The one place an episode step becomes the event payload: it stamps the sequence
    number, device id, wall time and kind (micro under ``MICRO_MAX_MS``, macro otherwise;
    null while an open episode is still shorter) and rounds times and scores. The daemon's
    frame loop and ``analyze`` both build their events here."""

    def __init__(self, device_id: str, sequence: SequenceCounter) -> None:
        self.device_id = device_id
        self.sequence = sequence

    def build(self, step: EpisodeStep) -> dict[str, Any]:
        offset = step.offset_ms if step.phase == "end" else None
        duration = (offset if offset is not None else step.t_ms) - step.onset_ms
        kind: str | None = None
        if step.phase == "end" or duration >= MICRO_MAX_MS:
            kind = "micro" if duration < MICRO_MAX_MS else "macro"
        c = step.classification
        return {
            "schema": SCHEMA_ID,
            "id": step.episode_id,
            "phase": step.phase,
            "seq": self.sequence.next(),
            "device_id": self.device_id,
            "face_id": int(step.face_id),
            "time": utc_now(),
            "t_ms": round(float(step.t_ms), 1),
            "onset_ms": round(float(step.onset_ms), 1),
            "apex_ms": None if step.apex_ms is None else round(float(step.apex_ms), 1),
            "offset_ms": None if offset is None else round(float(offset), 1),
            "duration_ms": round(max(0.0, float(duration)), 1),
            "kind": kind,
            "core_emotion": c.core,
            "core_source": c.core_source,
            "micro_emotion": c.micro,
            "micro_state": c.micro_state,
            "micro_rule": c.micro_rule,
            "scores": {k: round(float(v), 3) for k, v in c.scores.items()},
            "aus": [
                {"au": name, "apex_intensity": round(float(v), 2)}
                for name, v in step.apex_aus.items()
            ],
            "model": dict(step.model),
        }


@lru_cache(maxsize=1)
def event_schema() -> dict[str, Any]:
    text = resources.files("microemo.publish").joinpath("schema/event.v1.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(event_schema())
    cls.check_schema(event_schema())
    return cls(event_schema())


def validate_event(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``event`` breaks the schema."""
    _validator().validate(event)
