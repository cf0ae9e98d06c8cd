"""Helpers for the second-opinion tests: device events made by the device's own
``EventBuilder``, a config pointing at the test's endpoint, and the privacy check every
request body goes through."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from microemo.publish.events import EventBuilder
from microemo.reason.config import ReasonConfig, load_reason_config
from microemo.types import Classification, EpisodeStep

_seq = itertools.count(1)


class Seq:
    def next(self) -> int:
        return next(_seq)


def end_event(
    n: int,
    device: str = "cabin-1",
    face: int = 0,
    core: str = "happiness",
    scores: dict[str, float] | None = None,
    duration_ms: float = 1200.0,
    aus: dict[str, float] | None = None,
    cnn: str | None = None,
    rules: str | None = None,
    micro: tuple[str, str, str] | None = None,
    onset_ms: float | None = None,
    regions: tuple[str, ...] = (),
    within: str | None = None,
) -> dict[str, Any]:
    """The ``end`` event of episode ``n`` as the device builds it."""
    c = Classification(
        core=core,
        core_source="cnn+rules" if cnn else "rules",
        core_score=0.0,
        scores=scores or {core: 0.9, "neutral": 0.1},
        micro=micro[0] if micro else None,
        micro_state=micro[1] if micro else None,
        micro_rule=micro[2] if micro else None,
        cnn_core=cnn,
        rules_core=rules,
    )
    onset = 10_000.0 * n if onset_ms is None else onset_ms
    step = EpisodeStep(
        "end",
        f"{device}-ab12cd-f{face}-{n}",
        face,
        onset + duration_ms,
        onset,
        onset + duration_ms / 3,
        onset + duration_ms,
        c,
        aus or {"AU12": 3.1, "AU06": 2.2},
        {"name": "m", "version": "1"},
        regions=regions,
        within=within,
    )
    return EventBuilder(device, Seq()).build(step)


def easy(n: int, **kw: Any) -> dict[str, Any]:
    return end_event(n, **kw)


def close_scores(n: int, **kw: Any) -> dict[str, Any]:
    return end_event(
        n,
        core="surprise",
        scores={"surprise": 0.46, "fear": 0.41, "neutral": 0.1},
        aus={"AU01": 2.4, "AU02": 2.0, "AU05": 1.1, "AU26": 1.8},
        **kw,
    )


def disagreeing(n: int, **kw: Any) -> dict[str, Any]:
    return end_event(
        n,
        core="happiness",
        scores={"happiness": 0.7, "surprise": 0.2},
        cnn="happiness",
        rules="surprise",
        **kw,
    )


def micro(n: int, **kw: Any) -> dict[str, Any]:
    return end_event(
        n,
        core="sadness",
        scores={"sadness": 0.8, "neutral": 0.2},
        duration_ms=300,
        aus={"AU01": 1.4, "AU15": 1.2},
        micro=("hurt", "Sad", "AU1+AU15"),
        **kw,
    )


LANDMARKS = [[0.4123 + i / 1000, 0.5521 - i / 2000, -0.0312] for i in range(478)]
CROP = "data:image/jpeg;base64," + "/9j/4AAQSkZJRgABAQAAAQABAAD" * 40
EMBEDDING = [round(0.01 * i - 0.5, 4) for i in range(128)]


def with_private_data(event: dict[str, Any]) -> dict[str, Any]:
    """What a careless or hostile publisher might add: landmarks, a crop, an embedding, a
    name. None of it may ever reach the model."""
    return {
        **event,
        "landmarks": LANDMARKS,
        "crop": CROP,
        "face_embedding": EMBEDDING,
        "person": "Alice Example",
    }


def config(base_url: str, state_dir: Path, **overrides: Any) -> ReasonConfig:
    values: dict[str, Any] = {
        "llm.base_url": base_url,
        "llm.model": "test-model",
        "llm.timeout_s": 2.0,
        "llm.max_retries": 1,
        "service.state_dir": str(state_dir),
        **{k.replace("__", "."): v for k, v in overrides.items()},
    }
    return load_reason_config(None, values)


# a base64 run, a run of numbers (a landmark or embedding array), the words that would name it
_BASE64 = re.compile(r"[A-Za-z0-9+/=]{48,}")
_NUMBERS = re.compile(r"(-?\d+(\.\d+)?\s*,\s*){8,}")
_WORDS = ("landmark", "image", "crop", "embedding", "jpeg", "base64", "Alice", "person", "face_id")
BODY_KEYS = {"model", "messages", "temperature", "max_tokens", "response_format"}


def assert_text_only(raw: bytes, identifiers: list[str]) -> None:
    """One request body that left: plain text messages, nothing identifying, no image or
    landmark data in any form."""
    body = json.loads(raw)
    assert set(body) <= BODY_KEYS, set(body) - BODY_KEYS
    for message in body["messages"]:
        assert set(message) == {"role", "content"} and isinstance(message["content"], str)
    text = raw.decode()
    for word in (*_WORDS, *identifiers):
        assert word.lower() not in text.lower(), f"{word!r} left in a request"
    assert not _BASE64.search(text), _BASE64.search(text)
    assert not _NUMBERS.search(text), _NUMBERS.search(text)
