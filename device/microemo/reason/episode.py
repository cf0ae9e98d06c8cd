"""What the second opinion reads of a device's event: an allow-list of fields and values.

Only the fields a case is written from are read, and each is held to the values microemo
itself produces: AU names ``AUnn`` with 0-5 intensities, scores keyed by the core emotions,
micro-emotions, states and rules from the device's own table. Everything else in a payload
(identifiers, wall times, anything a newer or foreign publisher added: landmarks, a crop) is
never read, so it cannot reach the model; a value outside the allow-list refuses the whole
event, so no free text a publisher chose is ever put in a prompt.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from microemo.emotion.rules import CORE_EMOTIONS, load_tables

EVENT_SCHEMA = "microemo.event/1"
_AU = r"^AU[0-9]{2}$"
_RULE = r"^(AU[0-9]{1,2})([+-]AU[0-9]{1,2})*$"


class NotACase(ValueError):
    """A payload that cannot be read as a device event; the message says why, in one line."""


@lru_cache(maxsize=1)
def micro_names() -> tuple[frozenset[str], frozenset[str]]:
    """The micro-emotions and core states of the device's FACS table."""
    micro = load_tables().micro
    return frozenset(r.name for r in micro), frozenset(r.state for r in micro)


class AuReading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    au: str = Field(pattern=_AU)
    apex_intensity: float = Field(ge=0, le=5)


class Episode(BaseModel):
    """An episode's ``end`` event, as far as the second opinion may know it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # identify the episode on the hub; never written into a case
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{8,128}$")
    device_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    face_id: int = Field(ge=0)
    onset_ms: float
    # the case
    apex_ms: float | None = None
    offset_ms: float | None = None
    duration_ms: float | None = Field(None, ge=0)
    kind: Literal["micro", "macro"] | None = None
    core_emotion: str
    core_source: Literal[
        "cnn", "rules", "cnn+rules", "appearance+rules", "cnn+appearance+rules"
    ] = "rules"
    cnn_emotion: str | None = None
    rules_emotion: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    micro_emotion: str | None = None
    micro_state: str | None = None
    micro_rule: str | None = Field(None, pattern=_RULE)
    aus: tuple[AuReading, ...] = ()
    ended_by: Literal["restart"] | None = None
    regions: tuple[Literal["brows", "eyes", "nose", "mouth", "face"], ...] = ()
    # the id of the held episode it rose on top of: only whether there is one is told
    within: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{8,128}$")

    @field_validator("core_emotion", "cnn_emotion", "rules_emotion")
    @classmethod
    def _core(cls, v: str | None) -> str | None:
        if v is not None and v not in CORE_EMOTIONS:
            raise ValueError(f"{v!r} is not a core emotion")
        return v

    @field_validator("scores")
    @classmethod
    def _scores(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k in v if k not in CORE_EMOTIONS]
        if bad:
            raise ValueError(f"scores for {bad[0]!r}, not a core emotion")
        return v

    @field_validator("micro_emotion")
    @classmethod
    def _micro(cls, v: str | None) -> str | None:
        if v is not None and v not in micro_names()[0]:
            raise ValueError(f"{v!r} is not a micro-emotion of the FACS table")
        return v

    @field_validator("micro_state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        if v is not None and v not in micro_names()[1]:
            raise ValueError(f"{v!r} is not a core state of the FACS table")
        return v

    @property
    def label(self) -> str:
        return self.core_emotion

    def top_two(self) -> tuple[float, float]:
        first, second, *_ = [*sorted(self.scores.values(), reverse=True), 0.0, 0.0]
        return first, second


def read_end_event(payload: bytes | str | dict[str, Any]) -> Episode | None:
    """The episode of an ``end`` event, None for a start or update (nothing to refine yet);
    ``NotACase`` when the payload is not a microemo event or holds a value off the list."""
    try:
        data = payload if isinstance(payload, dict) else json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotACase(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != EVENT_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise NotACase(f"not a {EVENT_SCHEMA} event (schema {got!r})")
    if data.get("phase") != "end":
        return None
    try:
        return Episode.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise NotACase(f"{where}: {err['msg']}") from None
