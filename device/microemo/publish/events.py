"""Episode and cabin events: the one definition of the payloads every consumer sees.

``EventBuilder`` turns an episode lifecycle step (``types.EpisodeStep``) into a dict that
validates against ``schema/event.v1.json``, and a cabin step (``types.CabinStep``: blink,
microsleep, yawn, distraction) into one that validates against ``schema/cabin.v1.json``.
Both draw from one ``SequenceCounter`` (``publish.sequence``) so that the daemon can persist
them (they must survive restarts) while ``analyze`` counts per file.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from microemo.clock import clock_synced
from microemo.types import CabinStep, Step

logger = logging.getLogger(__name__)

SCHEMA_ID = "microemo.event/1"
CABIN_SCHEMA_ID = "microemo.cabin/1"
_SCHEMA_FILES = {SCHEMA_ID: "event.v1.json", CABIN_SCHEMA_ID: "cabin.v1.json"}
# what a cabin event carries of the face at the time (``cabin.face.FaceCabin.readings``)
CABIN_READINGS = ("drowsiness", "attention", "perclos", "off_road_share")
CABIN_ANGLES = ("head_yaw", "head_pitch", "gaze_yaw", "gaze_pitch")
MICRO_MAX_MS = 500.0


class SequenceCounter(Protocol):
    """Where ``seq`` comes from: ``publish.sequence.SequenceAllocator``."""

    def next(self) -> int: ...


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventBuilder:
    """The one place an episode step becomes the event payload: it stamps the sequence
    number, device id, wall time and kind (micro under ``MICRO_MAX_MS``, macro otherwise;
    null while an open episode is still shorter) and rounds times and scores; while the
    system clock is not synchronised (``microemo.clock``) it adds ``clock_synced: false``.
    The daemon's frame loop and ``analyze`` both build their events here."""

    def __init__(self, device_id: str, sequence: SequenceCounter) -> None:
        self.device_id = device_id
        self.sequence = sequence

    def build(self, step: Step) -> dict[str, Any]:
        if isinstance(step, CabinStep):
            return self._cabin(step)
        offset = step.offset_ms if step.phase == "end" else None
        duration = (offset if offset is not None else step.t_ms) - step.onset_ms
        kind: str | None = None
        if step.phase == "end" or duration >= MICRO_MAX_MS:
            kind = "micro" if duration < MICRO_MAX_MS else "macro"
        c = step.classification
        event = {
            **self._head(SCHEMA_ID, step),
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
            # only where the appearance model took part in core_source: which one
            **({"appearance": dict(step.appearance)} if step.appearance else {}),
            **({"regions": list(step.regions)} if step.regions else {}),
            # only on an episode that rose on top of a held one of the same face
            **({"within": step.within} if step.within else {}),
            # only where the CNN took part: what it and the FACS rules each said
            **(
                {"cnn_emotion": c.cnn_core, "rules_emotion": c.rules_core}
                if c.cnn_core is not None
                else {}
            ),
        }
        return stamp_clock(event)

    def _head(self, schema: str, step: Step) -> dict[str, Any]:
        """What every event starts with: which schema, which episode and step, its number in
        the device's one sequence, which device and face, and when."""
        return {
            "schema": schema,
            "id": step.episode_id,
            "phase": step.phase,
            "seq": self.sequence.next(),
            "device_id": self.device_id,
            "face_id": int(step.face_id),
            "time": utc_now(),
            "t_ms": round(float(step.t_ms), 1),
        }

    def _cabin(self, step: CabinStep) -> dict[str, Any]:
        """A cabin step's payload: a blink has only its ``end``; ``duration_ms`` is the time
        so far on a ``start`` (the threshold it crossed), the whole episode on an ``end``."""
        offset = step.offset_ms if step.phase == "end" else None
        duration = (offset if offset is not None else step.t_ms) - step.onset_ms
        r = step.readings
        event: dict[str, Any] = {
            **self._head(CABIN_SCHEMA_ID, step),
            "kind": step.kind,
            "onset_ms": round(float(step.onset_ms), 1),
            "offset_ms": None if offset is None else round(float(offset), 1),
            "duration_ms": round(max(0.0, float(duration)), 1),
            "cause": step.cause,
            **{k: r.get(k) for k in CABIN_READINGS},
            **{k: None if r.get(k) is None else round(float(r[k]), 1) for k in CABIN_ANGLES},
        }
        if step.ended_by:
            event["ended_by"] = step.ended_by
        return stamp_clock(event)


def ended_by_restart(last: dict[str, Any], seq: int) -> dict[str, Any]:
    """The ``end`` of an episode whose run died before its offset (``kill -9``, power loss, a
    watchdog restart), made at the next start from the last event that run committed.
    ``offset_ms`` is the last time the dead run saw the episode (on its source clock), so
    ``duration_ms`` is a lower bound; ``ended_by: "restart"`` says so. Everything else (id,
    face, onset, apex, classification, AUs, model) is the episode's own; a cabin episode
    (microsleep, yawn, distraction) keeps its kind and readings in the same way."""
    offset = float(last.get("t_ms") or last.get("onset_ms") or 0.0)
    duration = max(0.0, offset - float(last.get("onset_ms") or 0.0))
    if last.get("schema") == CABIN_SCHEMA_ID:
        return stamp_clock({
            **last,
            "phase": "end",
            "seq": seq,
            "time": utc_now(),
            "offset_ms": round(offset, 1),
            "duration_ms": round(duration, 1),
            "ended_by": "restart",
        })  # fmt: skip
    return stamp_clock({
        **last,
        "phase": "end",
        "seq": seq,
        "time": utc_now(),
        "t_ms": round(offset, 1),
        "offset_ms": round(offset, 1),
        "duration_ms": round(duration, 1),
        "kind": "micro" if duration < MICRO_MAX_MS else "macro",
        "ended_by": "restart",
    })  # fmt: skip


def stamp_clock(event: dict[str, Any]) -> dict[str, Any]:
    """``clock_synced: false`` on an event made while the wall clock is not to be trusted
    (its ``time`` may be years off); absent otherwise, as consumers of older versions of
    the schema expect."""
    event.pop("clock_synced", None)
    if not clock_synced():
        event["clock_synced"] = False
    return event


@lru_cache(maxsize=2)
def event_schema(schema_id: str = SCHEMA_ID) -> dict[str, Any]:
    """The JSON Schema of ``schema_id`` (an event's ``schema`` field): episodes by default."""
    name = _SCHEMA_FILES[schema_id]
    return json.loads(resources.files("microemo.publish").joinpath(f"schema/{name}").read_text())


@lru_cache(maxsize=2)
def _validator(schema_id: str) -> Any:
    import jsonschema

    schema = event_schema(schema_id)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_event(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``event`` breaks its schema (an episode's,
    or a cabin event's when its ``schema`` says so)."""
    schema_id = event.get("schema")
    _validator(schema_id if schema_id in _SCHEMA_FILES else SCHEMA_ID).validate(event)
