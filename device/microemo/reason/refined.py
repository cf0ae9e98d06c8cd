"""The refined reading: the one definition of the ``microemo.refined/1`` payload.

Built from the device's episode, why it was hard, the validated answer and what the request
cost; checked against ``publish/schema/refined.v1.json`` before it leaves. It sits beside the
device's events (``{prefix}/{device}/refined``) and never replaces or alters them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from microemo.publish.events import utc_now
from microemo.reason.answer import Answer
from microemo.reason.episode import Episode
from microemo.reason.llm import Reply

SCHEMA_ID = "microemo.refined/1"


@lru_cache(maxsize=1)
def refined_schema() -> dict[str, Any]:
    text = resources.files("microemo.publish").joinpath("schema/refined.v1.json").read_text()
    return dict(json.loads(text))


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(refined_schema())
    cls.check_schema(refined_schema())
    return cls(refined_schema())


def validate_refined(payload: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``payload`` breaks the schema."""
    _validator().validate(payload)


def refined_payload(
    episode: Episode, why: list[str], answer: Answer, reply: Reply, cached: bool
) -> dict[str, Any]:
    """The payload for ``episode``; a cached answer costs nothing and took no time."""
    payload = {
        "schema": SCHEMA_ID,
        "episode_id": episode.id,
        "device_id": episode.device_id,
        "face_id": episode.face_id,
        "time": utc_now(),
        "device_label": episode.core_emotion,
        "device_micro": episode.micro_emotion,
        "device_scores": dict(episode.scores),
        "hard_because": list(why),
        "label": answer.label,
        "agrees": answer.label == episode.core_emotion,
        "confidence": round(float(answer.confidence), 3),
        "rationale": answer.rationale,
        "model": reply.model,
        "latency_ms": 0.0 if cached else reply.latency_ms,
        "tokens": {
            "prompt": 0 if cached else reply.prompt_tokens,
            "completion": 0 if cached else reply.completion_tokens,
            "estimated": reply.estimated,
        },
        "cached": cached,
    }
    validate_refined(payload)
    return payload
